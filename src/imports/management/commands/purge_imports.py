from django.core.management.base import BaseCommand

from imports import services


class Command(BaseCommand):
    help = (
        "Delete the imports that ended more than OMNITRON_IMPORT_RETENTION_DAYS ago, with their reports, and the "
        "chunks of uploads a day old that no import holds (a server that stopped mid-upload). Run it daily."
    )

    def handle(self, *args, **options):
        imports, chunks = services.purge()
        self.stdout.write(f"Deleted {imports} imports and {chunks} chunks of abandoned uploads.")
