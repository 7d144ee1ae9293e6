import pytest
from django.contrib.auth import get_user_model

from tests.factories import RefundFactory


@pytest.fixture
def admin_client_(client, db):
    admin = get_user_model().objects.create_superuser("boss", password="pw-boss-123")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    ("model", "search", "list_filter"),
    [
        ("customers/customer", "customer", "is_active__exact=1"),
        ("channels/channel", "Channel", "channel_type__exact=web"),
        ("orders/order", "ORD", "status__exact=200"),
        ("orders/refund", "ORD", ""),
    ],
)
def test_admin_lists_searches_filters_and_edits_every_model(admin_client_, model, search, list_filter):
    refund = RefundFactory()
    objects = {
        "customers/customer": refund.order.customer,
        "channels/channel": refund.order.channel,
        "orders/order": refund.order,
        "orders/refund": refund,
    }
    changelist = f"/admin/{model}/"
    response = admin_client_.get(changelist, {"q": search})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert admin_client_.get(f"{changelist}?{list_filter}").status_code == 200
    assert admin_client_.get(f"{changelist}{objects[model].pk}/change/").status_code == 200


def test_customer_page_shows_orders_info_and_orders(admin_client_):
    refund = RefundFactory()
    response = admin_client_.get(f"/admin/customers/customer/{refund.order.customer_id}/change/")
    page = response.content.decode()
    assert "order count: 1" in page
    assert "refund amount: 10.00" in page
    assert refund.order.number in page


def test_order_page_shows_its_refunds(admin_client_):
    refund = RefundFactory()
    page = admin_client_.get(f"/admin/orders/order/{refund.order_id}/change/").content.decode()
    assert "10.00" in page and "refunds-0-amount" in page


def test_a_saved_change_is_announced_on_the_next_page(admin_client_):
    # The notice travels in the session (MESSAGE_STORAGE), from the save's redirect to the page it leads to.
    channel = RefundFactory().order.channel
    page = f"/admin/channels/channel/{channel.pk}/change/"
    form = admin_client_.get(page).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({"name": "Renamed", "conf": "{}", "schema": "null", "is_active": "on"})
    response = admin_client_.post(page, data, follow=True)
    assert response.redirect_chain, response.context["adminform"].form.errors
    assert "was changed successfully" in response.content.decode()
    assert response.cookies.get("messages") is None
