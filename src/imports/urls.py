from rest_framework.routers import SimpleRouter

from imports.views import ImportViewSet

router = SimpleRouter()
router.register("customers/imports", ImportViewSet, basename="customer-import")

urlpatterns = router.urls
