"""Behaviour every resource endpoint shares, decided once."""

from django.db import IntegrityError, transaction
from knox.models import AuthToken
from rest_framework import viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

__all__ = ["ActiveUserView", "LoginView", "ModelViewSet"]


class ModelViewSet(viewsets.ModelViewSet):
    """Writes run in one transaction and answer the record as a read would (computed fields included);
    a unique conflict lost to a concurrent writer answers as a validation error."""

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    def _save(self, serializer):
        try:
            with transaction.atomic():
                instance = serializer.save()
        except IntegrityError:
            # The row that made the write fail is committed now, so validating again names the conflict
            # (400 `unique`); if it does not, the exception handler answers 409.
            serializer.run_validation(serializer.initial_data)
            raise
        serializer.instance = self.get_queryset().get(pk=instance.pk)


class LoginView(APIView):
    """`POST {"username", "password"}` → `{"key": "<token>"}`; clients then send `Authorization: Token <key>`."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    serializer_class = AuthTokenSerializer

    def post(self, request):
        serializer = self.serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        _, key = AuthToken.objects.create(user=serializer.validated_data["user"])
        return Response({"key": key})


class ActiveUserView(APIView):
    """The user the token belongs to; clients call it to check a token."""

    def get(self, request):
        user = request.user
        fields = ("pk", "username", "email", "first_name", "last_name", "is_superuser")
        return Response({name: getattr(user, name) for name in fields})
