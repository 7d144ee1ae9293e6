from django.urls import path

from privacy.views import Erase, PersonalData

urlpatterns = [
    path("customers/<int:pk>/personal-data/", PersonalData.as_view(), name="customer-personal-data"),
    path("customers/<int:pk>/erase/", Erase.as_view(), name="customer-erase"),
]
