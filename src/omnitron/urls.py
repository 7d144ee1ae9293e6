from django.contrib import admin
from django.urls import include, path

from apicore.views import ActiveUserView, LoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/auth/login/", LoginView.as_view(), name="login"),
    path("api/v1/active_user/", ActiveUserView.as_view(), name="active-user"),
    path("api/v1/", include("customers.urls")),
    path("api/v1/", include("channels.urls")),
    path("api/v1/", include("orders.urls")),
]

# Outside DRF views too, errors answer JSON, never an HTML page.
handler400 = "apicore.exceptions.bad_request"
handler403 = "apicore.exceptions.permission_denied"
handler404 = "apicore.exceptions.not_found"
handler500 = "apicore.exceptions.server_error"
