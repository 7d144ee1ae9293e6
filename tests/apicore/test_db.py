import pytest

from apicore.db import sqlite_like


@pytest.mark.parametrize(
    ("value", "pattern", "escape", "matches"),
    [
        ("şükrü", "ŞÜKRÜ", None, True),
        ("Çağla@example.com", "çağ%", "\\", True),
        ("abc", "a_c", None, True),
        ("abc", "a\\_c", "\\", False),
        ("a_c", "a\\_c", "\\", True),
        ("100%", "100\\%", "\\", True),
        ("1000", "100\\%", "\\", False),
        ("line\nbreak", "line%", None, True),
        ("abc", "ab", None, False),
    ],
)
def test_sqlite_like_folds_every_letter_and_honours_escapes(value, pattern, escape, matches):
    assert sqlite_like(pattern, value, escape) is matches


def test_sqlite_like_with_null_is_null():
    assert sqlite_like(None, "x") is None
    assert sqlite_like("x", None) is None
