"""Where a scenario's request time goes: `python bench/hotspots.py <scenario> [--requests N] [--top K]`.

Sends the scenario's requests (the paths `make bench` draws from, on the same database) through the whole Django
stack in-process (django.test.Client: the same middleware, token authentication and views as under gunicorn) under
cProfile, after a warm-up, and prints the functions with the most time. Run it with the benchmark's environment, as
bench/README.md shows. Write scenarios are not profiled: they would change the data the benchmark reads.
"""

import argparse
import cProfile
import os
import pstats
import random
import sys
import time

import django
import psycopg
import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"))
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL") or sys.exit("DATABASE_URL must name the benchmark's database")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnitron.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from knox.models import AuthToken

    with psycopg.connect(database_url) as conn:
        customers = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
    method, paths, _ = run.scenarios(run.sample(database_url), customers)[args.scenario]
    if method != "GET":
        sys.exit(f"{args.scenario} writes; only read scenarios are profiled")
    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", "", None
    )
    instance, token = AuthToken.objects.create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    rng = random.Random(1)
    try:
        for path in rng.choices(paths, k=50):
            assert client.get(path).status_code == 200, path
        chosen = rng.choices(paths, k=args.requests)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for path in chosen:
            client.get(path)
        profiler.disable()
        elapsed = time.perf_counter() - started
    finally:
        instance.delete()
    print(f"{args.scenario}: {args.requests} requests, {elapsed / args.requests * 1000:.2f} ms each (profiled)")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
