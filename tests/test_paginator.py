"""core.paginator.CachedCountPaginator: small totals counted on every request, large ones
kept a short while, and a page past a shrunk list recounted instead of shown empty."""

import pytest
from django.core.cache import cache

from core import paginator as module
from core.paginator import CachedCountPaginator


class Counted(list):
    """A list whose count() is counted, like a QuerySet's COUNT query."""

    counts = 0

    def count(self) -> int:  # type: ignore[override]
        Counted.counts += 1
        return len(self)


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    cache.clear()
    Counted.counts = 0
    monkeypatch.setattr(module, "EXACT_BELOW", 10)
    yield
    cache.clear()


def test_small_totals_are_counted_every_time():
    for _ in range(2):
        page = CachedCountPaginator(Counted(range(5)), 2, count_key="small").get_page(1)
        assert page.paginator.count == 5
    assert Counted.counts == 2


def test_large_totals_are_kept_for_the_next_request():
    first = CachedCountPaginator(Counted(range(30)), 10, count_key="large").get_page(1)
    again = CachedCountPaginator(Counted(range(31)), 10, count_key="large").get_page(1)

    assert first.paginator.count == again.paginator.count == 30
    assert Counted.counts == 1


def test_a_page_past_a_shrunk_list_is_recounted():
    CachedCountPaginator(Counted(range(30)), 10, count_key="shrinks").get_page(1)

    page = CachedCountPaginator(Counted(range(12)), 10, count_key="shrinks").get_page(3)

    assert page.number == 2 and list(page.object_list) == [10, 11]
    assert page.paginator.count == 12 and page.paginator.num_pages == 2
