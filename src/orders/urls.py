from rest_framework.routers import SimpleRouter

from orders.views import OrderViewSet, RefundViewSet

router = SimpleRouter()
router.register("orders", OrderViewSet, basename="order")
router.register(r"orders/(?P<order_id>\d+)/refunds", RefundViewSet, basename="order-refund")

urlpatterns = router.urls
