from django.urls import path

from privacy.views import PersonalData

urlpatterns = [path("customers/<int:pk>/personal-data/", PersonalData.as_view(), name="customer-personal-data")]
