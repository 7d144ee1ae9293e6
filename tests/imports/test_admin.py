"""The admin: the customers' list links to an import upload (with dry run and the report) and exports the list as
filtered."""

import csv
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from customers.models import Customer
from imports import services
from imports.models import Import
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    client.force_login(get_user_model().objects.create_superuser("boss", password="pw-boss-123"))
    return client


def test_the_customers_list_links_to_import_and_export(admin_client_):
    page = admin_client_.get("/admin/customers/customer/?is_active__exact=1").content.decode()
    assert 'href="/admin/imports/import/add/"' in page
    assert 'href="/admin/customers/customer/export/?is_active__exact=1"' in page


def test_export_of_the_filtered_list(admin_client_):
    active = CustomerFactory(is_active=True, first_name="Ayşe")
    CustomerFactory(is_active=False)
    response = admin_client_.get("/admin/customers/customer/export/?is_active__exact=1")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(int(r["pk"]), r["first_name"], r["is_active"]) for r in rows] == [(active.pk, "Ayşe", "true")]


def test_upload_with_dry_run_then_the_report(admin_client_):
    body = b"email,channel_code,is_active\r\na@example.com,a,true\r\nbad,b,true\r\n"
    response = admin_client_.post(
        "/admin/imports/import/add/",
        {"file": SimpleUploadedFile("customers.csv", body), "dry_run": "on", "mode": "upsert"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    record = Import.objects.get()
    assert (record.format, record.dry_run, record.size, record.status) == ("csv", True, len(body), "queued")
    assert services.run_next("w")
    assert not Customer.objects.exists()
    page = admin_client_.get(f"/admin/imports/import/{record.pk}/change/").content.decode()
    assert "succeeded" in page and "Download the report" in page
    report = admin_client_.get(f"/admin/imports/import/{record.pk}/report/")
    lines = [json.loads(line) for line in b"".join(report.streaming_content).splitlines()]
    assert [(line["action"], line["errors"]) for line in lines] == [
        ("created", None),
        ("failed", {"email": ["Enter a valid email address."], "code": "invalid"}),
    ]


def test_a_file_that_cannot_be_imported_is_refused_on_the_form(admin_client_):
    response = admin_client_.post(
        "/admin/imports/import/add/", {"file": SimpleUploadedFile("c.csv", b"shoe_size\r\n42\r\n"), "mode": "upsert"}
    )
    assert response.status_code == 200
    assert "unknown column(s) &#x27;shoe_size&#x27;" in response.content.decode()
    response = admin_client_.post(
        "/admin/imports/import/add/", {"file": SimpleUploadedFile("c.xlsx", b"PK"), "mode": "upsert"}
    )
    assert "Upload a .csv or .jsonl file." in response.content.decode()
    assert not Import.objects.exists()


def test_staff_without_customer_permissions_cannot_import(client):
    staff = get_user_model().objects.create_user("staff", password="pw-staff-123", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/imports/import/add/").status_code == 403
    assert client.get("/admin/customers/customer/export/").status_code == 403
