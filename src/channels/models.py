from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apicore.history import TrackedModel, track_history
from apicore.models import JSONField, VersionedModel


class ChannelType(models.TextChoices):
    HEPSIBURADA = "hepsiburada"
    HEPSIBURADADS = "hepsiburadads"
    GITTIGIDIYOR = "gittigidiyor"
    N11 = "n11"
    WEB = "web"
    FEED = "feed"
    TRENDYOL = "trendyol"
    MORHIPO = "morhipo"
    MORHIPO_V2 = "morhipoV2"
    LIDYANA = "lidyana"
    AMAZON = "amazon"
    ALLEGRO = "allegro"
    DISTRIBUTED = "distributed"
    ALIEXPRESS = "aliexpress"
    EMAG = "emag"
    CICEKSEPETI = "ciceksepeti"
    GORDUMALDIM = "gordumaldim"
    PAZARAMA = "pazarama"
    FLO = "flo"
    TURKCELLDS = "turkcellds"
    SALES_CHANNEL = "sales_channel"


class Channel(TrackedModel, VersionedModel):
    """A sales channel (web shop, marketplace, ...) that customers and orders belong to."""

    name = models.CharField(max_length=255)
    # Same bounds on every database (SQLite's integers are 64-bit, PostgreSQL's integer 32-bit).
    catalog = models.IntegerField(validators=[MinValueValidator(0), MaxValueValidator(2**31 - 1)])
    channel_type = models.CharField(max_length=32, choices=ChannelType.choices)
    conf = JSONField(default=dict, blank=True)
    # The contract types category_tree as a nullable string (see docs/decisions.md).
    category_tree = models.CharField(max_length=255, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    schema = JSONField(null=True, blank=True)
    created_date = models.DateTimeField(auto_now_add=True, db_index=True)
    modified_date = models.DateTimeField(auto_now=True)
    history = track_history()

    class Meta:
        ordering = ("pk",)

    def __str__(self):
        return self.name
