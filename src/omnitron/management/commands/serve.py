import os

from django.core.management.base import BaseCommand, CommandError

# A client's connection stays with the worker that accepted it, and a worker runs Python on one core at a time: with
# one worker per CPU, a few busy connections all accepted by one worker leave the other cores idle (measured: 4 of 4
# on one of 2 workers halved the requests served). Twice as many workers let the OS spread busy ones over the cores.
WORKERS_PER_CPU = 2
# Seconds an idle client connection stays open. Longer than the idle timeout of the load balancers in front of it
# (60 s is common): the one that closes an idle connection must be the client side, else a request sent on it just
# as the server closes it fails. gunicorn's 2 s default is meant for clients connecting directly.
KEEPALIVE = 75


class Command(BaseCommand):
    help = "Serve the API with the production WSGI server (gunicorn)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", str(WORKERS_PER_CPU * (os.cpu_count() or 1)))),
            help=f"worker processes (default: WEB_CONCURRENCY, else {WORKERS_PER_CPU} per CPU)",
        )
        parser.add_argument(
            "--threads", type=int, default=int(os.environ.get("OMNITRON_THREADS", "2")), help="threads per worker"
        )
        parser.add_argument(
            "--keepalive",
            type=int,
            default=int(os.environ.get("OMNITRON_KEEPALIVE", str(KEEPALIVE))),
            help=f"seconds an idle connection stays open (default: OMNITRON_KEEPALIVE, else {KEEPALIVE})",
        )

        parser.add_argument(
            "--certfile",
            default=os.environ.get("OMNITRON_CERTFILE") or None,
            help="serve HTTPS with this PEM certificate (chain) file (default: OMNITRON_CERTFILE); needs --keyfile",
        )
        parser.add_argument(
            "--keyfile",
            default=os.environ.get("OMNITRON_KEYFILE") or None,
            help="the certificate's PEM private key file (default: OMNITRON_KEYFILE)",
        )

    def handle(self, *args, host, port, workers, threads, keepalive, certfile, keyfile, **options):
        if bool(certfile) != bool(keyfile):
            raise CommandError("--certfile and --keyfile go together: give both to serve HTTPS, or neither")
        for path in filter(None, (certfile, keyfile)):
            if not os.path.isfile(path):
                raise CommandError(f"{path}: no such file")

        from gunicorn.app.base import BaseApplication

        from omnitron.wsgi import application

        config = {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "keepalive": keepalive,
            # `pk__in` with 1000 ids makes a request line of about 16 KB; gunicorn's cap is 8 KB
            # unless the limit is lifted (0 still bounds the line at 1 MB).
            "limit_request_line": 0,
            "accesslog": "-",
            "timeout": 60,
            "graceful_timeout": 20,
            # One shared control socket path per user would collide between servers on one machine.
            "control_socket_disable": True,
        }
        if certfile:
            config.update(certfile=certfile, keyfile=keyfile)
        scheme = "https" if certfile else "http"

        class Server(BaseApplication):
            def load_config(self):
                for key, value in config.items():
                    self.cfg.set(key, value)

            def load(self):
                return application

        self.stdout.write(f"Omnitron listening on {scheme}://{config['bind']}/ ({workers} workers x {threads} threads)")
        self.stdout.flush()
        Server().run()
