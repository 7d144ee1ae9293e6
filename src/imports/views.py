from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.response import Response

from apicore.exceptions import RequestTooLarge
from apicore.permissions import ModelPermissions
from channels.models import Channel
from imports import services
from imports.models import Import
from imports.serializers import ImportSerializer


class ImportsCustomers(ModelPermissions):
    """Imports are the customers' business: reading them needs `view_customer`; starting one, the permissions of what
    its mode may do: `add_customer` to create, `change_customer` to update (both for `upsert`)."""

    MODES = {"upsert": ("add", "change"), "create_only": ("add",), "update_only": ("change",)}

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        verbs = ("view",)
        if request.method not in permissions.SAFE_METHODS:
            verbs = self.MODES.get(request.query_params.get("mode", "upsert"), ("add", "change"))
        return request.user.has_perms([f"customers.{verb}_customer" for verb in verbs])


class UploadStalled(APIException):
    status_code = status.HTTP_408_REQUEST_TIMEOUT
    default_detail = "The upload stalled: no part of the file arrived in time. Send it again."
    default_code = "request_timeout"


class OptionsSerializer(serializers.Serializer):
    """An import's options, from the query string."""

    dry_run = serializers.BooleanField(default=False, help_text="Validate and report; write nothing.")
    mode = serializers.ChoiceField(choices=["upsert", "create_only", "update_only"], default="upsert")
    atomic = serializers.BooleanField(default=False, help_text="All rows or none.")
    restore_erased = serializers.BooleanField(
        default=False, help_text="Let rows give an erased customer a real email again."
    )
    channel = serializers.PrimaryKeyRelatedField(
        queryset=Channel.objects.all(), required=False, help_text="Rows without a channel go to this one."
    )


class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """`/customers/imports/`: POST a CSV or JSON Lines file of customers (README: Import); it is validated and
    written in the background by `omnitron worker`. GET one to see where it stands, its `report/` for each row."""

    queryset = Import.objects.order_by("-pk")
    serializer_class = ImportSerializer
    permission_classes = [ImportsCustomers]
    filter_backends = []
    lookup_value_regex = r"[0-9]+"

    @extend_schema(
        parameters=[OptionsSerializer],
        request={media_type: OpenApiTypes.BINARY for media_type in ("text/csv", "application/jsonl")},
        responses={202: ImportSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Uploads a file of customers (Content-Type `text/csv` or `application/jsonl`) and queues its import."""
        options = OptionsSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        format_ = services.FORMATS.get(request.content_type.split(";")[0].strip().lower())
        if format_ is None:
            raise UnsupportedMediaType(request.content_type)
        limit = settings.OMNITRON_IMPORT_MAX_BYTES
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            raise RequestTooLarge(f"The file is larger than {limit} bytes (OMNITRON_IMPORT_MAX_BYTES).")
        try:
            # Read from Django's request as it arrives: never whole in memory, nor through DRF's parsers.
            upload, size, head = services.store(request._request, limit)
        except services.OverLimit:
            raise RequestTooLarge(f"The file is larger than {limit} bytes (OMNITRON_IMPORT_MAX_BYTES).") from None
        except TimeoutError:
            raise UploadStalled() from None
        try:
            expected = int(request.META.get("CONTENT_LENGTH") or size)
            if size < expected:  # the client went away mid-upload
                raise services.FileProblem(f"The upload ended after {size} of its {expected} bytes.")
            services.check_start(head, format_, complete=size <= len(head))
        except services.FileProblem as problem:
            services.discard(upload)
            raise ParseError(str(problem)) from None
        record = Import.objects.create(
            user=request.user,
            format=format_,
            upload=upload,
            size=size,
            request_id=getattr(request._request, "request_id", None),
            **options.validated_data,
        )
        data = self.get_serializer(record).data
        location = request.build_absolute_uri(f"{record.pk}/")
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(responses={(200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR)})
    @action(detail=True)
    def report(self, request, pk=None):
        """One JSON line per row read so far: `{"line", "action", "pk", "errors"}`, in the file's order."""
        record = self.get_object()
        return StreamingHttpResponse(services.report_lines(record), content_type="application/jsonl")
