"""The delivery worker (`omnitron worker`): POSTs each webhook's events to it, signed, retried until they succeed.

One asyncio loop sends (uvloop's: 7 % less CPU an event than asyncio's, and about a third of its p99 delay from
commit to receipt at 3,000 events/s); one thread does the database work (webhooks.services) in short transactions,
between which it hands the loop the deliveries it claimed and takes back what their attempts answered, in batches:
the busier the worker, the larger each batch. A webhook has at most OMNITRON_WEBHOOK_CONCURRENCY deliveries in
flight per worker, so a slow or dead receiver holds its own deliveries only. Connections to receivers are kept alive.

Any number of workers may run, on any machines: a delivery is claimed by one worker at a time, for
OMNITRON_WEBHOOK_LEASE_SECONDS; a worker killed mid-delivery leaves its claims to lapse, and another worker sends
them then (a receiver may see an event twice, never lose one: Omnitron-Event-Id tells them apart). On PostgreSQL
the workers LISTEN for the commit of new events (webhooks migration 0002) and start at once; they also look every
OMNITRON_WORKER_POLL_SECONDS, for retries that fall due and on SQLite.
"""

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import psycopg
import uvloop
from django.conf import settings
from django.db import connections
from django.utils import timezone

from webhooks import services
from webhooks.services import Job, Outcome

logger = logging.getLogger("omnitron.worker")

USER_AGENT = "Omnitron-Webhooks/1.0"


class SafeResolver(aiohttp.ThreadedResolver):
    """Resolves a receiver's name, leaving out the addresses webhooks may not reach (link-local, metadata,
    unspecified), so that a name pointed at one after the webhook was saved gets nowhere."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        found = await super().resolve(host, port, family)
        allowed = [entry for entry in found if not services.forbidden_address(ipaddress.ip_address(entry["host"]))]
        if not allowed:
            raise OSError(f"{host} resolves to a link-local, metadata or unspecified address only")
        return allowed


class Refused(Exception):
    pass


def worker_name() -> str:
    """A name no other worker has, telling where it runs: host, process, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(self):
        self.name = worker_name()
        # Django's connection belongs to the thread that opened it: all database work runs in this one.
        self.database = ThreadPoolExecutor(1, thread_name_prefix="omnitron-worker-db")
        self.busy: Counter[int] = Counter()  # deliveries in flight, per webhook
        self.outcomes: list[Outcome] = []  # answered, not recorded yet
        self.sending: set[asyncio.Task] = set()
        self.wake = asyncio.Event()
        self.stopping = False
        self.session: aiohttp.ClientSession | None = None

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        postgresql = connections["default"].vendor == "postgresql"
        listener = asyncio.create_task(self.listen()) if postgresql else None
        timeout = aiohttp.ClientTimeout(total=settings.OMNITRON_WEBHOOK_TIMEOUT)
        connector = aiohttp.TCPConnector(limit=0, resolver=SafeResolver(), keepalive_timeout=30)
        logger.info("worker %s delivering webhooks", self.name)
        try:
            async with aiohttp.ClientSession(
                connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}, auto_decompress=False
            ) as self.session:
                while not self.stopping:
                    await self.cycle(loop)
                # Stopped (SIGTERM): the deliveries in flight finish, their outcomes are recorded, nothing else starts.
                if self.sending:
                    await asyncio.wait(self.sending)
                await self.cycle(loop, claim=False)
        finally:
            if listener is not None:
                listener.cancel()
            await loop.run_in_executor(self.database, connections.close_all)
            self.database.shutdown()
        logger.info("worker %s stopped", self.name)

    async def cycle(self, loop, claim: bool = True) -> None:
        """Records the outcomes in, claims what may be sent now and starts sending it; waits if there was nothing."""
        outcomes, self.outcomes = self.outcomes, []
        busy = dict(self.busy)
        self.wake.clear()
        try:
            jobs = await loop.run_in_executor(self.database, self.step, outcomes, busy, claim)
        except Exception:
            logger.exception("worker %s: database work failed; trying again", self.name)
            self.outcomes[:0] = outcomes  # kept, to record once the database answers again
            await asyncio.sleep(settings.OMNITRON_WORKER_POLL_SECONDS)
            return
        for job in jobs:
            self.busy[job.webhook_id] += 1
            task = asyncio.create_task(self.send(job))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        if not jobs and not self.outcomes and claim:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), settings.OMNITRON_WORKER_POLL_SECONDS)

    def step(self, outcomes: list[Outcome], busy: dict[int, int], claim: bool) -> list[Job]:
        try:
            services.record(self.name, outcomes)
            return services.claim(self.name, busy) if claim else []
        except Exception:
            connections.close_all()  # a connection that failed is not used again
            raise

    async def send(self, job: Job) -> None:
        started = time.monotonic()
        outcome = Outcome(job.delivery_id, job.webhook_id, timezone.now(), 0)
        try:
            problem = services.url_problem(job.url)
            if problem:
                raise Refused(problem)
            headers = {
                "Content-Type": "application/json",
                "Omnitron-Event-Id": str(job.event_id),
                "Omnitron-Event-Type": job.event_type,
                "Omnitron-Delivery-Id": str(job.delivery_id),
                "Omnitron-Signature": services.signature(job.secret, int(time.time()), job.body),
            }
            async with self.session.post(job.url, data=job.body, headers=headers, allow_redirects=False) as response:
                outcome.status_code = response.status
                start = await response.content.read(services.RESPONSE_KEPT)
                outcome.response = start.decode("utf-8", "replace")
        except TimeoutError:
            outcome.error = f"No answer within {settings.OMNITRON_WEBHOOK_TIMEOUT:g} s."
        except (aiohttp.ClientError, OSError, Refused) as error:
            outcome.error = str(error) or type(error).__name__
        except Exception as error:  # recorded, never lost: the delivery is retried
            logger.exception("worker %s: delivery %s", self.name, job.delivery_id)
            outcome.error = f"{type(error).__name__}: {error}"
        finally:
            outcome.duration_ms = round((time.monotonic() - started) * 1000)
            self.busy[job.webhook_id] -= 1
            self.outcomes.append(outcome)
            self.wake.set()

    async def listen(self) -> None:
        """Wakes the worker at each commit of events (PostgreSQL's LISTEN); reconnects when the connection fails."""
        django = connections["default"]
        while True:
            try:
                params = django.get_connection_params()
                params.pop("cursor_factory", None)
                params["application_name"] = "omnitron worker"
                async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {services.CHANNEL}")
                    self.wake.set()  # whatever committed while it was not listening
                    async for _ in connection.notifies():
                        self.wake.set()
            except psycopg.Error as error:
                logger.warning("worker %s: not listening for events (%s); polling meanwhile", self.name, error)
                await asyncio.sleep(settings.OMNITRON_WORKER_POLL_SECONDS)


def run(on_stop=None) -> None:
    """Runs a worker until SIGTERM or SIGINT, which let the deliveries in flight finish; `on_stop` is called then."""
    worker = Worker()

    def stop():
        worker.stop()
        if on_stop is not None:
            on_stop()

    async def main():
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        await worker.run()

    uvloop.run(main())
