from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class Import(models.Model):
    """One import of a file of customers: its options, where it stands, and what its rows came to so far.

    The counts and `lines_done` move in the transaction that writes each batch of rows (imports.services), with that
    batch's report: a worker that stops or dies leaves them true, and the next worker resumes after `lines_done`.
    """

    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, SUCCEEDED, FAILED)]
    MODES = [(m, m) for m in ("upsert", "create_only", "update_only")]
    FORMATS = [(f, f) for f in ("csv", "jsonl")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=16, choices=STATUSES, default=QUEUED)
    format = models.CharField(max_length=8, choices=FORMATS)
    dry_run = models.BooleanField(default=False)
    mode = models.CharField(max_length=16, choices=MODES, default="upsert")
    atomic = models.BooleanField(default=False)
    restore_erased = models.BooleanField(default=False)
    # Rows without a channel get this one; a row naming another fails.
    # No constraint: deleting a channel leaves the imports that named it as they were, at no cost to the delete.
    channel = models.ForeignKey(
        "channels.Channel", models.DO_NOTHING, null=True, blank=True, related_name="+", db_constraint=False
    )
    size = models.BigIntegerField(default=0)  # bytes uploaded
    # The file's chunks (ImportChunk.upload), kept until the import ends.
    upload = models.UUIDField()
    request_id = models.CharField(max_length=200, null=True, blank=True)
    bytes_done = models.BigIntegerField(default=0)
    lines_done = models.BigIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    created = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    unchanged = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    # Why a failed import failed (the file, or in an atomic import the rows that did not pass).
    error = models.TextField(blank=True)
    created_date = models.DateTimeField(db_default=Now())
    started_date = models.DateTimeField(null=True, blank=True)
    finished_date = models.DateTimeField(null=True, blank=True)
    # The worker running it, until `lease_until` (the database's clock): then another may take it over.
    worker = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "id"], name="import_status_id_idx")]

    def __str__(self):
        return f"import {self.pk} ({self.status})"

    @property
    def progress(self) -> float:
        """The share of the file read, 0 to 1."""
        if self.status == self.SUCCEEDED:
            return 1.0
        return round(self.bytes_done / self.size, 4) if self.size else 0.0


class ImportChunk(models.Model):
    """A piece of an uploaded file, in order: kept in the database so that any worker on any machine can read it."""

    upload = models.UUIDField()
    seq = models.IntegerField()
    data = models.BinaryField()
    created_date = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "seq"], name="import_chunk_upload_seq_unique")]

    def __str__(self):
        return f"{self.upload} #{self.seq}"


class ImportReport(models.Model):
    """One batch's report: a JSON line per row (line, action, pk, errors), written with the batch's rows."""

    run = models.ForeignKey(Import, models.CASCADE, related_name="reports")
    first_line = models.BigIntegerField()
    lines = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "first_line"], name="import_report_run_line_unique")]

    def __str__(self):
        return f"{self.run} from line {self.first_line}"
