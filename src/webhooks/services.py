"""Webhook deliveries: the URL rules, the signature, and the database side of the worker (webhooks.worker): queueing
each webhook's events, claiming deliveries, recording what their attempts answered.

Every step is a short transaction on its own, safe with any number of workers at once: a webhook's queueing holds its
row's lock (`FOR UPDATE`: another worker queues the next batch after it), a claim of due deliveries skips those
another worker is claiming (`FOR UPDATE SKIP LOCKED`), and a delivery is sent only by the worker whose lease on it is
current.
"""

import datetime
import functools
import hashlib
import hmac
import ipaddress
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from apicore.db import insert_all, insert_values
from apicore.renderers import JSONRenderer
from events import services as events
from events.models import Event
from events.serializers import EventSerializer
from webhooks.models import Attempt, Delivery, Webhook

# Cloud metadata services answer on these names and addresses; link-local ones (169.254.169.254, fe80::/10) are
# refused as a whole.
METADATA_HOSTS = {
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
}
METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192")}
# The longest wait between two tries of a delivery, and how much of the start of a receiver's answer is kept.
MAX_RETRY_DELAY = 3600
RESPONSE_KEPT = 1000
# The notification channel workers LISTEN on (also in migration 0002's trigger).
CHANNEL = "omnitron_events"


def url_problem(url: str) -> str | None:
    """Why the worker may not POST to `url`, or None. Checked when a webhook is saved and again before each attempt
    (the settings may have changed); the addresses a name resolves to are checked when connecting (webhooks.worker)."""
    return _url_problem(url, tuple(settings.OMNITRON_WEBHOOK_HTTP_HOSTS))


@functools.lru_cache(maxsize=1024)
def _url_problem(url: str, http_hosts: tuple[str, ...]) -> str | None:
    # Cached by URL and setting: a worker checks every attempt's URL, and parsing it was a tenth of its CPU.
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "http":
        if host not in http_hosts:
            return "Only https:// URLs are accepted, or http:// to a host listed in OMNITRON_WEBHOOK_HTTP_HOSTS."
    elif parts.scheme != "https":
        return "Only https:// URLs are accepted."
    if host in METADATA_HOSTS:
        return f"{host} is a cloud metadata service: webhooks may not be sent there."
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if forbidden_address(address):
        return f"{host} is a link-local, metadata or unspecified address: webhooks may not be sent there."
    return None


def forbidden_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_link_local or address.is_unspecified or address in METADATA_ADDRESSES


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`Omnitron-Signature`'s value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def head() -> tuple[int, int]:
    """The feed's position now: a webhook created now is sent the events that follow it."""
    last = events.visible(Event.objects.all()).order_by("-txid", "-pk").values_list("txid", "pk").first()
    return last or (0, 0)


def notify(using="default") -> None:
    """Wakes the workers (PostgreSQL; they poll otherwise): at commit, as the events table's trigger does."""
    if connections[using].vendor == "postgresql":
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, ""])


@dataclass
class Job:
    """A delivery claimed by a worker, with what it POSTs."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    event_id: int
    event_type: str
    body: bytes


@dataclass
class Outcome:
    delivery_id: int
    webhook_id: int
    date: datetime.datetime
    duration_ms: int
    status_code: int | None = None
    response: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(worker: str, busy: dict[int, int]) -> list[Job]:
    """Deliveries for `worker` to send now, at most OMNITRON_WEBHOOK_CONCURRENCY per webhook minus those `busy`
    (in flight) already: first the webhook's new events, queued as deliveries here, then its retries that are due."""
    now = timezone.now()
    lease = now + datetime.timedelta(seconds=settings.OMNITRON_WEBHOOK_LEASE_SECONDS)
    claimed: list[Delivery] = []
    for webhook in Webhook.objects.filter(is_active=True):
        room = settings.OMNITRON_WEBHOOK_CONCURRENCY - busy.get(webhook.pk, 0)
        if room > 0:
            new = queue(webhook, room, worker, now, lease)
            claimed += new
            if len(new) < room:
                claimed += due(webhook, room - len(new), worker, now, lease)
    return jobs(claimed)


def queue(webhook: Webhook, limit: int, worker: str, now, lease) -> list[Delivery]:
    """The webhook's next events as deliveries claimed by `worker`; moves its cursor past them in the same
    transaction. The events it does not want are passed over (the cursor moves past them too)."""
    with transaction.atomic():
        # Waits while another worker queues the webhook's events (a few milliseconds), then queues the next ones.
        webhook = Webhook.objects.select_for_update().filter(pk=webhook.pk, is_active=True).first()
        if webhook is None:
            return []  # disabled meanwhile
        after = events.after(webhook.cursor_txid, webhook.cursor_id)
        scanned = list(
            events.visible(Event.objects.filter(after)).order_by("txid", "pk").values_list("txid", "pk", "type")[:limit]
        )
        if not scanned:
            return []
        wanted = [(pk, kind) for _, pk, kind in scanned if webhook.wants(kind)]
        give_up = now + datetime.timedelta(hours=settings.OMNITRON_WEBHOOK_RETRY_HOURS)
        deliveries = insert_all(
            Delivery,
            [
                Delivery(
                    webhook=webhook,
                    event_id=pk,
                    next_attempt_date=now,
                    give_up_date=give_up,
                    lease_expires=lease,
                    claim=worker,
                    created_date=now,
                )
                for pk, _ in wanted
            ],
        )
        webhook.cursor_txid, webhook.cursor_id, _ = scanned[-1]
        Webhook.objects.filter(pk=webhook.pk).update(cursor_txid=webhook.cursor_txid, cursor_id=webhook.cursor_id)
    return deliveries


def due(webhook: Webhook, limit: int, worker: str, now, lease) -> list[Delivery]:
    """The webhook's deliveries whose next try is due and that no worker holds, claimed by `worker`."""
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(webhook=webhook, status=Delivery.PENDING, next_attempt_date__lte=now)
            .filter(Q(lease_expires__isnull=True) | Q(lease_expires__lte=now))
            .order_by("next_attempt_date")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(lease_expires=lease, claim=worker)
    return list(Delivery.objects.filter(pk__in=ids).select_related("webhook")) if ids else []


def jobs(deliveries: list[Delivery]) -> list[Job]:
    """Each delivery with its body: the event as the feed answers it, rendered once per event."""
    if not deliveries:
        return []
    event_ids = {delivery.event_id for delivery in deliveries}
    serializer, renderer = EventSerializer(), JSONRenderer()
    rendered = {
        event.pk: (event.type, renderer.render(serializer.to_representation(event)))
        for event in Event.objects.filter(pk__in=event_ids)
    }
    return [
        Job(
            delivery.pk,
            delivery.webhook_id,
            delivery.webhook.url,
            delivery.webhook.secret,
            delivery.event_id,
            *rendered[delivery.event_id],
        )
        for delivery in deliveries
        if delivery.event_id in rendered  # purged meanwhile: nothing left to send
    ]


def record(worker: str, outcomes: list[Outcome]) -> None:
    """Stores each attempt, then each delivery's new state: done, due again later (with backoff and jitter), or
    failed for good past its give-up date. Only deliveries `worker` still holds change state. Then each webhook's
    health: a success ends its run of failures; failures for OMNITRON_WEBHOOK_DISABLE_HOURS disable it."""
    if not outcomes:
        return
    now = timezone.now()
    with transaction.atomic():
        insert_values(
            Attempt,
            ["delivery_id", "date", "status_code", "duration_ms", "response", "error"],
            [[o.delivery_id, o.date, o.status_code, o.duration_ms, o.response[:RESPONSE_KEPT], o.error[:500]]
             for o in outcomes],
        )  # fmt: skip
        held = Delivery.objects.filter(claim=worker, status=Delivery.PENDING)
        succeeded = [o.delivery_id for o in outcomes if o.succeeded]
        if succeeded:
            held.filter(pk__in=succeeded).update(
                status=Delivery.SUCCEEDED,
                attempt_count=F("attempt_count") + 1,
                delivered_date=now,
                lease_expires=None,
                claim="",
            )
        failed = [o for o in outcomes if not o.succeeded]
        if failed:
            states = held.filter(pk__in=[o.delivery_id for o in failed]).values_list(
                "pk", "attempt_count", "give_up_date"
            )
            for pk, count, give_up in states:
                retry = now + datetime.timedelta(seconds=retry_delay(count + 1))
                held.filter(pk=pk).update(
                    status=Delivery.FAILED if retry > give_up else Delivery.PENDING,
                    attempt_count=count + 1,
                    next_attempt_date=retry,
                    lease_expires=None,
                    claim="",
                )
        healthy = {o.webhook_id for o in outcomes if o.succeeded}
        failing = {o.webhook_id for o in failed} - healthy
        Webhook.objects.filter(pk__in=healthy, failing_since__isnull=False).update(failing_since=None)
        if failing:
            first = min(o.date for o in failed)
            Webhook.objects.filter(pk__in=failing, failing_since__isnull=True).update(failing_since=first)
            cutoff = now - datetime.timedelta(hours=settings.OMNITRON_WEBHOOK_DISABLE_HOURS)
            Webhook.objects.filter(pk__in=failing, is_active=True, failing_since__lte=cutoff).update(
                is_active=False,
                disabled_reason=(
                    f"Disabled at {now.isoformat(timespec='seconds')}: every delivery attempt failed for "
                    f"{settings.OMNITRON_WEBHOOK_DISABLE_HOURS:g} hours. Fix the receiver, then set is_active to true."
                ),
            )


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling from OMNITRON_WEBHOOK_RETRY_SECONDS, at most
    an hour, the second half of it random ("equal jitter"), so that retries of many deliveries spread out."""
    delay = min(settings.OMNITRON_WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_DELAY)
    return delay / 2 + random.uniform(0, delay / 2)


def redeliver(delivery: Delivery) -> Delivery:
    """Queues one more try of `delivery` now, whatever its state; if it fails it is retried as a new delivery is."""
    now = timezone.now()
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.PENDING,
            next_attempt_date=now,
            give_up_date=now + datetime.timedelta(hours=settings.OMNITRON_WEBHOOK_RETRY_HOURS),
            lease_expires=None,
            claim="",
        )
        notify()
    delivery.refresh_from_db()
    return delivery


def activate(webhook: Webhook) -> None:
    """A webhook made active (again) is sent the events from now on, and its failures are forgotten."""
    webhook.cursor_txid, webhook.cursor_id = head()
    webhook.failing_since = None
    webhook.disabled_reason = ""
