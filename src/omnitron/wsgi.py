import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnitron.settings")

django_application = get_wsgi_application()  # sets Django up: the read path reads the models

from apicore import process  # noqa: E402
from apicore.readpath import ReadPath  # noqa: E402
from apicore.wsgi import ChunkedBodyMiddleware  # noqa: E402

# Hot GETs are answered by the read path, in one statement each; everything else by Django (apicore.readpath).
application = ReadPath(ChunkedBodyMiddleware(django_application))

process.started()  # the cycle collector's policy for long-lived processes; workers forked after this inherit it
