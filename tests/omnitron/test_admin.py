from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model

from orders.models import Refund
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory


@pytest.fixture
def admin_client_(client, db):
    admin = get_user_model().objects.create_superuser("boss", password="pw-boss-123")
    client.force_login(admin)
    return client


class PostedForm(HTMLParser):
    """What a browser posts from a page's form fields as rendered: the stored values, unchanged."""

    def __init__(self, page: str):
        super().__init__()
        self.data: dict[str, str] = {}
        self._select = self._textarea = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.data[name] = attrs.get("value") or ("on" if attrs.get("type") == "checkbox" else "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and (self._select not in self.data or "selected" in attrs):
            self.data[self._select] = attrs.get("value", "")  # the first option unless one is selected
        elif tag == "textarea":
            self._textarea, self.data[name] = name, ""

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            # A browser drops the newline that starts a textarea's content.
            self.data[self._textarea] = self.data[self._textarea].removeprefix("\n")
        if tag in ("select", "textarea"):
            self._select = self._textarea = None


def refund_in(*, name: str, active: bool, channel_type: str, status: str, amount: str) -> Refund:
    channel = ChannelFactory(name=name, channel_type=channel_type)
    customer = CustomerFactory(email=f"{name}@example.com", channel=channel, is_active=active)
    return RefundFactory(order=OrderFactory(number=name, customer=customer, status=status), amount=amount)


# Per model: a filter its changelist offers (refunds have no sidebar: a field of theirs in the query string), and a
# field to edit with its new value.
ADMINS = {
    "customers/customer": ("is_active__exact=1", "first_name", "Edited"),
    "channels/channel": ("channel_type__exact=web", "name", "Edited"),
    "orders/order": ("status__exact=200", "number", "Edited"),
    "orders/refund": ("amount=10.00", "reason", "Edited"),
}


@pytest.mark.parametrize("model", ADMINS)
def test_admin_lists_searches_filters_and_edits_every_model(admin_client_, model):
    wanted = refund_in(name="wanted", active=True, channel_type="web", status="200", amount="10.00")
    refund_in(name="other", active=False, channel_type="trendyol", status="400", amount="20.00")
    row = {
        "customers/customer": wanted.order.customer,
        "channels/channel": wanted.order.channel,
        "orders/order": wanted.order,
        "orders/refund": wanted,
    }[model]
    list_filter, field, value = ADMINS[model]
    changelist = f"/admin/{model}/"

    # Each "wanted" row has the word in a searched field (refunds: their order's number).
    for query in ("?q=wanted", f"?{list_filter}"):
        response = admin_client_.get(f"{changelist}{query}")
        assert response.status_code == 200
        assert [shown.pk for shown in response.context["cl"].result_list] == [row.pk], query

    page = f"{changelist}{row.pk}/change/"
    data = PostedForm(admin_client_.get(page).content.decode()).data | {field: value}
    response = admin_client_.post(page, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert getattr(type(row).objects.get(pk=row.pk), field) == value


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
