"""Who may do what, declared once per view.

Every view inside a project names what each HTTP method needs, in one class attribute::

    class AssetListView(InProject, generics.ListCreateAPIView[Asset]):
        capabilities = {"POST": Capability.ANNOTATE}

A method the declaration leaves out needs READ if it is safe (GET, HEAD, OPTIONS), which
every member has, and MANAGE otherwise. Instead of a capability a method may name a rule,
``rule(view, obj, role)``, which raises ``PermissionDenied``: for the few checks that need
more than the role (below). ``ProjectAccess`` enforces the declaration for the two kinds
of views, and a test (``tests/api/test_roles.py``) fails for a view that declares
nothing:

- ``InProject``: the URL names the project (``/projects/{pk}/...``). The membership is
  looked up once, before the handler runs: not a member -> 404, a role without the
  capability -> 403. The view then has ``self.project`` and ``self.role``.
- ``OnProjectObject``: the URL names one object of a project (``/assets/{pk}/``,
  ``/annotations/{pk}/``, ...). The view's queryset comes from ``member_objects``: only
  objects of the user's projects (any other is a 404, never a 403), each annotated with
  the user's role there, so ``get_object()`` checks the capability without a second
  query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from annotator.models import Project
from api.access import (
    MEMBER_ROLE,
    Capability,
    M,
    can,
    get_member_project,
    member_objects,
    require,
)

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

AccessRule = Callable[[Any, Any, str], None]
"""``rule(view, obj, role)``: raises ``PermissionDenied`` unless the request is allowed;
``obj`` is the project (``InProject``) or the object (``OnProjectObject``)."""

Capabilities = Mapping[str, Capability | AccessRule]

READ_ONLY: Capabilities = {}
"""The declaration of a view that only reads: every member may."""

OWNERS_CHANGE: Capabilities = {m: Capability.MANAGE for m in ("PUT", "PATCH", "DELETE")}
"""The declaration of an object that every member reads and only owners edit or delete
(the project itself, its labels, its memberships)."""


class ProjectAccess(BasePermission):
    """Enforces a view's ``capabilities`` (see the module docstring)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user.is_authenticated:
            return False  # DRF answers 401
        if isinstance(view, InProject) and _dispatches(view, request):
            project, role = get_member_project(request.user, view.kwargs[view.project_url_kwarg])
            enforce(view, request, project, role)
            view.project, view.role = project, role
        # OnProjectObject views: decided on the object, in get_object().
        return True

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        role = getattr(obj, MEMBER_ROLE, None)
        if role is None:
            raise ImproperlyConfigured(
                f"{type(view).__name__} loaded a {type(obj).__name__} without the caller's "
                "role: build its queryset with member_objects()"
            )
        enforce(view, request, obj, role)
        return True


def _dispatches(view: APIView, request: Request) -> bool:
    """Whether the request reaches a handler that needs the project. An unsupported method
    stays a 405 and OPTIONS stays a description of the endpoint, for members or not (the
    description checks each method's permission itself)."""
    method = (request.method or "").lower()
    return method != "options" and method in view.http_method_names and hasattr(view, method)


def enforce(view: APIView, request: Request, obj: Any, role: str) -> None:
    """Raise ``PermissionDenied`` unless ``role`` may make this request on ``obj``."""
    method = request.method or ""
    default = Capability.READ if method in SAFE_METHODS else Capability.MANAGE
    needed = getattr(view, "capabilities", {}).get(method, default)
    if isinstance(needed, Capability):
        require(role, needed)
    else:
        needed(view, obj, role)


# The two bases below carry no docstring: the OpenAPI schema takes a view's description
# from the first docstring among its classes.


class InProject(APIView):
    # Base (first among a view's bases) of a view whose URL names the project
    # (``/projects/{pk}/...``).

    permission_classes: Sequence[_PermissionClass] = [ProjectAccess]
    capabilities: ClassVar[Capabilities] = {}
    project_url_kwarg: ClassVar[str] = "pk"
    # Set by ProjectAccess before the handler runs.
    project: Project
    role: str


class OnProjectObject(APIView):
    # Base (first among a view's bases) of a view whose URL names one object of a
    # project. Its ``get_queryset`` builds on ``self.member_objects(...)``;
    # ``project_path`` leads from the object to its project.

    permission_classes: Sequence[_PermissionClass] = [ProjectAccess]
    capabilities: ClassVar[Capabilities] = {}
    project_path: ClassVar[str] = "project"

    def member_objects(self, queryset: QuerySet[M]) -> QuerySet[M]:
        return member_objects(queryset, self.request.user, self.project_path)

    def get_member_object(self, queryset: QuerySet[M], project_path: str = "project") -> M:
        """The object of ``queryset`` that the URL's ``pk`` names, checked as
        ``get_object()`` checks the view's own objects: for a view whose objects hang off
        the named one (the annotations of ``/assets/{pk}/annotations/``)."""
        obj = get_object_or_404(
            member_objects(queryset, self.request.user, project_path), pk=self.kwargs["pk"]
        )
        self.check_object_permissions(self.request, obj)
        return obj


# --- rules that need more than the role: named in a view's ``capabilities`` --------------


def review_or_annotate(view: Any, annotation: Any, role: str) -> None:
    """Changing an annotation: setting only its review status (and naming the version) is
    reviewing; any other change is annotating, and one that also sets the review status
    needs both. A member who can do neither is refused before the body is read (a
    malformed body is no way to learn more than a 403); the others are decided on the
    validated body (``view.changes``)."""
    if not (can(role, Capability.REVIEW) or can(role, Capability.ANNOTATE)):
        require(role, Capability.ANNOTATE)
    changed = set(view.changes)
    if "review_status" in changed and changed <= {"review_status", "version"}:
        require(role, Capability.REVIEW)
        return
    require(role, Capability.ANNOTATE)
    if "review_status" in changed:
        require(role, Capability.REVIEW)


def manager_or_creator(view: Any, job: Any, role: str) -> None:
    """Cancelling a job: a project owner, or whoever started it."""
    if not (can(role, Capability.MANAGE) or job.created_by_id == view.request.user.pk):
        raise PermissionDenied("only the job's creator or a project owner can cancel it")
