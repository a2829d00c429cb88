import pytest

from competitions.graders import grade


@pytest.mark.parametrize(
    ("grader", "output", "expected", "passed"),
    [
        ("exact", "  42\n", "42", True),
        ("exact", "42.", "42", False),
        ("contains", "Well, HELLO there", "hello", True),
        ("contains", "goodbye", "hello", False),
        ("number", "The answer is 42.0000001", "42", True),
        ("number", "The answer is 43", "42", False),
        ("number", "1,000 apples and 3 pears", "1000", True),
        ("number", "-2.5e3 metres", "-2500", True),
        ("number", "no number", "1", False),
        ("number", "0", "0", True),
        ("exact", None, "x", False),
    ],
)
def test_graders(grader, output, expected, passed):
    assert grade(grader, output, expected) is passed
