from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from rest_framework.exceptions import ValidationError

from orders.models import Order, Refund


@transaction.atomic
def refund_create(*, order: Order, amount: Decimal, reason: str = "") -> Refund:
    """Refund part of an order; its refunds never add up to more than its amount.

    The order row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write transactions are
    exclusive already), so two refunds racing for the last unit are decided one after the other.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    refunded = order.refunds.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    if refunded + amount > order.amount:
        raise ValidationError(
            {"amount": [f"Refunds would exceed the order amount: {order.amount - refunded} is left to refund."]},
            code="max_value",
        )
    refund = Refund.objects.create(order=order, amount=amount, reason=reason)
    order.touch()  # the order's representation (refunded_amount) changed: its ETag must too
    return refund
