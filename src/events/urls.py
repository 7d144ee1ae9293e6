from django.urls import path

from events.views import EventFeed

urlpatterns = [path("events/", EventFeed.as_view(), name="events")]
