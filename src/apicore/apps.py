from django.apps import AppConfig


class ApiCoreConfig(AppConfig):
    name = "apicore"
    verbose_name = "API policy"

    def ready(self):
        # Registers the OpenAPI extensions (token scheme, filters) before any document is generated.
        from apicore import (
            history,
            schema,  # noqa: F401
        )
        from apicore.throttling import check_settings

        history.connect()  # every tracked model's writes record their changes (apicore.history)
        check_settings()  # a malformed rate limit is ImproperlyConfigured at startup, not at the first request
