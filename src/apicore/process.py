"""What a long-lived process of the service does once it has started (a server's worker, the background worker, an
import's batch process): the cycle collector's policy, in one place."""

import gc

__all__ = ["YOUNG_OBJECTS", "started"]

# Container objects allocated (net) between two passes of the cycle collector over the youngest ones; Python's default
# is 700. A request or an export batch holds thousands alive at once (a page of records, a batch's rows and their
# JSON), so at 700 each pass walks them again and moves them to older generations, whose passes walk them once more:
# on an export of 200,000 customers, 16.9 µs of CPU a customer at 700, 15.2 at 10,000, 14.6 at 50,000. Garbage
# without cycles is freed at once whatever this is; at most this many objects of cyclic garbage wait for a pass.
YOUNG_OBJECTS = 50_000


def started() -> None:
    """What loading made (Django, the apps, the URL map: about 140,000 objects in a server) lives as long as the
    process: frozen, the collector's full passes skip it and walk only what the work leaves (on 1M customers their
    pauses, which stop every thread of a server's worker, fell from 60-120 ms to 13-49 ms; 8 % of an import's CPU).
    Processes forked after this inherit it. Then passes over the young objects as rarely as YOUNG_OBJECTS says."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
