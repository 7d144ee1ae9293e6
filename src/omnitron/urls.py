from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from apicore.views import ActiveUserView, LoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/auth/login/", LoginView.as_view(), name="login"),
    path("api/v1/active_user/", ActiveUserView.as_view(), name="active-user"),
    # Before the customers' routes, whose `customers/{id}/` would take `customers/imports/`.
    path("api/v1/", include("imports.urls")),
    path("api/v1/", include("customers.urls")),
    path("api/v1/", include("channels.urls")),
    path("api/v1/", include("orders.urls")),
    path("api/v1/", include("events.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/", include("privacy.urls")),
    # The OpenAPI document generated from the code, and Swagger UI on it (its assets served from here).
    path("api/schema/", SpectacularJSONAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

# Outside DRF views too, errors answer JSON, never an HTML page.
handler400 = "apicore.exceptions.bad_request"
handler403 = "apicore.exceptions.permission_denied"
handler404 = "apicore.exceptions.not_found"
handler500 = "apicore.exceptions.server_error"
