"""Projects, label classes and memberships."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, RestrictedError

from annotator.errors import Conflict, InvalidInput
from annotator.models import Asset, Export, Job, LabelClass, Membership, Project, Role
from annotator.services.assets import files_of_assets, remove_files_on_commit
from annotator.services.project_model import model_folder

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
# Distinct default colours for labels created without one.
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#fabed4",
    "#469990",
    "#dcbeff",
    "#9a6324",
    "#800000",
    "#aaffc3",
)


def next_color(project: Project) -> str:
    return PALETTE[project.labels.count() % len(PALETTE)]


def create_project(
    user: User, name: str, description: str = "", labels: Iterable[dict[str, str]] = ()
) -> Project:
    """Create a project owned by ``user`` with its label classes, all or nothing."""
    with transaction.atomic():
        project = Project.objects.create(name=name, description=description, created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        for label in labels:
            add_label(project, label["name"], label.get("color"))
    return project


def add_label(project: Project, name: str, color: str | None = None) -> LabelClass:
    name = name.strip()
    if not name:
        raise InvalidInput("a label needs a name", "invalid_label")
    if color is not None and not COLOR_RE.match(color):
        raise InvalidInput(f"label color {color!r} is not #rrggbb", "invalid_color")
    try:
        with transaction.atomic():
            return LabelClass.objects.create(
                project=project, name=name, color=(color or next_color(project)).lower()
            )
    except IntegrityError:
        raise Conflict(
            f"the project already has a label named {name!r}", "duplicate_label"
        ) from None


def update_label(
    label: LabelClass, *, name: str | None = None, color: str | None = None
) -> LabelClass:
    """Rename and/or recolour ``label`` (``None``: leave as is). The name is stripped and
    must stay unique in the project (``duplicate_label``); the colour is stored lowercase."""
    fields = []
    if name is not None:
        name = name.strip()
        if not name:
            raise InvalidInput("a label needs a name", "invalid_label")
        label.name = name
        fields.append("name")
    if color is not None:
        if not COLOR_RE.match(color):
            raise InvalidInput(f"label color {color!r} is not #rrggbb", "invalid_color")
        label.color = color.lower()
        fields.append("color")
    try:
        with transaction.atomic():
            label.save(update_fields=fields)
    except IntegrityError:
        raise Conflict(
            f"the project already has a label named {name!r}", "duplicate_label"
        ) from None
    return label


def delete_label(label: LabelClass) -> None:
    """Delete a label no annotation uses (``label_in_use`` otherwise: annotations keep
    their label, so relabel or delete them first)."""
    try:
        label.delete()
    except (ProtectedError, RestrictedError):
        raise Conflict(
            "the label is used by annotations; relabel or delete them first", "label_in_use"
        ) from None


def delete_project(project: Project) -> None:
    """Delete the project and everything in it (assets, annotations, labels, members,
    jobs, exports) in one transaction and, once it commits, every file of it in media
    storage: the assets' files and cached engine states, export zips and uploaded
    import archives (``remove_files``: logged, never raised)."""
    with transaction.atomic():
        # FOR UPDATE: rows that would point at the project (an upload, a new job) wait
        # for this delete and then fail, so none is left out of the cascade or the files.
        if not Project.objects.select_for_update().filter(pk=project.pk).exists():
            return
        files = files_of_assets(Asset.objects.select_for_update().filter(project=project))
        exports = Export.objects.filter(project=project).exclude(file="")
        files.paths.update(str(name) for name in exports.values_list("file", flat=True))
        for params in Job.objects.filter(project=project, kind="import").values_list(
            "params", flat=True
        ):
            files.paths.update(
                str(params[k]) for k in ("archive", "images") if (params or {}).get(k)
            )
        # Where the export job and the import upload store their files (by project id).
        files.folders.update(
            {f"exports/{project.pk}", f"imports/{project.pk}", model_folder(project.pk)}
        )
        project.delete()
        remove_files_on_commit(files)


def set_member(project: Project, username: str, role: str) -> Membership:
    """Add ``username`` to the project or change their role. The last owner cannot be
    demoted, so a project never ends up with nobody able to manage it (also when two
    owners demote each other at once: ``_lock_owners``)."""
    if role not in Role.values:
        raise InvalidInput(f"role must be one of {', '.join(Role.values)}", "invalid_role")
    user = User.objects.filter(username=username).first()
    if user is None:
        raise InvalidInput(f"no user named {username!r}", "unknown_user")
    with transaction.atomic():
        _lock_owners(project.pk)
        membership = (
            Membership.objects.select_for_update().filter(project=project, user=user).first()
        )
        if membership is None:
            return Membership.objects.create(project=project, user=user, role=role)
        if membership.role == Role.OWNER and role != Role.OWNER:
            _ensure_other_owner(membership)
        membership.role = role
        membership.save(update_fields=["role"])
        return membership


def remove_member(membership: Membership) -> None:
    """Remove a member; the last owner cannot be removed. The role checked is the one
    stored now, not the one ``membership`` was loaded with."""
    with transaction.atomic():
        _lock_owners(membership.project_id)
        current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if current is None:
            return  # removed meanwhile
        if current.role == Role.OWNER:
            _ensure_other_owner(current)
        current.delete()


def _lock_owners(project_id: int) -> None:
    """Serialise the owner changes of a project: lock its row, then its owners' rows,
    until the transaction ends (PostgreSQL; SQLite's IMMEDIATE transactions already run
    one writer at a time). Two owners demoting each other then run one after the other,
    and the second finds the first's change. ``no_key``: uploads and new labels, which
    only need the project row to exist, are not held up."""
    no_key = connection.features.has_select_for_no_key_update
    found = (
        Project.objects.select_for_update(no_key=no_key)
        .filter(pk=project_id)
        .values_list("pk", flat=True)
    )
    if found.first() is None:
        raise Conflict("the project was deleted meanwhile", "deleted")
    owners = Membership.objects.select_for_update(no_key=no_key).filter(
        project_id=project_id, role=Role.OWNER
    )
    list(owners.values_list("pk", flat=True))


def _ensure_other_owner(membership: Membership) -> None:
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.OWNER).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise Conflict("a project must keep at least one owner", "last_owner")
