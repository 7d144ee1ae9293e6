"""POST /api/v1/customers/imports/: a CSV or JSON Lines file of customers, validated row by row as the API validates,
written in batches with history and events by the worker, reported per row."""

import csv
import io
import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import Customer
from events.models import Event
from imports import services
from imports.models import Import, ImportChunk
from tests.conftest import grant, token_client
from tests.factories import ChannelFactory, CustomerFactory

pytestmark = pytest.mark.django_db

HEADER = ["email", "channel_code", "first_name", "is_active", "attributes", "channel"]


def csv_body(rows: list[list], header=HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def jsonl_body(rows: list) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def upload(api, body: bytes, content_type="text/csv", **options):
    query = "&".join(f"{name}={value}" for name, value in options.items())
    return api.post(f"/api/v1/customers/imports/?{query}", data=body, content_type=content_type)


def run_import(api, body: bytes, content_type="text/csv", **options) -> tuple[dict, list[dict]]:
    """Uploads, lets a worker run it, and answers the import as GET shows it and its report's lines."""
    response = upload(api, body, content_type, **options)
    assert response.status_code == 202, response.json()
    assert services.run_next("test-worker")
    pk = response.json()["pk"]
    record = api.get(f"/api/v1/customers/imports/{pk}/")
    assert record.status_code == 200
    report = api.get(f"/api/v1/customers/imports/{pk}/report/")
    assert report.status_code == 200 and report["Content-Type"] == "application/jsonl"
    lines = [json.loads(line) for line in b"".join(report.streaming_content).splitlines()]
    return record.json(), lines


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(services, "BATCH_ROWS", 2)


def test_created_updated_and_unchanged_rows(api, small_batches):
    channel = ChannelFactory()
    changed = CustomerFactory(channel=channel, channel_code="a", email="a@example.com", first_name="Old")
    same = CustomerFactory(channel=channel, channel_code="c", email="c@example.com", first_name="Same", is_active=True)
    same_before = api.get(f"/api/v1/customers/{same.pk}/")
    body = csv_body(
        [
            ["a@example.com", "a", "New", "true", '{"size": 42}', channel.pk],
            ["b@example.com", "b", "Bea", "false", "", channel.pk],
            ["c@example.com", "c", "Same", "true", json.dumps(same.attributes), channel.pk],
        ]
    )
    events_before = Event.objects.count()

    record, report = run_import(api, body)

    assert record["status"] == "succeeded"
    assert (record["rows_read"], record["created"], record["updated"], record["unchanged"], record["failed"]) == (
        3,
        1,
        1,
        1,
        0,
    )
    assert record["progress"] == 1.0
    created = Customer.objects.get(channel=channel, channel_code="b")
    assert [(r["line"], r["action"], r["pk"], r["errors"]) for r in report] == [
        (2, "updated", changed.pk, None),
        (3, "created", created.pk, None),
        (4, "unchanged", same.pk, None),
    ]
    changed.refresh_from_db()
    assert (changed.first_name, changed.attributes, changed.is_active) == ("New", {"size": 42}, True)
    assert (created.email, created.first_name, created.is_active, created.attributes) == (
        "b@example.com",
        "Bea",
        False,
        {},
    )
    # The unchanged customer was not written: same version, same answer.
    assert api.get(f"/api/v1/customers/{same.pk}/")["ETag"] == same_before["ETag"]
    # One event per changed row, as the API's own writes record them, and their history.
    events = {e.type: e for e in Event.objects.order_by("pk")[events_before:]}
    assert {(e.type, e.record_id) for e in events.values()} == {
        ("customer.updated", changed.pk),
        ("customer.created", created.pk),
    }
    assert events["customer.created"].data == api.get(f"/api/v1/customers/{created.pk}/").json()
    assert events["customer.created"].version == api.get(f"/api/v1/customers/{created.pk}/")["ETag"]
    history = api.get(f"/api/v1/customers/{created.pk}/history/").json()
    assert len(history) == 1 and history[0]["operation"] == "created"
    assert history[0]["user"] is not None and history[0]["request_id"]
    assert history[0]["changes"]["email"] == {"old": None, "new": "b@example.com"}
    update = api.get(f"/api/v1/customers/{changed.pk}/history/").json()[0]
    assert update["changes"]["first_name"] == {"old": "Old", "new": "New"}


def test_json_lines(api):
    existing = CustomerFactory(channel=None, channel_code="x", first_name="X")
    body = jsonl_body(
        [
            {"email": "n@example.com", "channel_code": "n", "is_active": True, "extra_field": {"k": [1, 2]}},
            {"channel_code": "x", "first_name": "Changed"},
        ]
    )
    record, report = run_import(api, body, "application/jsonl")
    assert (record["created"], record["updated"], record["failed"]) == (1, 1, 0)
    assert Customer.objects.get(channel=None, channel_code="n").extra_field == {"k": [1, 2]}
    existing.refresh_from_db()
    assert existing.first_name == "Changed"
    assert [r["line"] for r in report] == [1, 2]


def test_each_kind_of_row_error_is_reported_with_the_apis_error_and_the_other_rows_land(api):
    channel = ChannelFactory()
    deep = {"a": None}
    for _ in range(40):
        deep = {"a": deep}
    rows = [
        {"channel_code": "no-email", "is_active": True},  # missing field
        {"email": "not an email", "channel_code": "bad-email", "is_active": True},
        {"email": "u@example.com", "channel_code": "no-channel", "is_active": True, "channel": 999999},
        {"email": "nul@example.com", "channel_code": "nul", "first_name": "a\x00b", "is_active": True},
        {"email": "deep@example.com", "channel_code": "deep", "is_active": True, "attributes": deep},
        {"email": "ok@example.com", "channel_code": "ok", "is_active": True, "channel": channel.pk},
        {"email": "again@example.com", "channel_code": "ok", "is_active": True, "channel": channel.pk},
    ]
    record, report = run_import(api, jsonl_body(rows), "application/jsonl")

    assert (record["created"], record["failed"]) == (1, 6)
    assert Customer.objects.filter(channel_code="ok").count() == 1
    for row, line in zip(rows[:5], report[:5], strict=True):
        # The same error the API answers for the same customer, in the same shape.
        assert line["action"] == "failed"
        assert line["errors"] == api.post("/api/v1/customers/", row, format="json").json(), row
    assert report[0]["errors"]["email"] == ["This field is required."]
    assert report[5]["action"] == "created"
    assert report[6]["line"] == 7
    assert report[6]["errors"]["code"] == "duplicate"
    assert "earlier line" in report[6]["errors"]["channel_code"][0]


def test_csv_cells_that_do_not_read_as_their_type(api):
    body = csv_body([["e@example.com", "t", "T", "yes", "{not json", ""]])
    record, report = run_import(api, body)
    assert record["failed"] == 1
    errors = report[0]["errors"]
    assert errors["is_active"] == ["Must be a boolean."]
    assert errors["attributes"][0].startswith("Not valid JSON")


def test_dry_run_writes_nothing_and_reports_the_same(api, small_batches):
    CustomerFactory(channel=None, channel_code="a", first_name="Old")
    rows = [
        {"channel_code": "a", "first_name": "New"},
        {"email": "b@example.com", "channel_code": "b", "is_active": True},
        {"email": "bad", "channel_code": "c", "is_active": True},
    ]
    body = jsonl_body(rows)
    customers, events = list(Customer.objects.values()), Event.objects.count()

    dry, dry_report = run_import(api, body, "application/jsonl", dry_run="true")

    assert list(Customer.objects.values()) == customers and Event.objects.count() == events
    assert dry["dry_run"] is True and (dry["created"], dry["updated"], dry["failed"]) == (1, 1, 1)
    real, real_report = run_import(api, body, "application/jsonl")
    assert (real["created"], real["updated"], real["failed"]) == (1, 1, 1)
    # The same, but for the new customer's id, which only the real import has.
    assert dry_report[1]["pk"] is None and real_report[1]["pk"] is not None
    dry_report[1]["pk"] = real_report[1]["pk"]
    assert dry_report == real_report


def test_atomic_leaves_nothing_on_any_error(api, small_batches):
    CustomerFactory(channel=None, channel_code="a", first_name="Old")
    rows = [{"email": f"n{n}@example.com", "channel_code": f"n{n}", "is_active": True} for n in range(5)]
    rows += [{"channel_code": "a", "first_name": "New"}, {"email": "bad", "channel_code": "z", "is_active": True}]
    customers, events = list(Customer.objects.values()), Event.objects.count()

    record, report = run_import(api, jsonl_body(rows), "application/jsonl", atomic="true")

    assert record["status"] == "failed" and "atomic" in record["error"]
    assert record["failed"] == 1 and report[-1]["action"] == "failed"
    assert list(Customer.objects.values()) == customers and Event.objects.count() == events


def test_atomic_writes_every_row_when_all_pass(api, small_batches):
    rows = [{"email": f"n{n}@example.com", "channel_code": f"n{n}", "is_active": True} for n in range(5)]
    record, report = run_import(api, jsonl_body(rows), "application/jsonl", atomic="true")
    assert record["status"] == "succeeded" and record["created"] == 5
    assert Customer.objects.filter(channel_code__startswith="n").count() == 5
    assert [r["action"] for r in report] == ["created"] * 5 and all(r["pk"] for r in report)


def test_modes(api):
    CustomerFactory(channel=None, channel_code="a")
    body = jsonl_body(
        [{"email": "a@example.com", "channel_code": "a", "is_active": True}, {"email": "b@example.com",
         "channel_code": "b", "is_active": True}]
    )  # fmt: skip
    record, report = run_import(api, body, "application/jsonl", mode="create_only")
    assert (record["created"], record["failed"]) == (1, 1)
    assert report[0]["errors"]["code"] == "unique"
    assert report[0]["errors"]["channel_code"] == [
        "A customer with this channel_code already exists in customers without a channel."
    ]
    body = jsonl_body([{"channel_code": "a", "first_name": "A"}, {"channel_code": "c", "first_name": "C"}])
    record, report = run_import(api, body, "application/jsonl", mode="update_only")
    assert (record["updated"], record["failed"]) == (1, 1)
    assert report[1]["errors"]["code"] == "not_found"
    assert not Customer.objects.filter(channel_code="c").exists()


def test_the_imports_channel(api):
    channel, other = ChannelFactory(), ChannelFactory()
    body = jsonl_body(
        [
            {"email": "a@example.com", "channel_code": "a", "is_active": True},
            {"email": "b@example.com", "channel_code": "b", "is_active": True, "channel": other.pk},
        ]
    )
    record, report = run_import(api, body, "application/jsonl", channel=channel.pk)
    assert (record["channel"], record["created"], record["failed"]) == (channel.pk, 1, 1)
    assert Customer.objects.get(channel_code="a").channel == channel
    assert report[1]["errors"]["channel"] == [f"Must be {channel.pk}, the import's channel, or left out."]


def test_a_truncated_file_fails_its_last_row_only(api):
    body = csv_body([["a@example.com", "a", "A", "true", "{}", ""], ["b@example.com", "b", "B", "true", "{}", ""]])
    cut = body + b'c@example.com,c,"Unclosed'
    record, report = run_import(api, cut)
    assert (record["created"], record["failed"]) == (2, 1)
    assert report[2]["line"] == 4 and report[2]["errors"]["non_field_errors"][0].startswith("Not readable as CSV")
    short = csv_body([["a@example.com", "a", "A", "true", "{}", ""]]) + b"d@example.com,d\r\n"
    record, report = run_import(api, short)
    assert report[-1]["errors"]["non_field_errors"] == ["Has 2 values where the header names 6 columns."]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"email,channel_code,shoe_size\r\na@example.com,a,42\r\n", "text/csv", "unknown column(s) 'shoe_size'"),
        (b"email,email\r\n", "text/csv", "named more than once"),
        (b"", "text/csv", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "text/csv", "not UTF-8"),
        (b'[{"email": "a@example.com"}]\n', "application/jsonl", "Line 1: Must be a JSON object"),
        (b"email: a@example.com\n", "application/jsonl", "Line 1: Not valid JSON"),
        (b"\n\n", "application/jsonl", "The file is empty."),
    ],
)
def test_a_file_that_is_not_what_its_type_says_is_refused(api, body, content_type, expected):
    response = upload(api, body, content_type)
    assert response.status_code == 400
    assert expected in response.json()["detail"]
    assert not Import.objects.exists() and not ImportChunk.objects.exists()


def test_an_oversized_body_is_refused(api, settings):
    settings.OMNITRON_IMPORT_MAX_BYTES = 100
    response = upload(api, csv_body([["a@example.com", f"code-{n}", "A", "true", "{}", ""] for n in range(10)]))
    assert response.status_code == 413
    assert "larger than 100 bytes" in response.json()["detail"]
    assert not ImportChunk.objects.exists()


def test_a_wrong_content_type_is_refused(api):
    response = upload(api, b'{"email": "a@example.com"}', "application/json")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(("name", "value"), [("mode", "merge"), ("dry_run", "maybe"), ("channel", "999999")])
def test_bad_options_are_refused_by_name(api, name, value):
    response = upload(api, csv_body([]), **{name: value})
    assert response.status_code == 400
    assert name in response.json()


def test_permissions(user_without_permissions, anon):
    api = token_client(user_without_permissions)
    body = jsonl_body([{"email": "a@example.com", "channel_code": "a", "is_active": True}])
    assert upload(anon, body, "application/jsonl").status_code == 401
    assert upload(api, body, "application/jsonl").status_code == 403
    grant(user_without_permissions, "add_customer")
    user_without_permissions._perm_cache = None
    api = token_client(user_without_permissions)
    assert upload(api, body, "application/jsonl").status_code == 403  # upsert may change too
    created = upload(api, body, "application/jsonl", mode="create_only")
    assert created.status_code == 202
    assert upload(api, body, "application/jsonl", mode="update_only").status_code == 403
    assert api.get(f"/api/v1/customers/imports/{created.json()['pk']}/").status_code == 403
    grant(user_without_permissions, "view_customer")
    api = token_client(user_without_permissions)
    assert api.get(f"/api/v1/customers/imports/{created.json()['pk']}/").status_code == 200
    assert api.get("/api/v1/customers/imports/999999/").status_code == 404
    assert api.get("/api/v1/customers/imports/x/").status_code == 404


def test_queued_then_listed(api):
    response = upload(api, jsonl_body([{"email": "a@example.com", "channel_code": "a", "is_active": True}]),
                      "application/jsonl")  # fmt: skip
    assert response.status_code == 202
    record = response.json()
    assert record["status"] == "queued" and record["format"] == "jsonl" and record["progress"] == 0.0
    assert response["Location"].endswith(f"/api/v1/customers/imports/{record['pk']}/")
    assert [r["pk"] for r in api.get("/api/v1/customers/imports/").json()] == [record["pk"]]
    assert services.run_next("w") and not services.run_next("w")
    assert api.get(f"/api/v1/customers/imports/{record['pk']}/").json()["status"] == "succeeded"
    assert not ImportChunk.objects.exists()  # the file goes once imported


def test_a_worker_that_dies_mid_import_is_resumed_by_another_after_its_lease(api, small_batches, monkeypatch):
    rows = [{"email": f"n{n}@example.com", "channel_code": f"n{n}", "is_active": True} for n in range(7)]
    pk = upload(api, jsonl_body(rows), "application/jsonl").json()["pk"]
    written = []
    original = services.Importer.batch

    def dies_after_two_batches(self, batch, write):
        if len(written) == 2:
            raise SystemExit("killed")
        original(self, batch, write)
        written.append(batch)

    monkeypatch.setattr(services.Importer, "batch", dies_after_two_batches)
    with pytest.raises(SystemExit):
        services.run_next("first")
    monkeypatch.setattr(services.Importer, "batch", original)
    assert not services.run_next("second")  # its lease holds
    Import.objects.filter(pk=pk).update(lease_until="2000-01-01T00:00:00Z")
    assert services.run_next("second")

    record = api.get(f"/api/v1/customers/imports/{pk}/").json()
    assert (record["status"], record["created"], record["rows_read"]) == ("succeeded", 7, 7)
    assert Customer.objects.filter(channel_code__startswith="n").count() == 7
    report = b"".join(api.get(f"/api/v1/customers/imports/{pk}/report/").streaming_content).splitlines()
    assert [json.loads(line)["line"] for line in report] == list(range(1, 8))
    assert Event.objects.filter(type="customer.created").count() == 7


def test_an_erased_customer_keeps_its_erased_email_unless_restore_erased(api):
    customer = CustomerFactory(channel=None, channel_code="e", email="real@example.com")
    assert api.post(f"/api/v1/customers/{customer.pk}/erase/").status_code == 200
    body = jsonl_body([{"channel_code": "e", "email": "real@example.com"}])
    record, report = run_import(api, body, "application/jsonl")
    assert record["failed"] == 1 and report[0]["errors"]["code"] == "erased"
    record, report = run_import(api, body, "application/jsonl", restore_erased="true")
    assert record["updated"] == 1
    customer.refresh_from_db()
    assert customer.email == "real@example.com" and customer.erased_date is None


def test_the_command(tmp_path, user, capsys):
    path = tmp_path / "customers.csv"
    path.write_bytes(csv_body([["a@example.com", "a", "A", "true", "{}", ""], ["bad", "b", "B", "true", "{}", ""]]))
    report = tmp_path / "report.jsonl"

    call_command("import_customers", str(path), "--dry-run")
    assert not Customer.objects.exists()
    assert "1 created, 0 updated, 0 unchanged, 1 failed (dry run" in capsys.readouterr().out

    call_command("import_customers", str(path), "--report", str(report))
    assert Customer.objects.get(channel_code="a").email == "a@example.com"
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["created", "failed"]
    assert lines[1]["errors"]["email"] == ["Enter a valid email address."]

    with pytest.raises(CommandError, match="unknown column"):
        (tmp_path / "bad.csv").write_bytes(b"nope\r\n1\r\n")
        call_command("import_customers", str(tmp_path / "bad.csv"))
    with pytest.raises(CommandError, match="--format"):
        call_command("import_customers", str(path.rename(tmp_path / "customers.txt")))


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_customers_at_once_lose_no_update(user, monkeypatch):
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    monkeypatch.setattr(services, "BATCH_ROWS", 25)
    codes = [f"c{n}" for n in range(200)]
    Customer.objects.bulk_create(
        [Customer(channel=None, channel_code=code, email=f"{code}@example.com", is_active=True) for code in codes]
    )
    api = token_client(user)
    # Both name every customer, plus new ones both create; each changes its own field.
    first = jsonl_body([{"channel_code": code, "first_name": "F", "email": f"{code}@example.com",
                         "is_active": True} for code in [*codes, "new-1", "new-2"]])  # fmt: skip
    second = jsonl_body([{"channel_code": code, "last_name": "L", "email": f"{code}@example.com",
                          "is_active": True} for code in [*reversed(codes), "new-2", "new-1"]])  # fmt: skip
    for body in (first, second):
        assert upload(api, body, "application/jsonl").status_code == 202

    def work(name):
        try:
            services.run_next(name)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert list(Import.objects.values_list("status", flat=True)) == ["succeeded", "succeeded"]
    assert Customer.objects.count() == 202
    assert set(Customer.objects.values_list("first_name", "last_name")) == {("F", "L")}
    runs = Import.objects.all()
    assert sum(run.created for run in runs) == 2 and sum(run.failed for run in runs) == 0


def test_a_customer_created_meanwhile_is_updated_on_the_batchs_second_try(api, monkeypatch):
    rows = [{"email": "a@example.com", "channel_code": "a", "first_name": "Imported", "is_active": True}]
    pk = upload(api, jsonl_body(rows), "application/jsonl").json()["pk"]
    CustomerFactory(channel=None, channel_code="a", first_name="Other")
    current, existing = services.Importer.current, services.Importer.existing
    reads = []

    def not_there_yet(self, keys):
        reads.append(("current", keys))
        if len(reads) == 1:  # as if read before another writer committed it
            return {}
        return current(self, keys)

    def locked(self, keys, lock=False):
        reads.append(("existing", keys, lock))
        return existing(self, keys, lock)

    monkeypatch.setattr(services.Importer, "current", not_there_yet)
    monkeypatch.setattr(services.Importer, "existing", locked)
    assert services.run_next("w")
    record = api.get(f"/api/v1/customers/imports/{pk}/").json()
    assert (record["created"], record["updated"], record["failed"]) == (0, 1, 0)
    assert Customer.objects.get(channel_code="a").first_name == "Imported"
    # Read, inserted (refused), read again, read locked to update.
    assert reads == [("current", [(None, "a")]), ("current", [(None, "a")]), ("existing", [(None, "a")], True)]


def test_purge_deletes_old_ended_imports_and_abandoned_uploads(settings, capsys):
    import datetime
    import uuid

    from django.utils import timezone

    from imports.models import ImportReport

    settings.OMNITRON_IMPORT_RETENTION_DAYS = 30
    now = timezone.now()
    old = now - datetime.timedelta(days=31)

    def an_import(status, finished, upload=None):
        record = Import.objects.create(
            format="csv", upload=upload or uuid.uuid4(), status=status, finished_date=finished
        )
        ImportReport.objects.create(run=record, first_line=2, lines="{}\n")
        return record

    gone = an_import(Import.SUCCEEDED, old)
    failed_long_ago = an_import(Import.FAILED, old)
    recent = an_import(Import.SUCCEEDED, now)
    queued_upload = uuid.uuid4()
    queued = an_import(Import.QUEUED, None, upload=queued_upload)
    abandoned, fresh = uuid.uuid4(), uuid.uuid4()
    for upload in (abandoned, fresh, queued_upload):
        ImportChunk.objects.create(upload=upload, seq=0, data=b"x")
    ImportChunk.objects.filter(upload__in=[abandoned, queued_upload]).update(
        created_date=now - datetime.timedelta(days=2)
    )

    call_command("purge_imports")

    assert "Deleted 2 imports and 1 chunks" in capsys.readouterr().out
    assert set(Import.objects.values_list("pk", flat=True)) == {recent.pk, queued.pk}
    assert not ImportReport.objects.filter(run__in=[gone.pk, failed_long_ago.pk]).exists()
    assert set(ImportChunk.objects.values_list("upload", flat=True)) == {fresh, queued_upload}
