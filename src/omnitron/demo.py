"""Deterministic, realistic demo data for `omnitron seed_demo`: channels, customers, orders and refunds.

Rows are generated as plain tuples and written in bulk: PostgreSQL's COPY (with the tables' secondary indexes
dropped during the load and rebuilt once after it), or batched INSERTs on SQLite. The same seed gives the same
data on both.
"""

import datetime as dt
import json
import random
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from django.db import connection, models, transaction

from channels.models import Channel, ChannelType
from customers.models import Customer
from orders.models import Order, OrderStatus, Refund

__all__ = ["seed"]

FIRST_NAMES = (
    "Ahmet Mehmet Mustafa Ali Hüseyin Hasan İbrahim Murat Emre Can Burak Deniz Elif Zeynep Ayşe Fatma Emine Merve "
    "Özge Selin Ece Büşra Şeyma Çağla Gökhan Tolga Umut Yusuf Kerem Onur John Maria Anna Lucas Sofia Liam Emma Noah"
).split()
LAST_NAMES = (
    "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan Kılıç Aslan Çetin Kara Koç "
    "Kurt Özkan Şimşek Polat Korkmaz Smith Müller García Rossi Novak Silva"
).split()
DOMAINS = ("example.com", "mail.example.org", "shop.example.net", "posta.example.com.tr", "inbox.example.io")
CITIES = ("İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Konya", "Adana", "Berlin", "London", "Madrid")
COLORS = ("black", "white", "red", "navy", "green", "beige", "grey")
SEGMENTS = ("vip", "regular", "new", "churn_risk", "wholesale")
SOURCES = ("web", "app", "store", "callcenter", "marketplace")
CURRENCIES = ("TRY", "TRY", "TRY", "EUR", "USD")
STATUSES = [status.value for status in OrderStatus]
START = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
SPAN_SECONDS = int((dt.datetime(2026, 1, 1, tzinfo=dt.UTC) - START).total_seconds())
CENTS = Decimal("0.01")


def _moment(rng: random.Random) -> dt.datetime:
    return START + dt.timedelta(seconds=rng.randrange(SPAN_SECONDS), microseconds=rng.randrange(1_000_000))


def _ascii(text: str) -> str:
    """`şükrü` → `sukru`: email addresses stay within what every validator accepts."""
    return unicodedata.normalize("NFKD", text.replace("ı", "i")).encode("ascii", "ignore").decode()


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENTS)


def channel_rows(rng: random.Random, count: int, first_id: int) -> Iterator[dict]:
    types = [choice.value for choice in ChannelType]
    for n in range(count):
        yield {
            "id": first_id + n,
            "name": f"Demo channel {n + 1}",
            "catalog": 1 + n % 5,
            "channel_type": types[n % len(types)],
            "conf": {"url": f"https://channel{n + 1}.example.com", "language": rng.choice(("tr", "en", "de"))},
            "category_tree": str(100 + n),
            "is_active": n % 7 != 6,
            "schema": {"loyalty": {"key": "loyalty", "label": "Loyalty", "required": False, "data_type": "text"}},
            "created_date": _moment(rng),
            "modified_date": _moment(rng),
        }


def customer_rows(rng: random.Random, count: int, first_id: int, channel_ids: list[int]) -> Iterator[dict]:
    for n in range(count):
        pk = first_id + n
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = _moment(rng)
        channel = channel_ids[n % len(channel_ids)] if channel_ids and n % 20 else None
        attributes = {"age": rng.randrange(18, 80), "size": {"eu": rng.randrange(36, 47)}, "color": rng.choice(COLORS)}
        if n % 3 == 0:
            attributes["newsletter"] = rng.random() < 0.5
        yield {
            "id": pk,
            "channel_id": channel,
            "channel_code": f"C{pk:09d}",
            "email": _ascii(f"{first}.{last}{pk}@{rng.choice(DOMAINS)}".lower()),
            "first_name": first,
            "last_name": last,
            "phone_number": f"05{rng.randrange(30, 60)}{rng.randrange(10**7):07d}" if n % 10 else None,
            "is_active": rng.random() < 0.9,
            "erp_code": f"ERP-{rng.choice('ABCDEFGH')}{pk:08d}" if n % 4 else None,
            "attributes": attributes,
            "attribute_kwargs": {},
            "localized_attributes": {"tr": {"city": rng.choice(CITIES)}},
            "localized_attribute_kwargs": {},
            "extra_field": {
                "segment": rng.choice(SEGMENTS),
                "source": rng.choice(SOURCES),
                "score": rng.randrange(100),
            },
            "email_allowed": rng.random() < 0.6,
            "sms_allowed": rng.random() < 0.4,
            "call_allowed": rng.random() < 0.2,
            "date_joined": created if n % 5 else None,
            "gender": rng.choice(("male", "female", None)),
            "user_type": rng.choice(("guest", "registered", "registered")),
            "date_of_birth": dt.date(rng.randrange(1950, 2007), rng.randrange(1, 13), rng.randrange(1, 29)),
            "created_date": created,
            "modified_date": created + dt.timedelta(days=rng.randrange(30)),
        }


def order_rows(
    rng: random.Random, count: int, first_id: int, customers: list[tuple[int, int | None]], channel_ids: list[int]
) -> Iterator[dict]:
    """`count` orders spread at random over `customers` ((id, channel id) pairs): some have none, some many."""
    for n in range(count):
        customer, channel = customers[rng.randrange(len(customers))]
        amount = rng.randrange(1_000, 500_000)
        placed = _moment(rng)
        yield {
            "id": first_id + n,
            "number": f"D{first_id + n:010d}",
            "channel_id": channel or channel_ids[n % len(channel_ids)],
            "customer_id": customer,
            "date_placed": placed,
            "status": rng.choice(STATUSES),
            "currency": rng.choice(CURRENCIES),
            "amount": _money(amount),
            "discount_amount": _money(amount * rng.choice((0, 0, 0, 5, 10, 20)) // 100),
            "shipping_amount": _money(rng.choice((0, 0, 1_990, 2_990))),
            "created_date": placed,
            "modified_date": placed + dt.timedelta(hours=rng.randrange(72)),
        }


def refunds_for(rng: random.Random, order: dict) -> list[dict]:
    """About one order in ten is partly refunded, once or twice, never beyond its amount."""
    if rng.random() >= 0.1:
        return []
    refunds, left = [], order["amount"]
    for _ in range(rng.choice((1, 1, 2))):
        part = _money(int(left * 100 * Decimal(rng.randrange(10, 51)) / 100))
        if part <= 0:
            break
        left -= part
        refunds.append(
            {
                "order_id": order["id"],
                "amount": part,
                "reason": rng.choice(("damaged", "late", "return", "")),
                "created_date": order["date_placed"] + dt.timedelta(days=rng.randrange(1, 30)),
            }
        )
    return refunds


def _next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(top=models.Max("pk"))["top"] or 0) + 1


class _Writer:
    """Writes rows of one model: COPY on PostgreSQL, executemany on SQLite. Missing columns take the field default."""

    def __init__(self, model: type[models.Model], sample: dict):
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields]
        self.defaults = {f.attname: f.get_default() for f in self.fields if f.attname not in sample}
        self.columns = [f.column for f in self.fields]
        self.kinds = [f.get_internal_type() for f in self.fields]
        self.postgres = connection.vendor == "postgresql"

    def _value(self, value, kind: str):
        if value is None:
            return None
        if kind == "JSONField":
            return json.dumps(value, ensure_ascii=False)
        if kind == "DateTimeField":
            if self.postgres:
                return value.isoformat()
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        if isinstance(value, bool):
            return value if not self.postgres else ("t" if value else "f")
        if isinstance(value, dt.date | Decimal):
            return str(value)
        return value

    def tuples(self, rows: Iterable[dict]) -> Iterator[tuple]:
        names = [f.attname for f in self.fields]
        for row in rows:
            full = {**self.defaults, **row}
            yield tuple(self._value(full[name], kind) for name, kind in zip(names, self.kinds, strict=True))

    def write(self, rows: Iterable[dict]) -> None:
        table = self.model._meta.db_table
        columns = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for values in self.tuples(rows):
                        copy.write_row(values)
            else:
                placeholders = ", ".join("%s" for _ in self.columns)
                sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
                batch = []
                for values in self.tuples(rows):
                    batch.append(values)
                    if len(batch) == 5_000:
                        cursor.executemany(sql, batch)
                        batch.clear()
                if batch:
                    cursor.executemany(sql, batch)


def _write(model, rows: Iterator[dict]) -> None:
    first = next(rows, None)
    if first is not None:
        _Writer(model, first).write(_chain(first, rows))


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest


def _without_secondary_indexes(tables: list[str], load: Callable[[], None]) -> None:
    """On PostgreSQL, drop the tables' secondary indexes, load, and build them again once: far faster than
    updating a dozen indexes (GIN and trigram among them) row by row."""
    if connection.vendor != "postgresql":
        load()
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = ANY(%s) AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        # Foreign keys are deferred to commit; checked row by row instead, no trigger events wait on the indexes.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        load()
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))",
                [table],
            )
            cursor.execute(f"ANALYZE {table}")


def seed(*, customers: int, orders_per_customer: float, channels: int, seed: int, log=print) -> dict[str, int]:
    rng, refund_rng = random.Random(seed), random.Random(seed + 1)
    counts = {"channels": channels, "customers": customers, "orders": round(customers * orders_per_customer)}
    tables = [m._meta.db_table for m in (Channel, Customer, Order, Refund)]

    def load():
        channel_first = _next_id(Channel)
        _write(Channel, channel_rows(rng, channels, channel_first))
        channel_ids = list(range(channel_first, channel_first + channels))
        log(f"channels: {channels}")

        customer_first = _next_id(Customer)
        owners: list[tuple[int, int | None]] = []

        def remember(rows):
            for row in rows:
                owners.append((row["id"], row["channel_id"]))
                yield row

        _write(Customer, remember(customer_rows(rng, customers, customer_first, channel_ids)))
        log(f"customers: {customers}")
        if not owners or not counts["orders"]:
            counts["refunds"] = 0
            return
        refunds: list[dict] = []

        def with_refunds(rows):
            for row in rows:
                refunds.extend(refunds_for(refund_rng, row))
                yield row

        _write(Order, with_refunds(order_rows(rng, counts["orders"], _next_id(Order), owners, channel_ids)))
        log(f"orders: {counts['orders']}")
        refund_first = _next_id(Refund)
        _write(Refund, ({"id": refund_first + n, **row} for n, row in enumerate(refunds)))
        counts["refunds"] = len(refunds)
        log(f"refunds: {len(refunds)}")

    with transaction.atomic():
        _without_secondary_indexes(tables, load)
    return counts
