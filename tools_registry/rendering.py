"""Server-side code highlighting (pygments) and version diffs (difflib) for the tool pages."""

import difflib

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

_FORMATTER = HtmlFormatter(cssclass="highlight", linenos="table", wrapcode=True)


def highlight_python(code: str) -> SafeString:
    # Pygments escapes every token itself, so its HTML is safe to embed as is.
    return mark_safe(highlight(code, PythonLexer(), _FORMATTER))


def diff_lines(old: str, new: str, *, old_label: str, new_label: str) -> list[tuple[str, str]]:
    """(kind, text) pairs of a unified diff; kind is add, del, hunk, file or same.

    Text stays plain: the template escapes it."""
    lines = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_label, new_label, lineterm=""
    ):
        if line.startswith(("---", "+++")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        lines.append((kind, line))
    return lines
