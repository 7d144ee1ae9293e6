"""List pagination: `page` and `limit`, in the body format the installation chose."""

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

__all__ = ["Pagination"]


class Pagination(pagination.PageNumberPagination):
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
            return super().get_paginated_response(data)
        return Response(data, headers={"X-Total-Count": str(self.page.paginator.count), "Link": self._link_header()})

    def _link_header(self) -> str:
        """RFC 8288 links to the first, previous, next and last pages, keeping every other parameter."""
        url = self.request.build_absolute_uri()
        page = self.page
        links = [("first", 1)]
        if page.has_previous():
            links.append(("prev", page.previous_page_number()))
        if page.has_next():
            links.append(("next", page.next_page_number()))
        links.append(("last", page.paginator.num_pages))
        return ", ".join(
            f'<{replace_query_param(url, self.page_query_param, number)}>; rel="{rel}"' for rel, number in links
        )
