"""Project membership and role checks. Views declare what they need once
(``api.permissions``); these are the checks behind the declarations.

An object of a project the user is not a member of does not exist for them (404); a
member whose role does not allow the action gets 403.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, Model, QuerySet
from django.shortcuts import get_object_or_404
from rest_framework.exceptions import PermissionDenied

from annotator.models import Membership, Project, Role

M = TypeVar("M", bound=Model)

# The name under which ``member_objects`` annotates the caller's role on each object.
MEMBER_ROLE = "member_role"


class Capability(Enum):
    READ = "read"
    REVIEW = "review"
    ANNOTATE = "annotate"
    MANAGE = "manage"


CAPABILITIES: dict[str, set[Capability]] = {
    Role.OWNER: {Capability.READ, Capability.REVIEW, Capability.ANNOTATE, Capability.MANAGE},
    Role.ANNOTATOR: {Capability.READ, Capability.ANNOTATE},
    Role.REVIEWER: {Capability.READ, Capability.REVIEW},
    Role.VIEWER: {Capability.READ},
}

_MESSAGES = {
    Capability.REVIEW: "only owners and reviewers can change review status",
    Capability.ANNOTATE: "only owners and annotators can change assets and annotations",
    Capability.MANAGE: "only project owners can do this",
}


def member_projects(user: User | AnonymousUser) -> QuerySet[Project]:
    return Project.objects.filter(memberships__user_id=user.pk or 0)


def member_objects(
    queryset: QuerySet[M], user: User | AnonymousUser, project_path: str = "project"
) -> QuerySet[M]:
    """The objects of ``queryset`` in the user's projects, each carrying the user's role
    there as ``member_role``: the membership is joined, so one query answers both "does it
    exist for this user" and "what may they do with it". ``project_path`` leads from the
    model to its project (``"asset__project"`` for an annotation)."""
    memberships = f"{project_path}__memberships"
    return queryset.filter(**{f"{memberships}__user_id": user.pk or 0}).annotate(
        **{MEMBER_ROLE: F(f"{memberships}__role")}
    )


def can(role: str | None, capability: Capability) -> bool:
    return role is not None and capability in CAPABILITIES.get(role, set())


def require(role: str | None, capability: Capability) -> None:
    if not can(role, capability):
        raise PermissionDenied(_MESSAGES.get(capability, "not allowed"))


def get_member_project(user: User | AnonymousUser, project_id: int) -> tuple[Project, str]:
    """The project and the user's role in it; 404 when the user is not a member."""
    membership = get_object_or_404(
        Membership.objects.select_related("project"), project_id=project_id, user_id=user.pk or 0
    )
    return membership.project, membership.role
