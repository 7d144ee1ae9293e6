from django.core.management.base import BaseCommand

from apicore.idempotency import TTL, purge_expired


class Command(BaseCommand):
    help = f"Delete the Idempotency-Key records older than {TTL} (run it from cron, e.g. hourly)."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {purge_expired()} expired idempotency keys.")
