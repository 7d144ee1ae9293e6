import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from knox.models import AuthToken


class Command(BaseCommand):
    help = "Create the `admin` superuser if it is missing, printing its password and an API token once."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the service listens")

    def handle(self, *args, username, url, **options):
        User = get_user_model()
        with transaction.atomic():
            if User.objects.filter(username=username).exists():
                self.stdout.write(f"Superuser {username!r} exists; log in at /api/v1/auth/login/ for a token.")
                return
            password = secrets.token_urlsafe(18)
            user = User.objects.create_superuser(username=username, email="", password=password)
            _, key = AuthToken.objects.create(user=user)
        self.stdout.write(
            "\n".join(
                [
                    f"Created superuser {username!r}. Shown once; keep them:",
                    f"  password:  {password}",
                    f"  API token: {key}",
                    f"  try: curl -H 'Authorization: Token {key}' {url.rstrip('/')}/api/v1/customers/",
                ]
            )
        )
