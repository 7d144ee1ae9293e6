from django.apps import AppConfig


class ApiCoreConfig(AppConfig):
    name = "apicore"
    verbose_name = "API policy"
