from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from apicore.history import TrackedModel, track_history
from apicore.models import VersionedModel

MONEY = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


class OrderStatus(models.TextChoices):
    CANCELLATION_WAITING = "50", "cancellation_waiting"
    CANCELLED = "100", "cancelled"
    WAITING = "200", "waiting"
    PAYMENT_WAITING = "300", "payment_waiting"
    CONFIRMATION_WAITING = "350", "confirmation_waiting"
    APPROVED = "400", "approved"
    PREPARING = "450", "preparing"
    SHIPPED = "500", "shipped"
    SHIPPED_AND_INFORMED = "510", "shipped_and_informed"
    READY_FOR_PICKUP = "520", "ready_for_pickup"
    ATTEMPTED_DELIVERY = "540", "attempted_delivery"
    REVIEW_STARTED = "544", "review_started"
    REVIEW_WAITING = "545", "review_waiting"
    WAITING_FOR_PAYMENT = "546", "waiting_for_payment"
    PAID = "547", "paid"
    DELIVERED = "550", "delivered"
    REFUNDED = "600", "refunded"


class RefundedAmountField(models.DecimalField):
    """The sum of an order's refunds, kept by the database: triggers on the refunds table add and subtract every
    refund inserted, changed or deleted, whatever writes it (the API, the admin, a bulk load). See migration 0003.

    Django never writes it after the INSERT (an order starts with none): a save writes `refunded_amount =
    refunded_amount`, so an instance read before a refund cannot overwrite the new total with its own.
    """

    def pre_save(self, model_instance, add):
        return ZERO if add else F(self.attname)


class Order(TrackedModel, VersionedModel):
    number = models.CharField(max_length=128)
    channel = models.ForeignKey("channels.Channel", models.PROTECT, related_name="orders")
    # Indexed with the amounts orders_info sums (Meta.indexes).
    customer = models.ForeignKey("customers.Customer", models.PROTECT, related_name="orders", db_index=False)
    date_placed = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=3, choices=OrderStatus.choices, default=OrderStatus.WAITING, db_index=True)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY)
    discount_amount = models.DecimalField(**MONEY, default=ZERO)
    shipping_amount = models.DecimalField(**MONEY, default=ZERO)
    # The database's default serves bulk loads (COPY) that name no value for it.
    refunded_amount = RefundedAmountField(**MONEY, default=ZERO, db_default=ZERO, editable=False)
    created_date = models.DateTimeField(auto_now_add=True, db_index=True)
    modified_date = models.DateTimeField(auto_now=True)
    # Kept by the database (RefundedAmountField): the refunds' own history records its changes.
    history = track_history(excluded_fields=["refunded_amount"])

    class Meta:
        ordering = ("pk",)
        indexes = [
            # A customer's orders with what orders_info sums, on PostgreSQL (SQLite indexes the customer alone): a
            # page's totals read a few index pages, not one table page per order (orders are placed over time, so a
            # customer's lie far apart in the table).
            models.Index(
                fields=["customer"],
                include=["amount", "discount_amount", "refunded_amount"],
                name="order_customer_totals",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["channel", "number"], name="order_number_unique_per_channel"),
            models.CheckConstraint(
                condition=Q(amount__gte=0, discount_amount__gte=0, shipping_amount__gte=0),
                name="order_amounts_not_negative",
            ),
            models.CheckConstraint(condition=Q(discount_amount__lte=F("amount")), name="order_discount_within_amount"),
        ]

    def __str__(self):
        return self.number


class Refund(TrackedModel):
    order = models.ForeignKey(Order, models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    reason = models.TextField(blank=True)
    created_date = models.DateTimeField(auto_now_add=True)
    history = track_history()

    class Meta:
        ordering = ("pk",)
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self):
        return f"{self.amount} for {self.order}"
