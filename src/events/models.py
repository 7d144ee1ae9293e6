from django.db import models

from apicore.models import JSONField


class Event(models.Model):
    """A change of a record, as the event feed and webhooks tell it (events.services records it in the change's own
    transaction).

    `txid` is the writing transaction's id on PostgreSQL (0 on SQLite, whose writes commit one at a time in id order):
    the feed reads events in (txid, id) order and only those of transactions older than every one still running,
    so that an event committed late is never behind a cursor a client already holds (events.views).
    """

    txid = models.BigIntegerField(default=0)
    type = models.CharField(max_length=64)
    record_id = models.BigIntegerField()
    data = JSONField()
    changes = JSONField(default=dict)
    version = models.CharField(max_length=40)
    request_id = models.CharField(max_length=200, null=True, blank=True)
    created_date = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["txid", "id"], name="event_feed_order")]

    def __str__(self):
        return f"{self.type} {self.record_id}"

    @property
    def cursor(self) -> str:
        return f"{self.txid}-{self.pk}"
