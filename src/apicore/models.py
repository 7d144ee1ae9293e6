"""The state behind the shared HTTP policy: row versions (conditional requests) and idempotency keys; the JSON
column every resource uses."""

import re

import orjson
from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Now

__all__ = ["IdempotencyKey", "JSONField", "VersionField", "VersionedModel"]


# Where orjson and json.loads could disagree: a number of more than 64 bits has at least 20 digits.
LONG_NUMBER = re.compile(r"[0-9]{20}")


class JSONField(models.JSONField):
    """Django's JSONField, whose stored text is read by orjson: a page of 100 detailed customers reads 700 JSON
    values, and Python's json module was a seventh of its time.

    For valid JSON orjson answers what json.loads answers, except that it reads an integer beyond 64 bits as a
    float: text with 20 digits in a row is read Django's way, as is what orjson refuses (a lone surrogate, a float
    beyond range), and everything when the field has its own decoder.
    """

    def from_db_value(self, value, expression, connection):
        if (
            isinstance(value, str)
            and self.decoder is None
            and not isinstance(expression, KeyTransform)
            and not LONG_NUMBER.search(value)
        ):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return super().from_db_value(value, expression, connection)


class VersionField(models.PositiveBigIntegerField):
    """A row's write counter. Every UPDATE that `Model.save()` issues sets it to `version + 1` in the same
    statement, never to a number read earlier, so two concurrent writers cannot both store the same version.

    The instance keeps the version it was read at (refresh_from_db() reads the new one). `QuerySet.update()` and
    `bulk_update()` bypass it: bump the version there yourself (`version=F("version") + 1`).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", 1)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        if add:
            return super().pre_save(model_instance, add)
        return F(self.attname) + 1


class VersionedModel(models.Model):
    """A model whose writes can be made conditional on nothing having changed since it was read (RFC 9110 If-Match)."""

    version = VersionField()

    class Meta:
        abstract = True

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields:  # an empty list skips the save, as Django documents
            update_fields = {*update_fields, "version"}
        super().save(*args, update_fields=update_fields, **kwargs)

    def touch(self) -> None:
        """Bump the version of a row whose representation changed without a save of its own (an order's refunds)."""
        type(self)._base_manager.filter(pk=self.pk).update(version=F("version") + 1)


class IdempotencyKey(models.Model):
    """A POST claimed by its `Idempotency-Key`, and its response once it has one (apicore.idempotency)."""

    # No index of its own: the (user, key) unique constraint leads with it.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    # SHA-256 of the request's method, path and body: a retry must send the same request.
    fingerprint = models.CharField(max_length=64)
    # The database's clock, not an app server's: several servers decide expiry against the same time.
    created = models.DateTimeField(db_default=Now(), db_index=True)
    # Null while the request runs.
    status = models.PositiveSmallIntegerField(null=True)
    body = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self):
        return self.key
