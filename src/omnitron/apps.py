from django.apps import AppConfig
from django.db.backends.signals import connection_created


class OmnitronConfig(AppConfig):
    name = "omnitron"

    def ready(self):
        from apicore.db import register_sqlite_functions

        connection_created.connect(register_sqlite_functions)
