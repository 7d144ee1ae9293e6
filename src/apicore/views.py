"""Behaviour every resource endpoint shares, decided once."""

from django.db import IntegrityError, connections, router, transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import status, viewsets
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apicore import conditional
from apicore.compiled import Precompiled
from apicore.conditional import PreconditionFailed
from apicore.idempotency import IdempotentCreateMixin
from apicore.serializers import ActiveUserSerializer, TokenSerializer
from apicore.throttling import LoginSerializer

__all__ = ["ActiveUserView", "LoginView", "ModelViewSet"]

# A record's lookup per view class and action (ModelViewSet._lookup).
LOOKUPS: dict[tuple[type, str], Precompiled] = {}


class ModelViewSet(IdempotentCreateMixin, viewsets.ModelViewSet):
    """Writes run in one transaction and answer the record as a read would (computed fields included);
    a unique conflict lost to a concurrent writer answers as a validation error.

    Conditional requests (RFC 9110 §13, apicore.conditional): a record is answered with a strong ETag, and a GET
    of it honours If-None-Match (304) and If-Match. PUT, PATCH and DELETE evaluate If-Match and If-None-Match
    against the record they read (412), then write only if its row is still at the version read, as decided by
    one conditional UPDATE in the write's transaction (VersionedModel.lock_if_unchanged). The model must be a
    VersionedModel. POST honours Idempotency-Key (apicore.idempotency).

    A record's lookup by id is compiled once per view class and action (`_lookup`), so `get_queryset()` must depend
    on nothing but the action and the URL's arguments (not on the user, for one).
    """

    def get_object(self):
        instance = self._lookup() if self._lookup_is_compiled() else super().get_object()
        # §13.2.1: a write's preconditions are evaluated before its content is processed.
        if self.request.method not in SAFE_METHODS:
            if conditional.evaluate(self.request, conditional.etag(self.get_serializer(instance).data)):
                raise PreconditionFailed()
        return instance

    def _lookup_is_compiled(self) -> bool:
        # With no query string and no URL argument but the record's id, a view's queryset depends only on its
        # class and action, so the lookup can be compiled once for them (apicore.compiled).
        pk = self.queryset.model._meta.pk
        return (
            not self.request.query_params
            and self.lookup_field == "pk"
            and set(self.kwargs) == {self.lookup_url_kwarg or self.lookup_field}
            and pk.get_internal_type() in {"AutoField", "BigAutoField"}
        )

    def _lookup(self):
        """DRF's get_object, the record's SQL compiled once per view class and action: the same record or 404."""
        model = self.queryset.model
        try:
            pk = int(self.kwargs[self.lookup_url_kwarg or self.lookup_field])  # what the ORM does with the text
        except ValueError as error:
            raise Http404 from error  # DRF's get_object_or_404: a malformed id finds nothing
        using = router.db_for_read(model)
        low, high = connections[using].ops.integer_field_range(model._meta.pk.get_internal_type())
        compiled = LOOKUPS.get((type(self), self.action))
        if compiled is None:
            queryset = self.get_queryset()
            compiled = LOOKUPS[type(self), self.action] = Precompiled(lambda pk: queryset.filter(pk=pk[0]))
        rows = compiled([pk], using=using) if low <= pk <= high else []  # the ORM matches nothing out of range
        if not rows:
            raise Http404(f"No {model._meta.object_name} matches the given query.")  # Django's get_object_or_404
        self.check_object_permissions(self.request, rows[0])
        return rows[0]

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = tag = conditional.etag(response.data)
        outcome = conditional.evaluate(request, tag)
        if outcome == status.HTTP_304_NOT_MODIFIED:
            return conditional.not_modified(tag)
        if outcome:
            raise PreconditionFailed()
        return response

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    def perform_destroy(self, instance):
        with transaction.atomic():
            self._lock_if_conditional(instance)
            instance.delete()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # A created or updated record carries its new ETag, from the same read as the body.
        if (self.detail or self.action == "create") and status.is_success(response.status_code):
            if isinstance(response, Response) and response.data is not None:
                response.setdefault("ETag", conditional.etag(response.data))
        return response

    def _lock_if_conditional(self, instance):
        # The preconditions held for `instance` as read; the write goes ahead only if nothing was written since.
        if conditional.is_conditional(self.request) and not instance.lock_if_unchanged():
            raise PreconditionFailed()

    def _save(self, serializer):
        try:
            with transaction.atomic():
                if serializer.instance is not None:
                    self._lock_if_conditional(serializer.instance)
                instance = serializer.save()
                # Read back inside the transaction: if the database fails here the write is rolled back and the
                # client's 503 is true (nothing stored), rather than a stored write answered as failed.
                serializer.instance = self.get_queryset().get(pk=instance.pk)
        except IntegrityError:
            # The row that made the write fail is committed now, so validating again names the conflict
            # (400 `unique`); if it does not, the exception handler answers 409.
            serializer.run_validation(serializer.initial_data)
            raise


class LoginView(APIView):
    """`POST {"username", "password"}` → `{"key": "<token>"}`; clients then send `Authorization: Token <key>`."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    serializer_class = LoginSerializer  # failed logins are limited (apicore.throttling)

    @extend_schema(responses=TokenSerializer)
    def post(self, request):
        serializer = self.serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        _, key = AuthToken.objects.create(user=serializer.validated_data["user"])
        return Response({"key": key})


class ActiveUserView(APIView):
    """The user the token belongs to; clients call it to check a token."""

    permission_classes = (IsAuthenticated,)  # any valid token, whatever its model permissions
    serializer_class = ActiveUserSerializer

    def get(self, request):
        return Response(self.serializer_class(request.user).data)
