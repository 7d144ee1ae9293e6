from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """A person's rights over the data held about them: everything about a customer in one document."""

    name = "privacy"
