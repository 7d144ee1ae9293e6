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

    Conditional requests (RFC 9110 §13, apicore.conditional): a record is answered with a strong ETag, and a GET
    of it honours If-None-Match (304) and If-Match. PUT, PATCH and DELETE evaluate If-Match and If-None-Match
    against the record they read (412), then write only if its row is still at the version read, as decided by
    one conditional UPDATE in the write's transaction (VersionedModel.lock_if_unchanged). The model must be a
    VersionedModel. POST honours Idempotency-Key (apicore.idempotency).

    `read_actions` names the actions the read path (apicore.readpath) may answer and what each one is: a "list" or
    one record ("retrieve").
    """

    read_actions = {"list": "list", "retrieve": "retrieve"}

    def get_object(self):
        instance = super().get_object()
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
        if ((self.detail and self.action != "history") or self.action == "create") and status.is_success(
            response.status_code
        ):
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
                # client's 503 is true (nothing stored), rather than a stored write answered as failed. The save
                # of a tracked model has read it already, for its event (apicore.history.stored).
                serializer.instance = history.stored(instance)
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
