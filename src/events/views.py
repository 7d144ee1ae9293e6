import re

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from apicore.pagination import Pagination
from apicore.permissions import ModelPermissions
from events import services
from events.models import Event
from events.serializers import EventPageSerializer, EventSerializer

CURSOR = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")


class ViewsPublishedModels(ModelPermissions):
    """The `view_` permission of at least one published model; each event type needs its own model's."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and services.allowed_types(request.user))


class EventFeed(GenericAPIView):
    """The changes of customers, channels, orders and refunds, oldest first. A client that always asks for the events
    `after` the last cursor it read never misses one: an event is shown only once every transaction that began before
    its own has ended, so none can appear behind a cursor already handed out. `type` (comma-separated) narrows them;
    each type needs the `view_` permission of its model. Events are kept OMNITRON_EVENT_RETENTION_DAYS days."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer
    permission_classes = [ViewsPublishedModels]
    pagination_class = None  # a cursor's feed, not pages: `after` and `limit` (Pagination's rule), a Link to the next

    @extend_schema(
        # The list format is the installation's (a setting read at startup), as for every list.
        responses=EventPageSerializer if settings.OMNITRON_LIST_FORMAT == "paginated" else EventSerializer(many=True),
        parameters=[
            OpenApiParameter("after", str, pattern=f"^{CURSOR.pattern}$", description="the last event's cursor"),
            OpenApiParameter("type", str, description="event types, comma-separated: customer.updated,order.created"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": Pagination.max_page_size, "default": Pagination.page_size},
                description="events per answer",
            ),
        ],
    )
    def get(self, request):
        types = self.requested_types(request, services.allowed_types(request.user))
        size = Pagination().get_page_size(request)
        events = Event.objects.filter(type__in=types)
        after = request.query_params.get("after")
        if after is not None:
            txid, pk = self.position(after)
            events = events.filter(services.after(txid, pk))
        # Only transactions older than every one still running: none of those can still add an event.
        page = list(services.visible(events).order_by("txid", "pk")[:size])
        data = self.get_serializer(page, many=True).data
        following = None
        if len(page) == size:
            url = replace_query_param(request.build_absolute_uri(), "after", page[-1].cursor)
            following = replace_query_param(url, "limit", size)
        return self.respond(data, following)

    def respond(self, data, following: str | None) -> Response:
        if settings.OMNITRON_LIST_FORMAT == "paginated":
            return Response({"next": following, "results": data})
        headers = {"Link": f'<{following}>; rel="next"'} if following else {}
        return Response(data, headers=headers)

    @staticmethod
    def requested_types(request, allowed: list[str]) -> list[str]:
        raw = request.query_params.get("type")
        if not raw:
            return allowed
        requested = [name.strip() for name in raw.split(",") if name.strip()]
        unknown = [name for name in requested if name not in services.event_types()]
        if unknown:
            choices = ", ".join(services.event_types())
            raise ValidationError({"type": [f"Unknown event type {unknown[0]!r}; one of {choices}."]}, code="invalid")
        if any(name not in allowed for name in requested):
            raise PermissionDenied()
        return requested

    @staticmethod
    def position(after: str) -> tuple[int, int]:
        match = CURSOR.fullmatch(after)
        if match is None:
            raise ValidationError({"after": ["Not a cursor: send one an event carried."]}, code="invalid")
        txid, pk = int(match[1]), int(match[2])
        if not Event.objects.filter(txid=txid, pk=pk).exists():
            raise ValidationError(
                {"after": ["No event has this cursor: it was never given, or is older than the events kept."]},
                code="invalid",
            )
        return txid, pk
