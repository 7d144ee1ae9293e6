import datetime
import sys
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models.functions import Now
from django.utils import timezone

from channels.models import Channel
from imports import services
from imports.models import Import


class Command(BaseCommand):
    help = (
        "Import customers from a CSV or JSON Lines file, here and now, as POST /api/v1/customers/imports/ does in "
        "the background: validated as the API validates, written with history and events, reported per row."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv or .jsonl file")
        parser.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file's extension")
        parser.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
        parser.add_argument("--mode", choices=["upsert", "create_only", "update_only"], default="upsert")
        parser.add_argument("--atomic", action="store_true", help="all rows or none")
        parser.add_argument("--restore-erased", action="store_true", help="let rows give erased customers an email")
        parser.add_argument("--channel", type=int, help="rows without a channel go to this one")
        parser.add_argument("--report", help="write the report (a JSON line per row) to this file")

    def handle(self, *args, file, format, dry_run, mode, atomic, restore_erased, channel, report, **options):
        format_ = format or services.format_of(file)
        if format_ is None:
            raise CommandError("Say --format csv or --format jsonl: the file's extension does not tell.")
        if channel is not None and not Channel.objects.filter(pk=channel).exists():
            raise CommandError(f"No channel {channel}.")
        try:
            with open(file, "rb") as stream:
                size = stream.seek(0, 2)
                head = stream.seek(0) or stream.read(services.CHUNK_BYTES)
        except OSError as error:
            raise CommandError(str(error)) from None
        try:
            services.check_start(head, format_, complete=size <= len(head))
        except services.FileProblem as problem:
            raise CommandError(str(problem)) from None
        # Claimed by this command, renewed at each batch; a worker that finds it abandoned fails it (services.process).
        lease = datetime.timedelta(seconds=settings.OMNITRON_IMPORT_LEASE_SECONDS)
        worker = f"import_customers:{uuid.uuid4().hex[:8]}"
        record = Import.objects.create(
            format=format_, dry_run=dry_run, mode=mode, atomic=atomic, restore_erased=restore_erased,
            channel_id=channel, size=size, upload=uuid.uuid4(), status=Import.RUNNING, worker=worker,
            started_date=timezone.now(), lease_until=Now() + lease,
        )  # fmt: skip
        record = services.process(record, worker, stream=lambda: open(file, "rb"), progress=self.progress)
        sys.stderr.write("\n")
        if report:
            with open(report, "w") as out:
                for lines in services.report_lines(record):
                    out.write(lines.decode())
        self.stdout.write(
            f"Import {record.pk} {record.status}: {record.rows_read} rows read, {record.created} created, "
            f"{record.updated} updated, {record.unchanged} unchanged, {record.failed} failed"
            + (" (dry run: nothing written)" if dry_run else "")
        )
        if record.status == Import.FAILED:
            raise CommandError(record.error)

    def progress(self, record, counts):
        share = record.bytes_done / record.size if record.size else 1
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r[{bar:<30}] {share:6.1%}  line {record.lines_done}")
        sys.stderr.flush()
