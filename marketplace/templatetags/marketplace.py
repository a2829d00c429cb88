from django import template

register = template.Library()


@register.filter
def stars(rating) -> str:
    """A 0–5 rating as five characters of filled and empty stars (rounded to the nearest)."""
    try:
        filled = max(0, min(5, round(float(rating or 0))))
    except (TypeError, ValueError):
        filled = 0
    return "★" * filled + "☆" * (5 - filled)


@register.filter
def credits(amount) -> str:
    """Money as shown everywhere: two places, thousands separated."""
    if amount is None:
        return "—"
    return f"{amount:,.2f}"
