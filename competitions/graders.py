"""The graders: pure functions of (output, expected) (docs/API.md "Competitions")."""

import math
import re

NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def exact(output: str, expected: str) -> bool:
    return output.strip() == expected.strip()


def contains(output: str, expected: str) -> bool:
    return expected.casefold() in output.casefold()


def _first_number(text: str) -> float | None:
    found = NUMBER.search(text.replace(",", ""))
    if found is None:
        return None
    try:
        value = float(found.group())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def number(output: str, expected: str) -> bool:
    got, want = _first_number(output), _first_number(expected)
    if got is None or want is None:
        return False
    return math.isclose(got, want, rel_tol=1e-6, abs_tol=0.0) or got == want


GRADERS = {"exact": exact, "contains": contains, "number": number}


def grade(grader: str, output: str | None, expected: str) -> bool:
    return output is not None and GRADERS[grader](output, expected)
