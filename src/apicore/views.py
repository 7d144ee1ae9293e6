"""Behaviour every resource endpoint shares, decided once."""

from django.db import IntegrityError, transaction
from knox.models import AuthToken
from rest_framework import viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

__all__ = ["LoginView", "ModelViewSet"]


class ModelViewSet(viewsets.ModelViewSet):
    """Writes run in one transaction; a unique conflict lost to a concurrent writer answers as a validation error."""

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    @staticmethod
    def _save(serializer):
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            # The row that made the write fail is committed now, so validating again names the conflict
            # (400 `unique`); if it does not, the exception handler answers 409.
            serializer.run_validation(serializer.initial_data)
            raise


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
