"""Deterministic, realistic demo data for `omnitron seed_demo`: channels, customers, orders and refunds.

A million customers and three million orders load in a few minutes, so the generators do as little per row as
Python allows: every composite value (a name with its email local part, an attributes document, a birth date)
is drawn whole from a pool built once, so each column costs one pick, and each row is one f-string in
PostgreSQL's COPY text format. Chunks of rows go to PostgreSQL as they are, with the tables' secondary indexes,
unique and foreign-key constraints dropped during the load and built once after it; on SQLite the same lines
are split into batched INSERTs. The same seed gives the same data on both.
"""

import datetime as dt
import itertools
import json
import random
import time
import unicodedata
from collections.abc import Callable, Iterator

from django.db import connection, models, transaction

from apicore import lines
from channels.models import Channel, ChannelType
from customers.models import Customer, CustomerLine
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
STATUSES = tuple(status.value for status in OrderStatus)
START = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
SPAN_SECONDS = int((dt.datetime(2026, 1, 1, tzinfo=dt.UTC) - START).total_seconds())
CHUNK = 10_000  # rows per COPY write / executemany

# COPY's text format: tab-separated, \N for NULL. Booleans as 1/0, which PostgreSQL and SQLite both read.
NULL, TRUE, FALSE = r"\N", "1", "0"


def _ascii(text: str) -> str:
    """`şükrü` → `sukru`: email addresses stay within what every validator accepts."""
    return unicodedata.normalize("NFKD", text.replace("ı", "i")).encode("ascii", "ignore").decode()


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _odds(percent: int) -> tuple[str, ...]:
    """A pool from which one pick in a hundred is TRUE `percent` times."""
    return (TRUE,) * percent + (FALSE,) * (100 - percent)


# Pools: each a tuple of preformatted column values, drawn from uniformly (repeats weight a value).
NAMES = tuple(
    (first, last, _ascii(f"{first}.{last}".lower())) for first, last in itertools.product(FIRST_NAMES, LAST_NAMES)
)
PHONE_PREFIXES = tuple(f"05{n}" for n in range(30, 60))
ERP_LETTERS = tuple("ABCDEFGH")
ATTRIBUTES = tuple(
    _json({"age": age, "size": {"eu": eu}, "color": color})
    for age, eu, color in itertools.product(range(18, 80), range(36, 47), COLORS)
)
# Every third customer also says whether it wants the newsletter.
ATTRIBUTES_NEWSLETTER = tuple(
    _json({"age": age, "size": {"eu": eu}, "color": color, "newsletter": newsletter})
    for age, eu, color, newsletter in itertools.product(range(18, 80), range(36, 47), COLORS, (True, False))
)
LOCALIZED = tuple(_json({"tr": {"city": city}}) for city in CITIES)
EXTRA_FIELDS = tuple(
    _json({"segment": segment, "source": source, "score": score})
    for segment, source, score in itertools.product(SEGMENTS, SOURCES, range(100))
)
GENDERS = ("male", "female", NULL)
USER_TYPES = ("guest", "registered", "registered")
BIRTH_DATES = tuple(
    f"{year}-{month:02d}-{day:02d}"
    for year, month, day in itertools.product(range(1950, 2007), range(1, 13), range(1, 29))
)
DISCOUNT_PERCENTS = (0, 0, 0, 5, 10, 20)
SHIPPING = ("0.00", "0.00", "19.90", "29.90")
REFUND_COUNTS = (1, 1, 2)
REFUND_REASONS = ("damaged", "late", "return", "")
ACTIVE, EMAIL_ALLOWED, SMS_ALLOWED, CALL_ALLOWED = _odds(90), _odds(60), _odds(40), _odds(20)

# Timestamps are written in UTC without an offset (the session's time zone is UTC; SQLite stores them so).
DAYS = tuple((START + dt.timedelta(days=n)).date().isoformat() for n in range(SPAN_SECONDS // 86_400 + 40))
MINUTES = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))


def _stamp(micros: int) -> str:
    """Microseconds after START as `YYYY-MM-DD HH:MM:SS.ffffff`."""
    seconds, micro = divmod(micros, 1_000_000)
    day, second = divmod(seconds, 86_400)
    minute, second = divmod(second, 60)
    return f"{DAYS[day]} {MINUTES[minute]}:{second:02d}.{micro:06d}"


def _pick(pool: tuple, uniform: float):
    """The element of `pool` that a uniform draw in [0, 1) selects: `choices` for one value."""
    return pool[int(uniform * len(pool))]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _moments(rng: random.Random, k: int) -> list[int]:
    """`k` random instants in 2019-2025, in microseconds after START."""
    r, span = rng.random, SPAN_SECONDS * 1_000_000
    return [int(r() * span) for _ in range(k)]


def _moments_in_order(rng: random.Random, rows: range, count: int) -> list[int]:
    """An instant in 2019-2025 for each of `rows` of `count`, growing with the row's place, as a table's creation
    times grow with its ids."""
    r, slot = rng.random, SPAN_SECONDS * 1_000_000 / count
    return [int((n + r()) * slot) for n in rows]


def _chunks(count: int) -> Iterator[range]:
    for start in range(0, count, CHUNK):
        yield range(start, min(count, start + CHUNK))


def channel_lines(rng: random.Random, count: int, first_id: int) -> Iterator[list[str]]:
    types = [choice.value for choice in ChannelType]
    schema = _json({"loyalty": {"key": "loyalty", "label": "Loyalty", "required": False, "data_type": "text"}})
    lines = []
    for n, (created, modified) in enumerate(zip(_moments(rng, count), _moments(rng, count), strict=True)):
        conf = _json({"url": f"https://channel{n + 1}.example.com", "language": rng.choice(("tr", "en", "de"))})
        active = FALSE if n % 7 == 6 else TRUE
        lines.append(
            f"{first_id + n}\tDemo channel {n + 1}\t{1 + n % 5}\t{types[n % len(types)]}\t{conf}\t{100 + n}\t"
            f"{active}\t{schema}\t{_stamp(created)}\t{_stamp(modified)}"
        )
    yield lines


CHANNEL_COLUMNS = "id name catalog channel_type conf category_tree is_active schema created_date modified_date"


def customer_lines(rng: random.Random, count: int, first_id: int, channel_ids: list[int]) -> Iterator[list[str]]:
    """Customers `first_id`...: one in twenty without a channel, the others spread over `channel_ids` in turn."""
    choices, r = rng.choices, rng.random
    for rows in _chunks(count):
        k = len(rows)
        columns = zip(
            rows,
            choices(NAMES, k=k),
            choices(DOMAINS, k=k),
            choices(PHONE_PREFIXES, k=k),
            choices(ACTIVE, k=k),
            choices(ERP_LETTERS, k=k),
            choices(LOCALIZED, k=k),
            choices(EXTRA_FIELDS, k=k),
            choices(EMAIL_ALLOWED, k=k),
            choices(SMS_ALLOWED, k=k),
            choices(CALL_ALLOWED, k=k),
            choices(GENDERS, k=k),
            choices(USER_TYPES, k=k),
            choices(BIRTH_DATES, k=k),
            _moments_in_order(rng, rows, count),
            strict=True,
        )
        lines = []
        for n, name, domain, prefix, active, erp, city, extra, email, sms, call, gender, kind, born, at in columns:
            pk, (first, last, local) = first_id + n, name
            channel = channel_ids[n % len(channel_ids)] if n % 20 else NULL
            phone = f"{prefix}{int(r() * 10_000_000):07d}" if n % 10 else NULL
            erp_code = f"ERP-{erp}{pk:08d}" if n % 4 else NULL
            attributes = _pick(ATTRIBUTES_NEWSLETTER if n % 3 == 0 else ATTRIBUTES, r())
            created = _stamp(at)
            joined = created if n % 5 else NULL
            modified = _stamp(at + int(r() * 30) * 86_400_000_000)
            lines.append(
                f"{pk}\t{channel}\tC{pk:09d}\t{local}{pk}@{domain}\t{first}\t{last}\t{phone}\t{active}\t{erp_code}\t"
                f"{attributes}\t{{}}\t{city}\t{{}}\t{extra}\t{email}\t{sms}\t{call}\t{joined}\t{gender}\t{kind}\t"
                f"{born}\t{created}\t{modified}"
            )
        yield lines


CUSTOMER_COLUMNS = (
    "id channel_id channel_code email first_name last_name phone_number is_active erp_code attributes "
    "attribute_kwargs localized_attributes localized_attribute_kwargs extra_field email_allowed sms_allowed "
    "call_allowed date_joined gender user_type date_of_birth created_date modified_date"
)


def order_lines(
    rng: random.Random,
    refund_rng: random.Random,
    count: int,
    first_id: int,
    customers: tuple[int, int],
    channel_ids: list[int],
    refunds: list[str],
) -> Iterator[list[str]]:
    """`count` orders spread at random over the `customers` (first id, how many) seeded with the channels: some
    get none, some many. About one order in ten is partly refunded, once or twice, never beyond its amount; its
    refunds (without their ids) are appended to `refunds`."""
    first_customer, customer_count = customers
    choices, r = rng.choices, rng.random
    refund_r, refund_choice = refund_rng.random, refund_rng.choice
    for rows in _chunks(count):
        k = len(rows)
        columns = zip(
            rows,
            _moments(rng, k),
            choices(STATUSES, k=k),
            choices(CURRENCIES, k=k),
            choices(DISCOUNT_PERCENTS, k=k),
            choices(SHIPPING, k=k),
            strict=True,
        )
        lines = []
        for n, at, status, currency, percent, shipping in columns:
            pk = first_id + n
            customer = int(r() * customer_count)
            # A customer without a channel orders anywhere; the others in their own channel.
            channel = channel_ids[(customer if customer % 20 else n) % len(channel_ids)]
            amount = 1_000 + int(r() * 499_000)
            placed = _stamp(at)
            modified = _stamp(at + int(r() * 72) * 3_600_000_000)
            lines.append(
                f"{pk}\tD{pk:010d}\t{channel}\t{first_customer + customer}\t{placed}\t{status}\t{currency}\t"
                f"{_money(amount)}\t{_money(amount * percent // 100)}\t{shipping}\t{placed}\t{modified}"
            )
            if refund_r() < 0.1:
                left = amount
                for _ in range(refund_choice(REFUND_COUNTS)):
                    part = left * (10 + int(refund_r() * 41)) // 100
                    if part <= 0:
                        break
                    left -= part
                    refunded = _stamp(at + (1 + int(refund_r() * 29)) * 86_400_000_000)
                    refunds.append(f"{pk}\t{_money(part)}\t{refund_choice(REFUND_REASONS)}\t{refunded}")
        yield lines


ORDER_COLUMNS = (
    "id number channel_id customer_id date_placed status currency amount discount_amount shipping_amount "
    "created_date modified_date"
)
REFUND_COLUMNS = "id order_id amount reason created_date"


def refund_lines(refunds: list[str], first_id: int) -> Iterator[list[str]]:
    for rows in _chunks(len(refunds)):
        yield [f"{first_id + n}\t{refunds[n]}" for n in rows]


def _text(value) -> str:
    """A Python value as a COPY text field, for the columns the generators leave to the model's defaults."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if isinstance(value, dict | list):
        return _json(value)
    return str(value)


def _write(model: type[models.Model], columns: str, chunks: Iterator[list[str]]) -> None:
    """Writes the generated lines of `model`'s `columns`; its other columns take their fields' defaults."""
    names = columns.split()
    rest = [f for f in model._meta.concrete_fields if f.attname not in names]
    names += [f.attname for f in rest]
    suffix = "".join(f"\t{_text(f.get_default())}" for f in rest)
    table = model._meta.db_table
    quoted = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in names)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for lines in chunks:
                    copy.write(f"{suffix}\n".join(lines) + f"{suffix}\n")
        else:
            sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('%s' for _ in names)})"
            for lines in chunks:
                rows = [(line + suffix).split("\t") for line in lines]
                cursor.executemany(sql, [[None if v == NULL else v for v in row] for row in rows])


def _next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(top=models.Max("pk"))["top"] or 0) + 1


def _stopwatch() -> Callable[[], str]:
    """A function that tells the time since it was last called (or made), as `1.2s`."""
    last = time.monotonic()

    def lap() -> str:
        nonlocal last
        now = time.monotonic()
        elapsed, last = now - last, now
        return f"{elapsed:.1f}s"

    return lap


def _bulk_load(tables: list[str], load: Callable[[], None], done: Callable[[str], None]) -> None:
    """On PostgreSQL, drop the tables' secondary indexes, unique and foreign-key constraints, load, and build
    them again once: far faster than updating a dozen indexes (GIN and trigram among them) and checking two
    foreign keys row by row. Then set the id sequences past the loaded rows and ANALYZE for the planner."""
    if connection.vendor != "postgresql":
        load()
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        # Deferred foreign-key checks still pending in this transaction (deletes, say) run now: a table with
        # pending trigger events cannot be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
            WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('u', 'f')
            ORDER BY c.contype = 'f' DESC, c.conname
            """,
            [tables],
        )
        constraints = cursor.fetchall()  # foreign keys first: they may rest on a unique constraint
        for table, name, _ in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        load()
        # Index builds sort in memory; the foreign-key checks hash-join a table against another.
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in reversed(constraints):
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")
        done(f"{len(indexes)} indexes and {len(constraints)} constraints rebuilt")
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))",
                [table],
            )
            cursor.execute(f"ANALYZE {table}")
        done("sequences set, tables analyzed")


def seed(*, customers: int, orders_per_customer: float, channels: int, seed: int, log=print) -> dict[str, int]:
    if channels < 1:
        raise ValueError("orders need a channel: seed at least one")
    rng, refund_rng = random.Random(seed), random.Random(seed + 1)
    counts = {"channels": channels, "customers": customers, "orders": round(customers * orders_per_customer)}
    tables = [m._meta.db_table for m in (Channel, Customer, Order, Refund)]

    lap = _stopwatch()

    def done(step: str) -> None:
        log(f"{step} ({lap()})")

    def load():
        channel_first = _next_id(Channel)
        _write(Channel, CHANNEL_COLUMNS, channel_lines(rng, channels, channel_first))
        channel_ids = list(range(channel_first, channel_first + channels))
        done(f"channels: {channels}")

        customer_first = _next_id(Customer)
        _write(Customer, CUSTOMER_COLUMNS, customer_lines(rng, customers, customer_first, channel_ids))
        done(f"customers: {customers}")
        if not customers:
            counts["orders"] = 0
        refunds: list[str] = []
        orders = order_lines(
            rng, refund_rng, counts["orders"], _next_id(Order), (customer_first, customers), channel_ids, refunds
        )
        _write(Order, ORDER_COLUMNS, orders)
        done(f"orders: {counts['orders']}")
        _write(Refund, REFUND_COLUMNS, refund_lines(refunds, _next_id(Refund)))
        counts["refunds"] = len(refunds)
        done(f"refunds: {len(refunds)}")

    with transaction.atomic():
        _bulk_load(tables, load, done)
    # Each customer's stored JSON line, as a write through the service leaves it (apicore.lines).
    lines.store_missing(Customer)
    tables.append(CustomerLine._meta.db_table)
    done("stored lines")
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # VACUUM runs outside transactions only. It marks the new pages all-visible now, so index-only scans work
        # and autovacuum does not start on them in the middle of whatever comes next (a benchmark, say).
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {', '.join(tables)}")
        done("vacuumed")
    return counts
