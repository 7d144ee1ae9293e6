import time

from django.core.management.base import BaseCommand, CommandError

from customers.models import Customer
from omnitron import demo


class Command(BaseCommand):
    help = "Load deterministic, realistic demo data: channels, customers, orders and partial refunds."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000)
        parser.add_argument(
            "--orders-per-customer", type=float, default=3.0, help="on average; some customers get none"
        )
        parser.add_argument("--channels", type=int, default=5)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--if-empty", action="store_true", help="do nothing when customers exist already")

    def handle(self, *args, customers, orders_per_customer, channels, seed: int, if_empty, **options):
        if customers < 0 or orders_per_customer < 0 or channels < 1:
            raise CommandError("--customers and --orders-per-customer must not be negative, --channels at least 1")
        if if_empty and Customer.objects.exists():
            self.stdout.write("Customers exist already; nothing loaded.")
            return
        started = time.monotonic()
        counts = demo.seed(
            customers=customers, orders_per_customer=orders_per_customer, channels=channels, seed=seed,
            log=lambda line: self.stdout.write(f"  {line}"),
        )  # fmt: skip
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        self.stdout.write(f"Loaded {summary} in {time.monotonic() - started:.1f}s.")
