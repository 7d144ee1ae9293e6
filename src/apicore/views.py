"""Behaviour every resource endpoint shares, decided once."""

from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apicore import conditional, history
from apicore.conditional import PreconditionFailed
from apicore.idempotency import IdempotentCreateMixin
from apicore.serializers import ActiveUserSerializer, HistoryEntrySerializer, TokenSerializer
from apicore.throttling import LoginSerializer

__all__ = ["ActiveUserView", "LoginView", "ModelViewSet", "ScopedMixin"]


class ScopedMixin:
    """A route under another record, such as `/channel/{channel_id}/customers/`: `scope` maps each URL argument to
    the foreign key it fixes. The queryset holds that record's records only; a record that does not exist answers
    404 (after the permission check, which needs only the view's model). The read path reads `scope` too.
    """

    scope: dict[str, str] = {}

    def scope_record(self, kwarg: str):
        """The record the URL argument `kwarg` names, or 404."""
        cache = self.__dict__.setdefault("_scope_records", {})
        if kwarg not in cache:
            field = self.queryset.model._meta.get_field(self.scope[kwarg])
            cache[kwarg] = get_object_or_404(field.related_model, pk=self.kwargs[kwarg])
        return cache[kwarg]

    def get_queryset(self):
        queryset = super().get_queryset()
        for kwarg, field in self.scope.items():
            queryset = queryset.filter(**{field: self.scope_record(kwarg)})
        return queryset


class ModelViewSet(ScopedMixin, IdempotentCreateMixin, viewsets.ModelViewSet):
    """Writes run in one transaction and answer the record as a read would (computed fields included);
    a unique conflict lost to a concurrent writer answers as a validation error.

    PUT, PATCH and DELETE run in one transaction that reads their record locked (`SELECT ... FOR UPDATE` on
    PostgreSQL; SQLite's write transactions are exclusive): what they check, write and record as the old values
    (apicore.history.read_for_update) is the row as it is, and nobody writes it before they end.

    Conditional requests (RFC 9110 §13, apicore.conditional): a record is answered with a strong ETag, and a GET
    of it honours If-None-Match (304) and If-Match. PUT, PATCH and DELETE evaluate If-Match and If-None-Match
    against the record they read locked (412). The model must be a VersionedModel. POST honours Idempotency-Key
    (apicore.idempotency).

    `read_actions` names the actions the read path (apicore.readpath) may answer and what each one is: a "list" or
    one record ("retrieve").
    """

    read_actions = {"list": "list", "retrieve": "retrieve"}
    # The writes of one record: their read of it is locked, in their transaction.
    locking_actions = frozenset(("update", "partial_update", "destroy"))

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in self.locking_actions:
            queryset = queryset.select_for_update(of=("self",))
        return queryset

    def get_object(self):
        instance = super().get_object()
        if self.action in self.locking_actions:
            history.read_for_update(instance)
        # §13.2.1: a write's preconditions are evaluated before its content is processed.
        if self.request.method not in SAFE_METHODS and conditional.is_conditional(self.request):
            if conditional.evaluate(self.request, conditional.etag(self.get_serializer(instance).data)):
                raise PreconditionFailed()
        return instance

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = tag = conditional.etag(response.data)
        outcome = conditional.evaluate(request, tag)
        if outcome == status.HTTP_304_NOT_MODIFIED:
            return conditional.not_modified(tag)
        if outcome:
            raise PreconditionFailed()
        return response

    @extend_schema(responses=HistoryEntrySerializer(many=True))
    @action(detail=True, serializer_class=HistoryEntrySerializer)
    def history(self, request, *args, **kwargs):
        """The record's changes, newest first (apicore.history); a deleted record's stay readable. Under a scoped
        route, the changes made while the record was in that scope. Filtered by the model's HistoryFilterSet
        (apicore.filters.FilterBackend)."""
        model = self.queryset.model
        pk = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        if not str(pk).isdigit():
            raise Http404
        entries = model.history.filter(id=pk)
        for kwarg, field in self.scope.items():
            entries = entries.filter(**{field: self.scope_record(kwarg)})
        if not entries.exists() and not self.get_queryset().filter(pk=pk).exists():
            raise Http404
        page = self.paginate_queryset(self.filter_queryset(entries).order_by("-history_date", "-history_id"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def update(self, request, *args, **kwargs):
        try:
            with transaction.atomic():
                return super().update(request, *args, **kwargs)
        except IntegrityError:
            self._name_conflict(self._saving)
            raise

    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer):
        try:
            with transaction.atomic():
                self._save(serializer)
        except IntegrityError:
            self._name_conflict(serializer)
            raise

    def perform_update(self, serializer):
        self._saving = serializer  # for update() to name a conflict once the transaction is rolled back
        self._save(serializer)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # A created or updated record carries its new ETag, from the same read as the body.
        if ((self.detail and self.action != "history") or self.action == "create") and status.is_success(
            response.status_code
        ):
            if isinstance(response, Response) and response.data is not None:
                response.setdefault("ETag", conditional.etag(response.data))
        return response

    @staticmethod
    def _save(serializer):
        instance = serializer.save()
        # Read back inside the transaction: if the database fails here the write is rolled back and the client's 503
        # is true (nothing stored), rather than a stored write answered as failed. The save of a tracked model has
        # read it already, for its event (apicore.history.stored).
        serializer.instance = history.stored(instance)

    @staticmethod
    def _name_conflict(serializer):
        # A unique conflict lost to a concurrent writer: its row is committed now, so validating again names it
        # (400 `unique`); if it does not, the exception handler answers 409.
        serializer.run_validation(serializer.initial_data)


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
