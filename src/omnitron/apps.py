from django.apps import AppConfig


class OmnitronConfig(AppConfig):
    name = "omnitron"
