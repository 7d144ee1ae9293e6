"""Stored lines (apicore.lines): each customer's JSON line kept by the writes that change it, exported while it is the
record's, and never once it is not (another version, another representation)."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apicore import export, lines
from apicore.renderers import JSONRenderer
from customers.models import Customer, CustomerLine
from customers.serializers import CustomerSerializer
from tests.factories import ChannelFactory, CustomerFactory
from tests.imports.test_import import run_import

EXPORT = "/api/v1/customers/export/"
RENDERER = JSONRenderer()


def rendered(customer) -> str:
    """The customer's line as the API renders its record now."""
    customer = Customer.objects.get(pk=customer.pk if hasattr(customer, "pk") else customer)
    return RENDERER.render(CustomerSerializer(customer).data).decode()


def assert_current(pk) -> None:
    """The customer's stored line is its record as the API answers it, at its version, in today's form."""
    line = CustomerLine.objects.get(pk=pk)
    customer = Customer.objects.get(pk=pk)
    assert (line.version, line.form) == (customer.version, lines.form(CustomerSerializer))
    assert line.text == rendered(customer)


def exported(client, **params) -> list[str]:
    response = client.get(EXPORT, params)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode().split("\n")[:-1]


def test_every_write_through_the_api_keeps_the_line(api):
    channel = ChannelFactory()
    body = {"email": "a@example.com", "channel_code": "a", "is_active": True, "channel": channel.pk}
    pk = api.post("/api/v1/customers/", body, format="json").json()["pk"]
    assert_current(pk)
    api.patch(f"/api/v1/customers/{pk}/", {"first_name": "Ayşe", "attributes": {"k": [1, 2.5]}}, format="json")
    assert_current(pk)
    api.put(f"/api/v1/customers/{pk}/", {**body, "last_name": "Yilmaz"}, format="json")
    assert_current(pk)
    api.patch(f"/channel/{channel.pk}/customers/{pk}/", {"erp_code": "E1"}, format="json")
    assert_current(pk)
    assert api.delete(f"/api/v1/customers/{pk}/").status_code == 204
    assert not CustomerLine.objects.filter(pk=pk).exists()


def test_a_save_of_the_model_keeps_the_line(db):
    customer = CustomerFactory(extra_field={"oran": 0.00001, "büyük": 2**70})  # small float, long number
    assert_current(customer.pk)
    customer.first_name = "Değişti"
    customer.save()
    assert_current(customer.pk)


def test_an_import_keeps_the_lines_of_what_it_creates_and_updates(api, settings):
    settings.OMNITRON_IMPORT_PROCESSES = 1
    channel = ChannelFactory()
    kept = CustomerFactory(channel=channel, channel_code="old", first_name="Eski")
    rows = f"email,channel_code,is_active,first_name,channel\nnew@example.com,new,true,Yeni,{channel.pk}\n"
    rows += f"kept@example.com,old,true,Güncel,{channel.pk}\n"
    record, _ = run_import(api, rows.encode())
    assert (record["created"], record["updated"]) == (1, 1)
    for customer in Customer.objects.all():
        assert_current(customer.pk)
    assert Customer.objects.get(pk=kept.pk).first_name == "Güncel"


def test_the_export_answers_the_stored_line_while_it_is_the_records(api):
    """The stored text is what goes out (so a line that were wrong would show): only at the record's version and in
    today's form; otherwise the record is built from its columns."""
    customers = [CustomerFactory(first_name=f"n{n}") for n in range(4)]
    marked = '{"pk":%d,"stored":true}'
    CustomerLine.objects.filter(pk=customers[0].pk).update(text=marked % customers[0].pk)
    CustomerLine.objects.filter(pk=customers[1].pk).update(text=marked % customers[1].pk, version=F("version") - 1)
    CustomerLine.objects.filter(pk=customers[2].pk).update(text=marked % customers[2].pk, form="0" * 16)
    CustomerLine.objects.filter(pk=customers[3].pk).delete()
    expected = [marked % customers[0].pk, *(rendered(customer) for customer in customers[1:])]
    assert exported(api) == expected


def test_a_write_around_the_model_that_bumps_the_version_makes_the_line_stale(api):
    customer = CustomerFactory(first_name="Önce")
    Customer.objects.filter(pk=customer.pk).update(first_name="Sonra", version=F("version") + 1)
    assert exported(api) == [rendered(customer)]
    assert json.loads(exported(api)[0])["first_name"] == "Sonra"


def test_another_time_zone_is_another_form(api, settings):
    """Date-times are written in the current time zone: lines written in one are not answered in another."""
    settings.TIME_ZONE = "UTC"
    customer = CustomerFactory()
    with timezone.override("Europe/Istanbul"):
        assert lines.form(CustomerSerializer) != CustomerLine.objects.get(pk=customer.pk).form
        body = b"".join(export.Export(Customer.objects.all(), CustomerSerializer, "jsonl").chunks()).decode()
        assert body == RENDERER.render(CustomerSerializer(Customer.objects.get()).data).decode() + "\n"
        assert "+03:00" in body


@pytest.mark.parametrize("batch", [1, 2, 500])
def test_fresh_missing_and_stale_lines_mixed_in_a_batch_keep_the_order(api, monkeypatch, batch):
    monkeypatch.setattr(export, "BATCH_SIZE", batch)
    customers = [CustomerFactory(first_name=f"n{n}") for n in range(7)]
    CustomerLine.objects.filter(pk__in=[c.pk for c in customers[1::3]]).delete()
    Customer.objects.filter(pk__in=[c.pk for c in customers[2::3]]).update(last_name="x", version=F("version") + 1)
    assert exported(api) == [rendered(customer) for customer in customers]
    assert exported(api, sort="-first_name") == [rendered(customer) for customer in reversed(customers)]


def test_a_batch_of_current_lines_is_one_query_reading_no_record_column(api, monkeypatch):
    monkeypatch.setattr(export, "BATCH_SIZE", 2)
    for n in range(5):
        CustomerFactory(first_name=f"n{n}")
    with CaptureQueriesContext(connection) as queries:
        assert len(exported(api)) == 5
    reads = [query["sql"] for query in queries.captured_queries if '"customers_customer"' in query["sql"]]
    assert len(reads) == 3
    assert all('FROM "customers_customerline"' in sql and '"email"' not in sql for sql in reads)


def test_store_lines_writes_the_missing_and_stale_ones(db, capsys):
    customers = [CustomerFactory(first_name=f"n{n}") for n in range(5)]
    CustomerLine.objects.filter(pk=customers[0].pk).delete()
    Customer.objects.filter(pk=customers[1].pk).update(first_name="x", version=F("version") + 1)
    CustomerLine.objects.filter(pk=customers[2].pk).update(form="0" * 16, text="{}")
    call_command("store_lines", batch=2)
    assert "customers: 3 lines written." in capsys.readouterr().out
    for customer in customers:
        assert_current(customer.pk)
    call_command("store_lines")
    assert "customers: 0 lines written." in capsys.readouterr().out


def test_store_lines_refuses_a_batch_below_one(db):
    with pytest.raises(CommandError, match="--batch must be at least 1, not 0"):
        call_command("store_lines", batch=0)


def test_a_detailed_or_csv_export_does_not_read_lines(api):
    CustomerFactory()
    CustomerLine.objects.update(text="{}")
    assert exported(api, detailed="true") != ["{}"]
    assert "{}" not in exported(api, format="csv")
