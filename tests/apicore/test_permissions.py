"""Django model permissions decide what a token may do: view, add, change, delete, per model."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import grant, token_client
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory

CHANNEL = {"name": "Web", "catalog": 1, "channel_type": "web", "conf": {}, "is_active": True}
CUSTOMER = {"email": "a@example.com", "channel_code": "a-1", "is_active": True, "email_allowed": False,
            "sms_allowed": False, "call_allowed": False}  # fmt: skip


@pytest.fixture
def objects(db) -> dict:
    channel = ChannelFactory()
    order = OrderFactory(customer=CustomerFactory(channel=channel))
    return {
        "channel": channel,
        "customer": order.customer,
        "order": order,
        # A customer with orders and a channel with customers cannot be deleted: the deletes get their own.
        "deletable customers": CustomerFactory.create_batch(2, channel=channel),
        "deletable channel": ChannelFactory(),
    }


def operations(objects) -> list[tuple[str, str, str, dict | None, int]]:
    """(permission needed, method, path, body, status once permitted) for every operation of the API."""
    channel, customer, order = objects["channel"].pk, objects["customer"].pk, objects["order"].pk
    deletable, deletable_in_channel = (row.pk for row in objects["deletable customers"])
    return [
        ("view_customer", "get", "/api/v1/customers/", None, 200),
        ("view_customer", "get", "/api/v1/customers/detailed/", None, 200),
        ("view_customer", "get", f"/api/v1/customers/{customer}/", None, 200),
        ("view_customer", "get", f"/api/v1/customers/{customer}/detailed/", None, 200),
        ("view_customer", "head", f"/api/v1/customers/{customer}/", None, 200),
        ("view_customer", "options", "/api/v1/customers/", None, 200),
        ("add_customer", "post", "/api/v1/customers/", CUSTOMER, 201),
        ("change_customer", "patch", f"/api/v1/customers/{customer}/", {"first_name": "X"}, 200),
        ("change_customer", "put", f"/api/v1/customers/{customer}/", {**CUSTOMER, "channel": channel}, 200),
        ("delete_customer", "delete", f"/api/v1/customers/{deletable}/", None, 204),
        ("view_customer", "get", f"/api/v1/channel/{channel}/customers/", None, 200),
        ("view_customer", "get", f"/api/v1/channel/{channel}/customers/{customer}/detailed/", None, 200),
        ("add_customer", "post", f"/api/v1/channel/{channel}/customers/", {**CUSTOMER, "channel_code": "a-2"}, 201),
        ("change_customer", "patch", f"/api/v1/channel/{channel}/customers/{customer}/", {"first_name": "X"}, 200),
        ("delete_customer", "delete", f"/api/v1/channel/{channel}/customers/{deletable_in_channel}/", None, 204),
        ("view_channel", "get", "/api/v1/channels/", None, 200),
        ("view_channel", "get", f"/api/v1/channels/{channel}/", None, 200),
        ("add_channel", "post", "/api/v1/channels/", CHANNEL, 201),
        ("change_channel", "patch", f"/api/v1/channels/{channel}/", {"name": "Shop"}, 200),
        ("delete_channel", "delete", f"/api/v1/channels/{objects['deletable channel'].pk}/", None, 204),
        ("view_order", "get", "/api/v1/orders/", None, 200),
        ("view_order", "get", f"/api/v1/orders/{order}/", None, 200),
        ("change_order", "patch", f"/api/v1/orders/{order}/", {"currency": "EUR"}, 200),
        ("view_refund", "get", f"/api/v1/orders/{order}/refunds/", None, 200),
        ("add_refund", "post", f"/api/v1/orders/{order}/refunds/", {"amount": "1.00"}, 201),
    ]


def call(client, method: str, path: str, body):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


def test_without_permissions_every_operation_answers_403_json(objects, api_without_permissions):
    for _, method, path, body, _ in operations(objects):
        response = call(api_without_permissions, method, path, body)
        assert response.status_code == 403, (method, path)
        if method != "head":
            assert response.json() == {
                "detail": "You do not have permission to perform this action.",
                "code": "permission_denied",
            }


@pytest.mark.parametrize("index", range(25))
def test_each_operation_needs_exactly_its_permission(objects, index):
    needed, method, path, body, succeeded = operations(objects)[index]
    others = get_user_model().objects.create_user("others")
    model = needed.split("_", 1)[1]
    grant(others, *{f"{action}_{model}" for action in ("view", "add", "change", "delete")} - {needed})
    assert call(token_client(others), method, path, body).status_code == 403

    holder = get_user_model().objects.create_user("holder")
    grant(holder, needed)
    response = call(token_client(holder), method, path, body)
    assert response.status_code == succeeded, response.content


def test_a_nested_route_answers_403_before_looking_up_its_parent(api_without_permissions):
    assert api_without_permissions.get("/api/v1/channel/999999/customers/").status_code == 403
    assert api_without_permissions.get("/api/v1/orders/999999/refunds/").status_code == 403


def test_a_superuser_may_do_everything(objects):
    admin = get_user_model().objects.create_superuser("boss", password=None)
    client = token_client(admin)
    # In this order the operations leave each other what they need (a free channel_code, say).
    for _, method, path, body, succeeded in operations(objects):
        response = call(client, method, path, body)
        assert response.status_code == succeeded, (method, path, response.content)


def test_permissions_through_a_group_count(objects):
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="readers")
    group.permissions.add(Permission.objects.get(codename="view_customer"))
    reader = get_user_model().objects.create_user("reader")
    reader.groups.add(group)
    client = token_client(reader)
    assert client.get("/api/v1/customers/").status_code == 200
    assert client.get("/api/v1/channels/").status_code == 403


def test_active_user_needs_only_a_token(api_without_permissions, user_without_permissions):
    response = api_without_permissions.get("/api/v1/active_user/")
    assert response.status_code == 200
    assert response.json()["username"] == user_without_permissions.username


def test_no_token_is_still_401_not_403(anon):
    response = anon.get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_the_permission_check_costs_one_query(api):
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/customers/999/").status_code == 404
    # the token (joined with its user), the user's permissions (own and groups' in one), the customer
    assert len(queries) == 3
