import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from apicore.models import JSONField
from events.models import Event


def every_event() -> list[str]:
    return ["*"]


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class Webhook(models.Model):
    """An endpoint the worker POSTs matching events to (webhooks.worker), signed with its secret.

    `cursor_txid`/`cursor_id` is how far into the event feed its deliveries have been queued, in the feed's own
    (txid, id) order: the worker moves it in the transaction that queues the deliveries, so a write pays nothing per
    webhook and no event is queued twice. `failing_since` is when its current run of failed attempts began; after
    OMNITRON_WEBHOOK_DISABLE_HOURS of nothing but failures it is disabled and `disabled_reason` says why.
    """

    url = models.URLField(max_length=2000)
    events = JSONField(default=every_event)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True, default="")
    secret = models.CharField(max_length=100, default=new_secret)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    cursor_txid = models.BigIntegerField(default=0)
    cursor_id = models.BigIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    created_date = models.DateTimeField(auto_now_add=True)
    modified_date = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.url

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class Delivery(models.Model):
    """One event to one webhook: pending until an attempt succeeds, or until its retries run out (`give_up_date`).

    A worker claims a delivery by setting `lease_expires` and `claim` (its own name) in one transaction; until the
    lease expires no other worker sends it, and if the worker dies its lease lapses and another one does.
    """

    PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
    STATUSES = [(PENDING, "pending"), (SUCCEEDED, "succeeded"), (FAILED, "failed")]

    # Indexed by delivery_list and delivery_due, which lead with it: one index fewer to keep per delivery.
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_date = models.DateTimeField()
    give_up_date = models.DateTimeField()
    lease_expires = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=100, blank=True, default="")
    created_date = models.DateTimeField()
    delivered_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The deliveries due, by time: the only ones a worker looks for besides new events.
            models.Index(fields=["webhook", "next_attempt_date"], name="delivery_due", condition=Q(status="pending")),
            models.Index(fields=["webhook", "-id"], name="delivery_list"),
        ]

    def __str__(self):
        return f"{self.event_id} to {self.webhook_id}"


class Attempt(models.Model):
    """One POST of a delivery: what the receiver answered (its status and the start of its body) or the error."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    date = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    response = models.CharField(max_length=1000, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")

    def __str__(self):
        return f"{self.delivery_id} at {self.date}: {self.status_code or self.error}"
