"""Checks on user-supplied text shared by pages and the API."""

import re

# Control characters (C0, DEL, C1), line and paragraph separators, and the invisible
# bidirectional controls (embeddings, overrides such as U+202E, isolates, marks): in a name
# they hide or reorder what the reader sees ("Trojan Source"), so names may not hold them.
_UNSAFE_IN_NAME = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
UNSAFE_NAME_MESSAGE = (
    "Names may not contain control characters or invisible direction controls (such as U+202E)."
)


def has_unsafe_name_chars(value: str) -> bool:
    return bool(_UNSAFE_IN_NAME.search(value))
