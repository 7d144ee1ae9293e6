from django.conf import settings
from django.core.management.base import BaseCommand

from events import services


class Command(BaseCommand):
    help = "Delete the events older than OMNITRON_EVENT_RETENTION_DAYS (30 by default); run it daily, e.g. from cron."

    def handle(self, *args, **options):
        deleted = services.purge()
        days = settings.OMNITRON_EVENT_RETENTION_DAYS
        self.stdout.write(f"Deleted {deleted} events older than {days} days.")
