import threading

from django.core.management.base import BaseCommand

from apicore import process
from imports import services as imports
from webhooks import worker


class Command(BaseCommand):
    help = (
        "Do the background work: deliver webhooks (POST each webhook's events to it, signed, retried with backoff "
        "until they succeed) and run customer imports. Run one or more, on any machines; SIGTERM lets the deliveries "
        "in flight and the import batch being written finish, then stops."
    )

    def handle(self, *args, **options):
        process.started()
        stop = threading.Event()
        # Imports are CPU-bound batches with a database connection of their own: a thread beside the delivery loop.
        importer = threading.Thread(target=imports.work, args=(f"{worker.worker_name()}:imports", stop), daemon=True)
        importer.start()
        try:
            worker.run(on_stop=stop.set)
        finally:
            stop.set()
            importer.join()
