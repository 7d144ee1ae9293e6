from decimal import Decimal

from django.db import transaction
from rest_framework.exceptions import ValidationError

from events import services as events
from orders.models import Order, Refund


@transaction.atomic
def refund_create(*, order: Order, amount: Decimal, reason: str = "") -> Refund:
    """Refund part of an order; its refunds never add up to more than its amount.

    The order row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write transactions are
    exclusive already), so two refunds racing for the last unit are decided one after the other.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    # The locked row's total of refunds (kept by the database, orders.models.RefundedAmountField) is current.
    left = order.amount - order.refunded_amount
    if amount > left:
        raise ValidationError(
            {"amount": [f"Refunds would exceed the order amount: {left} is left to refund."]},
            code="max_value",
        )
    refund = Refund.objects.create(order=order, amount=amount, reason=reason)
    order.touch()  # the order's representation (refunded_amount) changed: its ETag must too
    events.record_kept_by_database(order, ["refunded_amount"])  # and the feed says so (`order.updated`)
    return refund
