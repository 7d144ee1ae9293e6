"""Querysets compiled once: Django compiles a queryset's SQL on every evaluation, and for the queries every request
sends (the token's lookup, a record's, a page's order totals) that was more CPU than the database spent on them."""

from collections.abc import Callable, Sequence
from functools import partial

from django.db.models import QuerySet
from django.db.models.sql import Query

__all__ = ["Precompiled"]

# Shapes kept per query: one per database and number of values (a page's length), so a handful in practice.
MAX_SHAPES = 64
# What the compiler works out with the SQL and the iterables read back: the columns and how rows become records.
COMPILER_STATE = ("select", "klass_info", "annotation_col_map", "col_count", "has_extra_select")


def _stand_in(value, position: int):
    """A parameter no stored value equals, of the value's type, to find the value's place in the compiled SQL."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"only integers and strings can be stood in for, not {type(value).__name__}")
    return -1_000_000 - position if isinstance(value, int) else f"\x00stand-in {position}"


class Precompiled:
    """`build(values)` evaluated as Django would, from SQL compiled once per database and number of values.

    `build` must make one SQL text for any values of one length: only the values vary, and they must be what the ORM
    would send for them (an int for an id, not the text of one). It is compiled once with a stand-in in each value's
    place (a negative integer, or a string holding a NUL), and each evaluation puts its own values there; the rows
    then go through Django's own iterables (model instances with their selected related records, or `.values()`
    dictionaries) and converters. The answer is a list: the queryset itself must not be chained further.
    """

    def __init__(self, build: Callable[[Sequence], QuerySet]):
        self.build = build
        self.shapes: dict[tuple[str, int], tuple] = {}

    def __call__(self, values: Sequence, using: str) -> list:
        shape = self.shapes.get((using, len(values)))
        if shape is None:
            shape = self._compile(values, using)
            if len(self.shapes) < MAX_SHAPES:
                self.shapes[using, len(values)] = shape
        template, sql, params, slots, state = shape
        params = list(params)
        for slot, value in zip(slots, values, strict=True):
            params[slot] = value
        queryset = template._chain()
        queryset.query.get_compiler = partial(_compiler, queryset.query, sql, tuple(params), state)
        return list(queryset)

    def _compile(self, values: Sequence, using: str) -> tuple:
        stand_ins = [_stand_in(value, position) for position, value in enumerate(values)]
        template = self.build(stand_ins).using(using)
        compiler = template.query.get_compiler(using)
        sql, params = compiler.as_sql()
        slots = [
            position
            for stand_in in stand_ins
            for position, param in enumerate(params)
            if type(param) is type(stand_in) and param == stand_in
        ]
        if [params[slot] for slot in slots] != stand_ins:
            raise ValueError("each value must be exactly one parameter of the compiled query")
        state = {name: getattr(compiler, name) for name in COMPILER_STATE}
        # How each column's value is read (a JSON column's decoder, SQLite's dates) is fixed by the columns; Django
        # works it out on every execution by comparing fields: 50 µs of a record's GET (its two queries), 4 % of it.
        converters = compiler.get_converters([column for column, *_ in compiler.select[: compiler.col_count]])
        state["get_converters"] = lambda expressions: converters
        return template, sql, tuple(params), slots, state


def _compiler(query, sql: str, params: tuple, state: dict, using=None, connection=None, elide_empty=True):
    """The query's compiler, set up as compiling it did, answering the compiled SQL with this evaluation's values."""
    compiler = Query.get_compiler(query, using, connection, elide_empty)
    compiler.__dict__.update(state)
    compiler.as_sql = lambda *args, **kwargs: (sql, params)
    return compiler
