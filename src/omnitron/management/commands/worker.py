from django.core.management.base import BaseCommand

from webhooks import worker


class Command(BaseCommand):
    help = (
        "Deliver webhooks: POST each webhook's events to it, signed, retried with backoff until they succeed. Run one "
        "or more, on any machines; SIGTERM lets the deliveries in flight finish, then stops."
    )

    def handle(self, *args, **options):
        worker.run()
