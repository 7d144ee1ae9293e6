"""List pagination: `page` and `limit`, in the body format the installation chose, with counts that stay cheap.

A page is read with one row past it, first: when no row follows, the page is the last one and the total is
known exactly without counting (most filtered lists fit in their first page). Otherwise the rows are counted, and an
exact `count(*)` over millions of rows costs more than the page itself, so lists count exactly only up to
OMNITRON_EXACT_COUNT_LIMIT rows; past it, on PostgreSQL, the total is the planner's estimate for the filtered query
and the response says so with `X-Total-Count-Estimated: true`. `next` and "page past the end" come from the rows
read, never from an estimated page count.

In the id order, PostgreSQL's planner reads a filtered page by walking the id index and filtering, when it expects
enough matches spread evenly over the ids to meet a page's worth soon. Where it expects more than it finds, the walk
passes every row before the first match: a selective `email__startswith` whose prefix straddles a bound of the
column's histogram is estimated at a whole bucket (1 % of the table) and walked all through (0.4 s at 1M rows, for
one match). So on PostgreSQL, a filtered page whose estimate is at most twice the exact-count limit is sorted from
the filter's own index by the database (top-N over its matches, bounded by how few they are); more matches than
that are walked as planned, and meet a page soon.

A range on another column (`created_date__gte`) in the id order is misread in another way: when the column grows
with the id (dates: the newest customers have the highest ids), the matches are the last rows the walk reaches,
however many they are. So on PostgreSQL:
- when the planner expects at most the exact-count limit of matches, their ids are read by the range's own index
  (bounded by the limit), sorted here and the page read by id; those ids also give the exact count;
- past that, the page's ids are read first, then its rows: when the table's statistics say the column follows the id
  and the range cuts off the side the walk starts from, sorted from the range's index by the database (top-N), for
  ranges up to TOP_N_SHARE of the table; otherwise by walking the ids with their dates (an index holding both:
  customers' `(id) INCLUDE (created_date, date_joined)`), which passes the rows before the range without reading them.
"""

import json
from functools import cached_property

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import F
from django.db.models.expressions import Col
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual, Range
from django.db.models.sql.where import WhereNode
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from apicore.filters import BIGINT_MAX

__all__ = ["EstimatingPaginator", "Pagination"]


# A planner estimate this many times above the limit is taken as proof that the limit is passed: counting even
# limit + 1 rows of a broad filter (a JSON key a tenth of the customers have) reads tens of thousands of rows, more
# than the page costs. Planner estimates for one indexed filter are rarely off by half.
TRUSTED_ESTIMATE_FACTOR = 2

BOUNDS = {GreaterThan: "lower", GreaterThanOrEqual: "lower", LessThan: "upper", LessThanOrEqual: "upper"}
# Below this share of the table, sorting the range's ids read from its (date, id) index costs less than walking the
# ids, with their dates, past the rows before the range (both index only): on 1M customers whose creation dates
# follow the id, sorting cost about 2.5 times what walking did per row.
TOP_N_SHARE = 0.25
# |correlation| of the column and of the id with the table's physical order from which the column follows the id.
FOLLOWS = 0.5
STATISTICS = """
    SELECT (SELECT reltuples FROM pg_class WHERE oid = %(table)s::regclass),
           (SELECT correlation FROM pg_stats
            WHERE schemaname = current_schema() AND tablename = %(table)s AND attname = %(pk)s),
           (SELECT correlation FROM pg_stats
            WHERE schemaname = current_schema() AND tablename = %(table)s AND attname = %(column)s)
"""


# An unfiltered list's EXPLAIN statement per (model, database) (_unfiltered_explain).
UNFILTERED_EXPLAINS: dict[tuple[type, str], str] = {}


def _unfiltered_explain(matched) -> str | None:
    """The EXPLAIN of a list with no filter, which depends on the table alone: compiled once per model and database
    (through the ORM it cost 0.36 ms of CPU a request, sent as compiled 0.20 ms). None for a filtered list."""
    query = matched.query
    if query.where or query.distinct:
        return None
    key = (matched.model, matched.db)
    if key not in UNFILTERED_EXPLAINS:
        select, params = query.get_compiler(matched.db).as_sql()
        if params:  # nothing this service lists, but then the ORM's way
            return None
        UNFILTERED_EXPLAINS[key] = f"{connections[matched.db].ops.explain_query_prefix(format='json')} {select}"
    return UNFILTERED_EXPLAINS[key]


def _ranges(where: WhereNode, found: dict) -> dict:
    """The fields other than the primary key the filter bounds by a range, with their bounds (lower, upper)."""
    for child in where.children:
        if isinstance(child, WhereNode):
            _ranges(child, found)
        elif isinstance(child, (*BOUNDS, Range)) and isinstance(child.lhs, Col) and not child.lhs.target.primary_key:
            bound = next((name for lookup, name in BOUNDS.items() if isinstance(child, lookup)), None)
            found.setdefault(child.lhs.target, set()).update([bound] if bound else ["lower", "upper"])
    return found


class EstimatingPaginator(Paginator):
    estimated = False

    @cached_property
    def estimate(self) -> int | None:
        """The planner's estimate of the rows the filter matches; None where there is none to trust (SQLite, exact
        counts configured, or a filter no row can match: Django sends no query then)."""
        queryset = self.object_list
        if not settings.OMNITRON_EXACT_COUNT_LIMIT or connections[queryset.db].vendor != "postgresql":
            return None
        # The rows the filter matches, not the columns read: explaining the page's whole SELECT (a joined record)
        # cost more to compile than the planner spends.
        matched = queryset.order_by().values("pk")
        unfiltered = _unfiltered_explain(matched)
        if unfiltered is None:
            plan = matched.explain(format="json")
            plan = json.loads(plan) if plan else None
        else:
            with connections[matched.db].cursor() as cursor:
                cursor.execute(unfiltered)
                (plan,) = cursor.fetchone()  # psycopg reads the json
        return int(plan[0]["Plan"]["Plan Rows"]) if plan else None

    @cached_property
    def few_expected(self) -> bool:
        """Whether the planner expects at most twice the exact-count limit of matches: few enough to count them, and
        to have them found by the filter's own index rather than by walking the ids."""
        return (
            self.estimate is not None and self.estimate <= settings.OMNITRON_EXACT_COUNT_LIMIT * TRUSTED_ESTIMATE_FACTOR
        )

    @cached_property
    def count(self) -> int:
        limit = settings.OMNITRON_EXACT_COUNT_LIMIT
        queryset = self.object_list
        estimate = self.estimate
        if estimate is None:
            return super().count
        if self.few_expected:
            # Counting stops after limit + 1 rows: cheap whatever the table's size.
            bounded = queryset.order_by()[: limit + 1].count()
            if bounded <= limit:
                return bounded
            # The estimate may undershoot, but more than `limit` rows are known to exist.
            estimate = max(estimate, limit + 1)
        self.estimated = True
        return estimate

    def page(self, number):
        number = self.page_number(number)
        bottom = (number - 1) * self.per_page
        if bottom > BIGINT_MAX - self.per_page:  # no such page; an OFFSET past bigint is a database error
            raise EmptyPage(self.error_messages["no_results"])
        rows = self._read(bottom, self.per_page + 1)
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        has_more = len(rows) > self.per_page
        if has_more:  # counted, and at least the rows up to the one read past this page
            self.count = max(self.count, bottom + len(rows))
        else:  # the last page: the total is known exactly, with no count
            self.count, self.estimated = bottom + len(rows), False
        return ProbedPage(rows[: self.per_page], number, self, has_more=has_more)

    def _read(self, offset: int, size: int) -> list:
        queryset = self.object_list
        query, pk = queryset.query, queryset.model._meta.pk.attname
        order = (query.order_by or queryset.model._meta.ordering or [""])[0]
        if not (query.where and isinstance(order, str) and order.lstrip("-") in {"pk", pk}) or self.estimate is None:
            return list(queryset[offset : offset + size])
        descending, limit = order.startswith("-"), settings.OMNITRON_EXACT_COUNT_LIMIT
        # `id + 0` orders by the id without its index: the database sorts the matches (top-N).
        sorted_by_the_database = (F("pk") + 0).desc() if descending else (F("pk") + 0).asc()
        ranges = _ranges(query.where, {})
        if not ranges:
            return list(
                (queryset.order_by(sorted_by_the_database) if self.few_expected else queryset)[offset : offset + size]
            )
        field, bounds = next(iter(ranges.items()))
        if self.few_expected:
            ids = list(queryset.order_by(field.attname).values_list("pk", flat=True)[: limit + 1])
            if len(ids) <= limit:  # every match: sorted here, the page read by id, the count known
                ids.sort(reverse=descending)
                self.count = len(ids)
                return self._by_id(ids[offset : offset + size])
        if self._walk_passes_the_rows_before(field.column, bounds, descending):
            by_id = sorted_by_the_database
        else:
            by_id = "-pk" if descending else "pk"
        # The page's ids first (an index holding the id with its dates walks them without reading rows), then its rows.
        return self._by_id(list(queryset.order_by(by_id).values_list("pk", flat=True)[offset : offset + size]))

    def _by_id(self, ids: list) -> list:
        return list(self.object_list.filter(pk__in=ids)) if ids else []

    def _walk_passes_the_rows_before(self, column: str, bounds: set[str], descending: bool) -> bool:
        """Whether walking the ids would pass most of the table before the range's rows: the column follows the id
        in the table's statistics, and the range cuts off the side the walk starts from."""
        queryset = self.object_list
        params = {"table": queryset.model._meta.db_table, "pk": queryset.model._meta.pk.column, "column": column}
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(STATISTICS, params)
            rows, pk_order, column_order = cursor.fetchone()
        # reltuples is -1 for a table never analyzed; a column without statistics has no correlation.
        if rows is None or rows <= 0 or pk_order is None or column_order is None:
            return False
        if min(abs(pk_order), abs(column_order)) < FOLLOWS or self.estimate >= rows * TOP_N_SHARE:
            return False
        starts_low = ((pk_order > 0) == (column_order > 0)) != descending
        return ("lower" if starts_low else "upper") in bounds

    def page_number(self, number) -> int:
        """Django's validate_number without the comparison against the last page: the rows read decide that."""
        try:
            number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from error
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number


class ProbedPage(Page):
    """A page whose successor is known from one extra row read, not from the count."""

    def __init__(self, object_list, number, paginator, has_more: bool):
        super().__init__(object_list, number, paginator)
        self.has_more = has_more

    def has_next(self) -> bool:
        return self.has_more


class Pagination(pagination.PageNumberPagination):
    django_paginator_class = EstimatingPaginator
    page_size = 10
    page_size_query_param = "limit"
    max_page_size = 1000
    # Only positive integers name a page: `page=last` would be a second spelling of the Link header's `last`.
    last_page_strings = ()

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # DRF silently falls back to the default for a bad limit; a client asking for 5000 rows
        # and getting 10 would not notice, so an out-of-range limit is an error here.
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {"limit": [f"Ensure this value is an integer from 1 to {self.max_page_size}."]}, code="invalid"
            )
        return size

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "The page number, from 1.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "default": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, from 1 to {self.max_page_size}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
            },
        ]

    def get_paginated_response_schema(self, schema):
        # The body as the running installation answers it (OMNITRON_LIST_FORMAT); counts and links of the "array"
        # format travel in headers, documented by apicore.schema.
        if settings.OMNITRON_LIST_FORMAT == "paginated":
            return super().get_paginated_response_schema(schema)
        return schema

    def get_paginated_response(self, data):
        if settings.OMNITRON_LIST_FORMAT == "paginated":
            response = super().get_paginated_response(data)
        else:
            response = Response(
                data, headers={"X-Total-Count": str(self.page.paginator.count), "Link": self._link_header()}
            )
        if self.page.paginator.estimated:
            response["X-Total-Count-Estimated"] = "true"
        return response

    def _link_header(self) -> str:
        """RFC 8288 links to the first, previous, next and (when the count is exact) last pages, keeping every other
        parameter."""
        url = self.request.build_absolute_uri()
        page = self.page
        links = [("first", 1)]
        if page.has_previous():
            links.append(("prev", page.previous_page_number()))
        if page.has_next():
            links.append(("next", page.next_page_number()))
        if not page.paginator.estimated:  # an estimated count does not know the last page
            links.append(("last", page.paginator.num_pages))
        return ", ".join(
            f'<{replace_query_param(url, self.page_query_param, number)}>; rel="{rel}"' for rel, number in links
        )
