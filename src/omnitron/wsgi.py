import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnitron.settings")

from apicore.wsgi import ChunkedBodyMiddleware

application = ChunkedBodyMiddleware(get_wsgi_application())
