from django.db import models
from django.db.models import Q

from apicore.history import TrackedModel, track_history
from apicore.lines import StoredLine
from apicore.models import JSONField, VersionedModel


class Gender(models.TextChoices):
    MALE = "male"
    FEMALE = "female"


class UserType(models.TextChoices):
    GUEST = "guest"
    REGISTERED = "registered"


class Customer(TrackedModel, VersionedModel):
    # No index of its own: the (channel, channel_code) unique constraint leads with it.
    channel = models.ForeignKey(
        "channels.Channel", models.PROTECT, null=True, blank=True, related_name="customers", db_index=False
    )
    # The customer's identifier inside its channel (unique there), or among customers without a channel.
    channel_code = models.CharField(max_length=64)
    email = models.EmailField()
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    phone_number = models.CharField(max_length=128, null=True, blank=True)
    is_active = models.BooleanField(default=False)
    erp_code = models.CharField(max_length=64, null=True, blank=True)
    attributes = JSONField(default=dict, blank=True)
    attribute_kwargs = JSONField(default=dict, blank=True)
    localized_attributes = JSONField(default=dict, blank=True)
    localized_attribute_kwargs = JSONField(default=dict, blank=True)
    extra_field = JSONField(default=dict, blank=True)
    email_allowed = models.BooleanField(default=False)
    sms_allowed = models.BooleanField(default=False)
    call_allowed = models.BooleanField(default=False)
    date_joined = models.DateTimeField(null=True, blank=True)
    gender = models.CharField(max_length=8, choices=Gender.choices, null=True, blank=True)
    user_type = models.CharField(max_length=16, choices=UserType.choices, null=True, blank=True)
    date_of_birth = models.DateField(null=True, blank=True, db_index=True)
    created_date = models.DateTimeField(auto_now_add=True)
    modified_date = models.DateTimeField(auto_now=True)
    # When its personal data was erased (privacy.services.erase); null while it holds real data. Not in the API's
    # representation (the contract's fields are fixed) nor in the history (it is the erase's state, not the person's).
    erased_date = models.DateTimeField(null=True, editable=False)
    history = track_history(excluded_fields=["erased_date"])

    class Meta:
        ordering = ("pk",)
        # Not implied by delete_customer: erasing keeps the record and its orders, and is granted on its own.
        permissions = [("erase_customer", "Can erase a customer's personal data")]
        constraints = [
            models.UniqueConstraint(fields=["channel", "channel_code"], name="customer_channel_code_unique"),
            # NULL channels are distinct in a plain unique constraint, hence the second, partial one.
            models.UniqueConstraint(
                fields=["channel_code"], condition=Q(channel__isnull=True), name="customer_code_unique_without_channel"
            ),
        ]
        indexes = [
            models.Index(fields=["channel_code"], name="customer_channel_code_idx"),
            # Dates with the id: a range's matching ids come from the index alone (apicore.pagination reads a
            # narrow range's page that way), and `sort=created_date` (the id breaks ties) walks it in order.
            models.Index(fields=["created_date", "id"], name="customer_created_date_id_idx"),
            models.Index(fields=["date_joined", "id"], name="customer_date_joined_id_idx"),
            models.Index(fields=["phone_number"], name="customer_phone_number_idx"),
            models.Index(fields=["gender"], name="customer_gender_idx"),
            models.Index(fields=["user_type"], name="customer_user_type_idx"),
            # The list filters `email_allowed`, `sms_allowed`, `call_allowed`.
            models.Index(fields=["email_allowed"], name="customer_email_allowed_idx"),
            models.Index(fields=["sms_allowed"], name="customer_sms_allowed_idx"),
            models.Index(fields=["call_allowed"], name="customer_call_allowed_idx"),
        ]

    def __str__(self):
        return self.email


def erased_email(pk: int) -> str:
    """The email an erased customer is left with: unique to it, and in a reserved domain nothing is ever sent to."""
    return f"erased-{pk}@invalid.example"


class CustomerLine(StoredLine):
    """The customer's JSON line as the export writes it (apicore.lines), kept by every write of the customer."""

    customer = models.OneToOneField(Customer, models.CASCADE, primary_key=True, related_name="stored_line")
