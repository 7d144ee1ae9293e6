from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from imports import services
from imports.models import Import


class UploadForm(forms.ModelForm):
    """An import started from the admin: a file and the API's options (README: Import)."""

    file = forms.FileField(help_text="A .csv file (a header row naming the customer's fields) or .jsonl (JSON Lines).")

    class Meta:
        model = Import
        fields = ("file", "dry_run", "mode", "atomic", "restore_erased", "channel")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        format_ = services.format_of(upload.name)
        if format_ is None:
            raise forms.ValidationError("Upload a .csv or .jsonl file.")
        limit = settings.OMNITRON_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(f"The file is larger than {limit} bytes (OMNITRON_IMPORT_MAX_BYTES).")
        head = upload.read(services.CHUNK_BYTES)
        upload.seek(0)
        try:
            services.check_start(head, format_, complete=upload.size <= len(head))
        except services.FileProblem as problem:
            raise forms.ValidationError(str(problem)) from None
        upload.import_format = format_
        return upload


@admin.register(Import)
class ImportAdmin(admin.ModelAdmin):
    """Imports of customers: "Add" uploads a file (the customers' list links here), a record shows where its import
    stands and its report. The worker (`omnitron worker`, run by `make serve`) runs them."""

    list_display = ("pk", "status", "format", "dry_run", "mode", "rows_read", "created", "updated", "unchanged",
                    "failed", "progress_percent", "created_date")  # fmt: skip
    list_filter = ("status", "dry_run", "mode")
    readonly_fields = ("status", "format", "dry_run", "mode", "atomic", "restore_erased", "channel", "user", "size",
                       "rows_read", "created", "updated", "unchanged", "failed", "progress_percent", "error",
                       "created_date", "started_date", "finished_date", "report")  # fmt: skip
    exclude = ("upload", "request_id", "bytes_done", "lines_done", "worker", "lease_until")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = UploadForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_exclude(self, request, obj=None):
        return self.exclude if obj is not None else ()

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else UploadForm.Meta.fields

    # Imports are the customers' business: the customers' permissions decide, as on the API.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("customers.view_customer")

    def has_add_permission(self, request):
        return request.user.has_perms(["customers.add_customer", "customers.change_customer"])

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data["file"]
        obj.upload, obj.size, _ = services.store(upload, settings.OMNITRON_IMPORT_MAX_BYTES)
        obj.format, obj.user = upload.import_format, request.user
        obj.request_id = getattr(request, "request_id", None)
        super().save_model(request, obj, form, change)

    @admin.display(description="progress")
    def progress_percent(self, obj):
        return f"{obj.progress:.0%}"

    @admin.display(description="report")
    def report(self, obj):
        url = reverse("admin:imports_import_report", args=[obj.pk])
        return format_html('<a href="{}">Download the report</a> (a JSON line per row: line, action, pk, errors)', url)

    def get_urls(self):
        report = self.admin_site.admin_view(self.report_view)
        return [path("<int:pk>/report/", report, name="imports_import_report"), *super().get_urls()]

    def report_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        record = get_object_or_404(Import, pk=pk)
        response = StreamingHttpResponse(services.report_lines(record), content_type="application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="import-{pk}-report.jsonl"'
        return response
