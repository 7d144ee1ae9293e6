"""Who may do what: Django's model permissions (view, add, change, delete), decided per request."""

from django.contrib.auth import backends
from django.contrib.auth.models import Permission
from django.db.models import Q
from rest_framework import permissions

__all__ = ["ModelBackend", "ModelPermissions"]


class ModelPermissions(permissions.DjangoModelPermissions):
    """`view_<model>` to read (GET, HEAD, OPTIONS), `add_`/`change_`/`delete_<model>` to write; superusers may do
    everything. The model is the view's `queryset`.

    DRF's DjangoModelPermissions lets any authenticated user read; here reading is a permission too. The model comes
    from the class attribute, not `get_queryset()`: a nested route's queryset looks up its parent first, and a
    user without the permission must get 403 before that lookup can answer 404.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        return request.user.has_perms(self.get_required_permissions(request.method, view.queryset.model))


class ModelBackend(backends.ModelBackend):
    """Django's backend, reading a user's permissions (its own and its groups') in one query instead of two.

    Every API request checks a permission; superusers and inactive users need no query at all.
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            granted = Permission.objects.all()
            if not user_obj.is_superuser:
                granted = granted.filter(Q(user=user_obj) | Q(group__user=user_obj))
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in granted.values_list("content_type__app_label", "codename").order_by()
            }
        return user_obj._perm_cache
