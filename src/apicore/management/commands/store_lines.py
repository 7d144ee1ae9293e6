import functools
import sys

from django.core.management.base import BaseCommand, CommandError

from apicore import lines


class Command(BaseCommand):
    help = (
        "Write the stored JSON line (apicore.lines) of every record that has none or a stale one: after an upgrade "
        "that adds them, a change of representation, or rows loaded around the service (COPY). Exports are right "
        "without it, only slower for those records."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1000, help="Records read and written per statement.")

    def handle(self, *args, batch, **options):
        if batch < 1:
            raise CommandError(f"--batch must be at least 1, not {batch}.")
        for model in lines.KEPT:
            name = model._meta.verbose_name_plural
            written = lines.store_missing(model, batch=batch, progress=functools.partial(self.progress, name))
            if sys.stderr.isatty():
                self.stderr.write("")
            self.stdout.write(f"{name}: {written} lines written.")

    def progress(self, name: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            self.stderr.write(f"\r{name}: {done}/{total}", ending="")
