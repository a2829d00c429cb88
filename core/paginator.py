"""Pages' pagination over lists that grow with the site (issue 13).

A page of 25 rows costs the same at any size, but its "page 3 of 400" needs the total, and
counting 10,000 rows is the most expensive query on the page. `CachedCountPaginator` keeps a
large total for a short while (keyed by the caller on what the list depends on: its filters
and, where access matters, the user); a small one is counted on every request, so short
lists, and every test, are always exact. A stale total only moves "of N" a little: a page
past the real end is recounted at once instead of showing an empty list.
"""

from functools import cached_property

from django.core.cache import cache
from django.core.paginator import Page, Paginator

EXACT_BELOW = 1000  # totals under this are counted on every request
COUNT_SECONDS = 30  # how long a large total may be reused


class CachedCountPaginator(Paginator):
    def __init__(self, object_list, per_page, *, count_key: str, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.count_key = _cache_key(count_key)

    @staticmethod
    def kept_count(count_key: str) -> int | None:
        """The total kept under `count_key`, if one is (a large list's, for a while)."""
        return cache.get(_cache_key(count_key))

    @cached_property
    def count(self) -> int:
        cached = cache.get(self.count_key)
        if cached is not None:
            return cached
        total = super().count  # Django's own count
        if total >= EXACT_BELOW:
            cache.set(self.count_key, total, COUNT_SECONDS)
        return total

    def page(self, number) -> Page:
        page = super().page(number)
        if not page.object_list and page.number > 1:
            # The list shrank since its total was kept: count again, then ask anew.
            cache.delete(self.count_key)
            for stale in ("count", "num_pages"):
                self.__dict__.pop(stale, None)
            page = super().page(self.validate_number(min(page.number, self.num_pages)))
        return page


def _cache_key(count_key: str) -> str:
    return f"page-count:{count_key}"
