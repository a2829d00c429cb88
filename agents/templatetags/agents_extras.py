from django import template

from tools_registry.rendering import highlight_python

register = template.Library()


@register.filter
def python(code: str):
    """Python source highlighted by pygments (which escapes every token)."""
    return highlight_python(code or "")
