"""Importing customers from a file: read row by row, validated as the API validates a customer, written in batches
with their history and events, reported row by row.

A file is CSV (a header row naming the customer's fields; JSON fields as JSON text; an empty cell is null, or absent
where the field takes no null) or JSON Lines (one customer object per line, as the API takes it). Rows are matched
to customers by (channel, channel_code): a match is updated with the fields the row carries (the API's partial
update), another row is created (the API's create), in `upsert` mode; `create_only` and `update_only` refuse the
other kind. A key seen on an earlier row of the file fails as a duplicate.

Each batch of BATCH_ROWS rows is one transaction: the matched customers read (those the batch changes read again,
locked), the rows validated by one serializer, the new customers inserted together with their history entries and
events, the changed ones written one by one through the serializer (their history and events as any save's), the
batch's report stored and the import's counts moved. A batch is done once its report is stored: a worker that takes
over a dead one's import skips the batches reported. On PostgreSQL the batches are validated and written by several
processes at once (Importer). An atomic import first validates every row (a dry run, reported), then writes them
all in one transaction, or nothing when a row fails.
"""

import collections
import copy
import csv
import datetime
import io
import logging
import multiprocessing
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from django.db import IntegrityError, OperationalError, connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest, Now
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apicore import history, lines
from apicore.db import insert_all
from apicore.exceptions import first_code
from apicore.export import ValuesReader
from apicore.renderers import JSONRenderer
from apicore.validation import RowValidator
from channels.models import Channel
from customers.models import Customer
from customers.serializers import CustomerSerializer
from events import services as events
from imports import processes as processes_
from imports.models import Import, ImportChunk, ImportReport
from imports.serializers import ImportedCustomerSerializer

__all__ = [
    "FORMATS", "FileProblem", "check_start", "claim", "format_of", "process", "purge", "report_lines", "run_next",
]  # fmt: skip

logger = logging.getLogger("omnitron.imports")

BATCH_ROWS = 1000
CHUNK_BYTES = 1 << 20
# The media types of each format (the request's Content-Type decides).
FORMATS = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/jsonl": "jsonl",
    "application/x-jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/jsonlines": "jsonl",
    "application/x-jsonlines": "jsonl",
}
ABSENT = object()
_render = JSONRenderer().render


class FileProblem(Exception):
    """The file cannot be read as its format says; the message says where."""


class Lost(Exception):
    """Another worker took the import over (this one's lease ran out), or it is to stop: the batch is not written."""


@dataclass
class Row:
    line: int
    data: dict | None  # the row's values as the API's JSON would carry them; None if unreadable
    errors: dict = field(default_factory=dict)  # what could not be read, in the API's error shape
    end: int = 0  # bytes of the file read when the row was complete


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (the import's progress)."""

    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.stream.read(len(buffer))
        self.count += len(data)
        buffer[: len(data)] = data
        return len(data)


class ChunkReader(io.RawIOBase):
    """An uploaded file, read from its chunks in the database, one chunk (one query) at a time."""

    def __init__(self, upload):
        self.upload, self.seq, self.pending = upload, 0, b""

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self.pending:
            data = ImportChunk.objects.filter(upload=self.upload, seq=self.seq).values_list("data", flat=True).first()
            if data is None:
                return 0
            self.pending, self.seq = bytes(data), self.seq + 1
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def _fields() -> dict:
    return ImportedCustomerSerializer().fields


def _cell_reader(field):
    """How a CSV cell becomes the value the API's JSON would carry for `field`: an empty cell is null, "" for a
    string that takes no null, else absent; true/false; integers; JSON text. What does not read as the field's
    type is passed on as text, for the serializer to refuse as the API would."""

    def empty():
        if field.allow_null:
            return None
        if isinstance(field, serializers.CharField):
            return ""
        return ABSENT

    if isinstance(field, serializers.BooleanField):
        return lambda cell: {"true": True, "false": False}.get(cell, cell) if cell else empty()
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):

        def integer(cell):
            if not cell:
                return empty()
            try:
                return int(cell)
            except ValueError:
                return cell

        return integer
    if isinstance(field, serializers.JSONField):

        def json_text(cell):
            if not cell:
                return empty()
            try:
                return orjson.loads(cell)
            except orjson.JSONDecodeError as error:
                raise ValueError(f"Not valid JSON: {error}.") from None

        return json_text
    return lambda cell: cell if cell else empty()


def _header(names: list[str]) -> list:
    """Each column's cell reader (None for a read-only column, such as an export's `pk`, which is left out)."""
    fields = _fields()
    aliases = ImportedCustomerSerializer.input_aliases
    unknown = [name for name in names if name not in fields and name not in aliases]
    if unknown:
        raise FileProblem(
            f"Line 1: unknown column(s) {', '.join(map(repr, unknown))}; the columns are the customer's fields: "
            f"{', '.join(fields)}."
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileProblem(f"Line 1: column(s) {', '.join(map(repr, repeated))} named more than once.")
    readers = []
    for name in names:
        field_ = fields[aliases.get(name, name)]
        readers.append(None if field_.read_only else (name, _cell_reader(field_)))
    if not any(readers):
        raise FileProblem("Line 1: the header names no field a customer can be given.")
    return readers


def csv_rows(stream) -> Iterator[Row]:
    counting = CountingReader(stream)
    text = io.TextIOWrapper(io.BufferedReader(counting, CHUNK_BYTES), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        try:
            names = next(reader)
        except StopIteration:
            raise FileProblem("The file is empty.") from None
        except csv.Error as error:
            raise FileProblem(f"Line 1: not CSV ({error}).") from None
        readers = _header(names)
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # an unclosed quote at the end: a truncated file
                yield Row(start, None, {"non_field_errors": [f"Not readable as CSV: {error}."]}, counting.count)
                continue
            if not cells:
                continue  # a blank line
            if len(cells) != len(names):
                problem = f"Has {len(cells)} values where the header names {len(names)} columns."
                yield Row(start, None, {"non_field_errors": [problem]}, counting.count)
                continue
            data, errors = {}, {}
            for column, cell in zip(readers, cells, strict=True):
                if column is None:
                    continue
                name, read = column
                try:
                    value = read(cell)
                except ValueError as error:
                    errors[name] = [str(error)]
                    continue
                if value is not ABSENT:
                    data[name] = value
            yield Row(start, data, errors, counting.count)
    except UnicodeDecodeError as error:
        raise FileProblem(f"Near byte {counting.count}: not UTF-8 text ({error.reason}).") from None


def jsonl_rows(stream) -> Iterator[Row]:
    read = 0
    for line, raw in enumerate(io.BufferedReader(stream, CHUNK_BYTES), 1):
        read += len(raw)
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            yield Row(line, None, {"non_field_errors": [f"Not valid JSON: {error}."]}, read)
            continue
        if not isinstance(value, dict):
            yield Row(line, None, {"non_field_errors": ["Must be a JSON object: one customer per line."]}, read)
            continue
        yield Row(line, value, {}, read)


ROWS = {"csv": csv_rows, "jsonl": jsonl_rows}


def check_start(head: bytes, format_: str, complete: bool) -> None:
    """Refuses a file whose start shows it is not what its format says (the upload answers 400): not UTF-8, a CSV
    header naming unknown columns, a first line of JSON Lines that is not an object. `head` is the file's start,
    all of it if `complete`."""
    lines = head.splitlines(keepends=True)
    if not complete and lines and not lines[-1].endswith(b"\n"):
        lines.pop()  # cut short by the chunk
    first = next((line for line in lines if line.strip()), None) if format_ == "jsonl" else next(iter(lines), None)
    if first is None:
        if complete:
            raise FileProblem("The file is empty.")
        if format_ == "csv":
            raise FileProblem(f"Line 1: the header is longer than {len(head)} bytes.")
        return
    line = lines.index(first) + 1
    for row in ROWS[format_](io.BytesIO(first)):
        if row.data is None:
            raise FileProblem(f"Line {line}: {row.errors['non_field_errors'][0]}")


def _api_errors(errors) -> dict:
    """A row's errors as the API's 400 body gives them: DRF's shape and the first error's `code`."""
    detail = serializers.as_serializer_error(ValidationError(errors))
    code = first_code(ValidationError(errors).get_codes())
    return {**{name: [str(message) for message in messages] for name, messages in detail.items()}, "code": code}


class Importer:
    """Runs one import: its rows in batches, each written (or, in a dry run, only validated) and reported.

    The file is read here, in order; its batches are validated and written by `processes` other processes at once
    on PostgreSQL (validation is most of an import's work, and Python runs on one core per process), each batch in
    a transaction of its own. A batch is done once its report is stored: a worker that takes an import over skips
    the batches reported and writes the others.
    """

    def __init__(self, record: Import, worker: str, stop=None, progress=None):
        self.record, self.worker, self.stop, self.progress = record, worker, stop, progress
        self.serializer = ImportedCustomerSerializer(
            context={"channels": {}, "batch": True, "restore_erased": record.restore_erased}
        )
        self.validator = RowValidator(self.serializer)  # the serializer's run_validation, in less than half the time
        self.user = record.user
        self.reader = ValuesReader(CustomerSerializer(), [], "default")

    def run(self, stream) -> None:
        record = self.record
        if record.atomic and not record.dry_run:
            self.run_pass(stream(), write=False)
            record.refresh_from_db()
            if record.failed:
                raise FileProblem(
                    f"{record.failed} row(s) failed validation; nothing was written (atomic). See the report."
                )
            with transaction.atomic():
                self.reset(record)
                self.run_pass(stream(), write=True, processes=1)  # one transaction: one process
        else:
            self.run_pass(stream(), write=not record.dry_run)

    @staticmethod
    def reset(record: Import) -> None:
        ImportReport.objects.filter(run=record).delete()
        fields = ("lines_done", "bytes_done", "rows_read", "created", "updated", "unchanged", "failed")
        Import.objects.filter(pk=record.pk).update(**dict.fromkeys(fields, 0))
        for name in fields:
            setattr(record, name, 0)

    def batches(self, stream) -> Iterator[list[Row]]:
        """The file's rows in batches of BATCH_ROWS (the same batches whoever reads it), without those reported
        already. A key met on an earlier row fails the row as a duplicate, whether or not that row passed."""
        done = set(ImportReport.objects.filter(run=self.record).values_list("first_line", flat=True))
        seen: set[int] = set()  # hashes of the keys met
        batch: list[Row] = []
        for row in ROWS[self.record.format](stream):
            if row.data is not None and (key := self.key(row.data)) is not None:
                if hash(key) in seen:
                    error = "This channel and channel_code appear on an earlier line of the file."
                    row.data, row.errors = None, {"channel_code": [serializers.ErrorDetail(error, "duplicate")]}
                seen.add(hash(key))
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                if batch[0].line not in done:
                    yield batch
                batch = []
        if batch and batch[0].line not in done:
            yield batch

    def run_pass(self, stream, write: bool, processes: int | None = None) -> None:
        processes = processes or settings.OMNITRON_IMPORT_PROCESSES
        if processes < 2 or connections["default"].vendor != "postgresql":
            for batch in self.batches(stream):
                self.stopping()
                self.done(self.batch(batch, write))
            return
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=processes_.start, initargs=(connections["default"].settings_dict["NAME"],)
                                 ) as pool:  # fmt: skip
            running: collections.deque = collections.deque()
            try:
                for batch in self.batches(stream):
                    self.stopping()
                    running.append(pool.submit(processes_.batch, self.record.pk, self.worker, batch, write))
                    if len(running) >= 2 * processes:  # read ahead no further: memory stays bounded
                        self.done(running.popleft().result())
                while running:
                    self.done(running.popleft().result())
            finally:
                for future in running:
                    future.cancel()

    def stopping(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Lost("stopping")

    def done(self, counts: dict) -> None:
        if self.progress is not None:
            self.record.refresh_from_db(fields=["bytes_done", "lines_done"])
            self.progress(self.record, counts)

    def key(self, data: dict):
        channel, code = data.get("channel", self.record.channel_id), data.get("channel_code")
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int)):
            return None
        return (channel, code) if isinstance(code, str) else None

    def batch(self, rows: list[Row], write: bool) -> dict:
        """Validates, writes and reports the rows in one transaction; what they came to, by action."""
        for attempt in range(3):
            try:
                with transaction.atomic():
                    return self.write_batch(rows, write)
            except (IntegrityError, OperationalError) as error:
                # A customer another import or request created meanwhile (then matched on the next try), or a
                # deadlock between two imports' locks; anything else fails again and reaches the worker.
                if attempt == 2:
                    raise
                logger.info("import %s: batch from line %s tried again: %s", self.record.pk, rows[0].line, error)

    def write_batch(self, rows: list[Row], write: bool) -> dict:
        record = self.record
        keys = [self.key(row.data) if row.data is not None else None for row in rows]
        if record.channel_id is not None:
            for row in rows:
                if row.data is not None:
                    row.data.setdefault("channel", record.channel_id)
        self.serializer.context["channels"] = Channel.objects.in_bulk(
            {key[0] for key in keys if key is not None and key[0] is not None}
        )
        # The customers the keys name, as the API represents them; those the batch changes are then read as records,
        # locked when it writes (until it commits: no concurrent write is lost). The others are neither validated
        # nor written: a re-import of an unchanged file writes nothing but its report.
        current = self.current([key for key in keys if key is not None])
        unchanged = {key for row, key in zip(rows, keys, strict=True)
                     if key in current and self.same(row.data, current[key])}  # fmt: skip
        changing = [key for key in current if key not in unchanged]
        existing = self.existing(changing, lock=write) if changing else {}
        report, creates, updates = [], [], []
        counts = dict.fromkeys(("created", "updated", "unchanged", "failed"), 0)
        for row, key in zip(rows, keys, strict=True):
            found = current.get(key) if key is not None else None
            action, instance, errors = self.validate(row, key, found, existing.get(key), key in unchanged)
            counts[action] += 1
            pk = instance.pk if instance is not None else found["pk"] if found is not None else None
            entry = {"line": row.line, "action": action, "pk": pk, "errors": errors}
            report.append(entry)
            if action == "created":
                creates.append((entry, instance))
            elif action == "updated":
                updates.append(instance)
        if write:
            with history.acting(self.user, record.request_id):
                self.insert(creates)
                for instance in updates:
                    self.serializer.instance = instance
                    self.serializer.update(instance, instance.__dict__.pop("_validated"))
        lines = b"".join(_render(entry) + b"\n" for entry in report).decode()
        ImportReport.objects.create(run=record, first_line=rows[0].line, lines=lines)
        # Only while this worker holds the import: one that took it over after this one's lease ran out writes the
        # batch itself, so this one's is rolled back.
        if not Import.objects.filter(pk=record.pk, worker=self.worker).update(
            lines_done=Greatest(F("lines_done"), rows[-1].line),
            bytes_done=Greatest(F("bytes_done"), rows[-1].end),
            rows_read=F("rows_read") + len(rows),
            lease_until=Now() + datetime.timedelta(seconds=settings.OMNITRON_IMPORT_LEASE_SECONDS),
            **{name: F(name) + count for name, count in counts.items()},
        ):
            raise Lost("taken over by another worker")
        return counts

    @staticmethod
    def matching(keys: list):
        """The customers the (channel, channel_code) keys name, in id order (locked in that order: two imports
        cannot deadlock)."""
        by_channel: dict = {}
        for channel, code in keys:
            by_channel.setdefault(channel, []).append(code)
        match = Q(pk__in=[])
        for channel, codes in by_channel.items():
            where = Q(channel__isnull=True) if channel is None else Q(channel_id=channel)
            match |= where & Q(channel_code__in=codes)
        return Customer.objects.filter(match).order_by("pk")

    def current(self, keys: list) -> dict:
        """The customers the keys name as the API represents them, by key, in one query (apicore.export's reading)."""
        return {(record["channel"], record["channel_code"]): record for record in self.reader.read(self.matching(keys))}

    def existing(self, keys: list, lock: bool = False) -> dict:
        """The customers the keys name, by key; locked until the batch's transaction ends when `lock`."""
        customers = self.matching(keys).select_for_update() if lock else self.matching(keys)
        return {(customer.channel_id, customer.channel_code): customer for customer in customers}

    def validate(self, row: Row, key, found: dict | None, instance: Customer | None, unchanged: bool) -> tuple:
        """What the row comes to: (action, the customer, the API's errors). `found` is the customer its key names as
        the API represents it, `instance` the same customer read as a record when the row may change it."""
        if row.data is None:
            return "failed", None, _api_errors(row.errors)
        record, serializer = self.record, self.serializer
        if record.channel_id is not None and row.data.get("channel") != record.channel_id:
            error = f"Must be {record.channel_id}, the import's channel, or left out."
            return "failed", None, _api_errors({"channel": [serializers.ErrorDetail(error, "invalid")]})
        if found is not None and record.mode == "create_only":
            where = f"channel {key[0]}" if key[0] is not None else "customers without a channel"
            error = f"A customer with this channel_code already exists in {where}."
            return "failed", None, _api_errors({"channel_code": [serializers.ErrorDetail(error, "unique")]})
        if found is None and record.mode == "update_only" and key is not None:
            error = "No customer has this channel and channel_code (update_only)."
            return "failed", None, _api_errors({"channel_code": [serializers.ErrorDetail(error, "not_found")]})
        if unchanged:
            return "unchanged", None, None
        serializer.instance, serializer.partial = instance, instance is not None
        try:
            validated = self.validator.run_validation(row.data)
        except ValidationError as error:
            return "failed", instance, _api_errors({**error.detail, **row.errors})
        if row.errors:
            return "failed", instance, _api_errors(row.errors)
        if instance is None:
            return "created", Customer(**validated), None
        after = copy.copy(instance)
        for name, value in validated.items():
            setattr(after, name, value)
        if history.values_of(after) == history.values_of(instance):
            return "unchanged", instance, None
        instance._validated = validated  # written by the serializer's update, as the API writes it
        return "updated", instance, None

    def same(self, data: dict, represented: dict) -> bool:
        """Whether the row holds what the customer holds, each value as the API represents it: such a row would pass
        the API's validation and change nothing, so it is not validated again (a re-import of an unchanged file does
        a fifth of the work)."""
        fields = self.serializer.fields
        if not all(name in fields for name in data):
            return False  # an alias or unknown name: the serializer decides
        return all(fields[name].read_only or represented[name] == value for name, value in data.items())

    def insert(self, creates: list) -> None:
        """The new customers in one INSERT, their history entries in another, their events in a third."""
        if not creates:
            return
        customers = insert_all(Customer, [instance for _, instance in creates])
        for (entry, _), customer in zip(creates, customers, strict=True):
            entry["pk"] = customer.pk
        records = events.record_created(Customer, history.record_created(customers))
        if records:
            lines.store_created(Customer, records, [customer.version for customer in customers], customers[0]._state.db)


def claim(worker: str) -> Import | None:
    """Takes the oldest import waiting, or one whose worker's lease ran out (it resumes where that one stopped)."""
    with transaction.atomic():
        record = (
            Import.objects.select_for_update(skip_locked=True)
            .filter(Q(status=Import.QUEUED) | Q(status=Import.RUNNING, lease_until__lt=Now()))
            .order_by("pk")
            .first()
        )
        if record is None:
            return None
        record.status, record.worker = Import.RUNNING, worker
        record.started_date = record.started_date or timezone.now()
        record.save(update_fields=["status", "worker", "started_date"])
        Import.objects.filter(pk=record.pk).update(
            lease_until=Now() + datetime.timedelta(seconds=settings.OMNITRON_IMPORT_LEASE_SECONDS)
        )
        if record.atomic or record.dry_run:
            Importer.reset(record)  # nothing of it was written: it starts again
    return record


def process(record: Import, worker: str, stream=None, stop=None, progress=None) -> Import:
    """Runs a claimed import to its end: succeeded (whatever its rows came to) or failed (the file could not be read,
    or an atomic import's rows did not all pass). `stream` opens the file (default: its uploaded chunks)."""
    opener = stream or (lambda: ChunkReader(record.upload))
    outcome = {"status": Import.SUCCEEDED, "error": ""}
    try:
        if stream is None and not ImportChunk.objects.filter(upload=record.upload).exists():
            # Run by `omnitron import_customers` from its own file, which stopped before the end.
            raise FileProblem(f"Its command stopped after line {record.lines_done}; run it again to import the rest.")
        Importer(record, worker, stop, progress).run(opener)
    except Lost as reason:
        logger.info("import %s left: %s", record.pk, reason)
        if not (stop is not None and stop.is_set()):
            return record  # another worker has it
        # Stopping: another worker may take it over at once, after the last batch written.
        Import.objects.filter(pk=record.pk, worker=worker).update(lease_until=Now())
        return record
    except FileProblem as problem:
        outcome = {"status": Import.FAILED, "error": str(problem)}
    with transaction.atomic():
        if not Import.objects.filter(pk=record.pk, worker=worker).update(
            **outcome, finished_date=timezone.now(), lease_until=None
        ):
            return record
        ImportChunk.objects.filter(upload=record.upload).delete()
    record.refresh_from_db()
    return record


def work(worker: str, stop) -> None:
    """Runs imports one after another until `stop` is set (`omnitron worker`'s imports thread); looks for one every
    OMNITRON_WORKER_POLL_SECONDS when there is none."""
    while not stop.is_set():
        try:
            if not run_next(worker, stop):
                stop.wait(settings.OMNITRON_WORKER_POLL_SECONDS)
        except Exception:
            logger.exception("worker %s: import failed; trying again", worker)
            connections.close_all()  # a connection that failed is not used again
            stop.wait(settings.OMNITRON_WORKER_POLL_SECONDS)
    connections.close_all()


def run_next(worker: str, stop=None) -> bool:
    """Claims an import and runs it; whether there was one."""
    record = claim(worker)
    if record is None:
        return False
    logger.info("worker %s: import %s", worker, record.pk)
    process(record, worker, stop=stop)
    return True


class OverLimit(Exception):
    """An upload larger than allowed."""


def store(stream, limit: int) -> tuple[uuid.UUID, int, bytes]:
    """Copies an upload into chunks in the database, each committed alone (a long upload holds no transaction open);
    (upload id, size, its first chunk). Past `limit` bytes raises OverLimit, leaving nothing behind."""
    upload, seq, size, head = uuid.uuid4(), 0, 0, b""
    try:
        while data := stream.read(CHUNK_BYTES):
            while len(data) < CHUNK_BYTES and (more := stream.read(CHUNK_BYTES - len(data))):
                data += more  # whole chunks: a stream may answer less than asked
            size += len(data)
            if size > limit:
                raise OverLimit(size)
            if seq == 0:
                head = data
            ImportChunk.objects.create(upload=upload, seq=seq, data=data)
            seq += 1
    except BaseException:
        discard(upload)
        raise
    return upload, size, head


FORMAT_OF_EXTENSION = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(filename: str) -> str | None:
    """A file's format by its name's extension (the admin's upload, `omnitron import_customers`)."""
    return next((f for ext, f in FORMAT_OF_EXTENSION.items() if filename.lower().endswith(ext)), None)


def report_lines(record: Import) -> Iterator[bytes]:
    """The import's report, batch by batch in the file's order, each read by one query keyed on its first line (no
    cursor held between them): what the API's `report/`, the admin and the command stream."""
    after = 0
    while batch := list(
        ImportReport.objects.filter(run=record, first_line__gt=after)
        .order_by("first_line")
        .values_list("first_line", "lines")[:20]
    ):
        for first_line, text in batch:
            yield text.encode()
            after = first_line


def discard(upload) -> None:
    ImportChunk.objects.filter(upload=upload).delete()


def purge(now=None) -> tuple[int, int]:
    """Deletes the imports that ended more than OMNITRON_IMPORT_RETENTION_DAYS ago (their reports with them), and the
    chunks of uploads a day old that no import holds (a server that stopped mid-upload); how many of each."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.OMNITRON_IMPORT_RETENTION_DAYS)
    ended = Import.objects.filter(status__in=[Import.SUCCEEDED, Import.FAILED], finished_date__lt=cutoff)
    imports = ended.count()
    ended.delete()
    abandoned = ImportChunk.objects.filter(created_date__lt=now - datetime.timedelta(days=1)).exclude(
        upload__in=Import.objects.values("upload")
    )
    chunks, _ = abandoned.delete()
    return imports, chunks
