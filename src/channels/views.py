from apicore.views import ModelViewSet
from channels.filters import ChannelFilterSet
from channels.models import Channel
from channels.serializers import ChannelSerializer


class ChannelViewSet(ModelViewSet):
    queryset = Channel.objects.order_by("pk")
    serializer_class = ChannelSerializer
    filterset_class = ChannelFilterSet
