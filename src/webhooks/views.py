from django.db import transaction
from django.db.models import Prefetch
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from apicore.idempotency import IdempotentCreateMixin
from apicore.permissions import ModelPermissions
from webhooks import services
from webhooks.filters import DeliveryFilterSet, WebhookFilterSet
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.serializers import DeliverySerializer, WebhookSerializer


class ChangesWebhooks(ModelPermissions):
    """Sending a delivery again and rotating a secret are changes of the webhook: `change_webhook`."""

    perms_map = {**ModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class WebhookViewSet(IdempotentCreateMixin, viewsets.ModelViewSet):
    """Endpoints the worker (`omnitron worker`) POSTs events to, signed with their secret (README: Webhooks). The
    secret is answered once, on creation (and to a retry of it with the same Idempotency-Key), and by
    `rotate-secret`."""

    queryset = Webhook.objects.order_by("pk")
    serializer_class = WebhookSerializer

    filterset_class = WebhookFilterSet

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "show_secret": self.action in ("create", "rotate_secret")}

    def perform_create(self, serializer):
        cursor_txid, cursor_id = services.head()  # sent the events that follow its creation
        serializer.save(user=self.request.user, cursor_txid=cursor_txid, cursor_id=cursor_id)

    def perform_update(self, serializer):
        if serializer.validated_data.get("is_active") and not serializer.instance.is_active:
            services.activate(serializer.instance)
        serializer.save()

    def webhook(self) -> Webhook:
        """The URL's webhook, without the webhook filters (the query's parameters are its deliveries' filters)."""
        webhook = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, webhook)
        return webhook

    @extend_schema(
        responses=DeliverySerializer(many=True),
        parameters=[
            OpenApiParameter("status", str, enum=[status for status, _ in Delivery.STATUSES]),
            OpenApiParameter("event_type", str, description="customer.updated, order.created, ..."),
        ],
    )
    @action(detail=True, serializer_class=DeliverySerializer)
    def deliveries(self, request, pk=None):
        """The webhook's deliveries, newest first, each with its attempts (status code, duration, the start of the
        answer or the error), newest first; `status` and `event_type` filter them."""
        webhook = self.webhook()
        attempts = Prefetch("attempts", queryset=Attempt.objects.order_by("-date", "-pk"))
        deliveries = (
            Delivery.objects.filter(webhook=webhook).select_related("event").prefetch_related(attempts).order_by("-pk")
        )
        filterset = DeliveryFilterSet(request.query_params, queryset=deliveries, request=request)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]{1,18})/redeliver",
        serializer_class=DeliverySerializer,
        permission_classes=[ChangesWebhooks],
    )
    def redeliver(self, request, pk=None, delivery_id=None):
        """Sends the delivery again as soon as a worker is free, whatever its state (202)."""
        delivery = get_object_or_404(Delivery, webhook=self.webhook(), pk=delivery_id)
        delivery = services.redeliver(delivery)
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=WebhookSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret", permission_classes=[ChangesWebhooks])
    def rotate_secret(self, request, pk=None):
        """A new signing secret, answered once; deliveries from now on are signed with it."""
        webhook = self.get_object()
        with transaction.atomic():
            webhook.secret = Webhook._meta.get_field("secret").default()
            webhook.save(update_fields=["secret", "modified_date"])
        return Response(self.get_serializer(webhook).data)
