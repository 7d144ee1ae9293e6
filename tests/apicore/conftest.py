"""Records every read path test reads: customers with and without channel, orders and refunds, odd JSON values."""

from decimal import Decimal

import pytest

from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory


@pytest.fixture
def records(db):
    web, market = ChannelFactory(conf={"url": "https://shop.example.com"}, schema={"k": {"key": "k"}}), ChannelFactory()
    rich = CustomerFactory(
        channel=web,
        phone_number="05550001122",
        erp_code="E-1",
        attributes={"size": {"eu": 42}, "ratio": 0.1, "tiny": 1e-07, "big": 2**70, "text": 'a\u2028b"é'},
        extra_field={"nested": [1, {"x": None}]},
        email_allowed=True,
        gender="female",
        user_type="guest",
        date_of_birth="1990-05-17",
    )
    order = OrderFactory(customer=rich, amount=Decimal("250.00"), discount_amount=Decimal("20.50"))
    RefundFactory(order=order, amount=Decimal("10.25"))
    OrderFactory(customer=rich, amount=Decimal("0.99"))
    plain = CustomerFactory(channel=None, first_name="", last_name="Ö'Brien")
    stranger = CustomerFactory(channel=market)
    return {"web": web, "market": market, "rich": rich, "plain": plain, "stranger": stranger, "order": order}
