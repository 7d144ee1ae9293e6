"""List pagination: `page` and `limit`, in the body format the installation chose, with counts that stay cheap.

A page is read with one row past it, first: when no row follows, the page is the last one and the total is
known exactly without counting (most filtered lists fit in their first page). Otherwise the rows are counted, and an
exact `count(*)` over millions of rows costs more than the page itself, so lists count exactly only up to
OMNITRON_EXACT_COUNT_LIMIT rows; past it, on PostgreSQL, the total is the planner's estimate for the filtered query
and the response says so with `X-Total-Count-Estimated: true`. When the planner expects more than twice the limit,
the estimate is taken without counting. `next` and "page past the end" come from the rows read, never from an
estimated page count. The read path (apicore.readpath) follows the same rule, in SQL (`omnitron_list_count`).
"""

import json
from functools import cached_property

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
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


class EstimatingPaginator(Paginator):
    estimated = False

    @cached_property
    def estimate(self) -> int | None:
        """The planner's estimate of the rows the filter matches; None where there is none to trust (SQLite, exact
        counts configured, or a filter no row can match: Django sends no query then)."""
        queryset = self.object_list
        if not settings.OMNITRON_EXACT_COUNT_LIMIT or connections[queryset.db].vendor != "postgresql":
            return None
        # The rows the filter matches, not the columns read: the estimate is the filter's alone.
        plan = queryset.order_by().values("pk").explain(format="json")
        return int(json.loads(plan)[0]["Plan"]["Plan Rows"]) if plan else None

    @cached_property
    def count(self) -> int:
        limit = settings.OMNITRON_EXACT_COUNT_LIMIT
        estimate = self.estimate
        if estimate is None:
            return super().count
        if estimate <= limit * TRUSTED_ESTIMATE_FACTOR:
            # Counting stops after limit + 1 rows: cheap whatever the table's size.
            bounded = self.object_list.order_by()[: limit + 1].count()
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
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        has_more = len(rows) > self.per_page
        if has_more:  # counted, and at least the rows up to the one read past this page
            self.count = max(self.count, bottom + len(rows))
        else:  # the last page: the total is known exactly, with no count
            self.count, self.estimated = bottom + len(rows), False
        return ProbedPage(rows[: self.per_page], number, self, has_more=has_more)

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
