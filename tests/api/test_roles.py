"""Who may do what: every role against every endpoint, with the exact status.

Owners do everything; annotators change assets and annotations; reviewers change review
status; viewers read; a user outside the project gets 404 for all of it, and nobody
signed in gets 401. A refused request changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.models import Annotation, Asset, Job, LabelClass, Membership, Project
from annotator.services.annotations import create_annotation
from annotator.services.jobs import start_job
from annotator.services.projects import add_label
from tests.annotator.sample_images import box_mask, jpeg, png, rle_of
from tests.api.helpers import HEIGHT, WIDTH

pytestmark = pytest.mark.django_db

ROLES = ("owner", "annotator", "reviewer", "viewer", "outsider", "anonymous")


def read(ok: int = 200) -> dict[str, int]:
    return {"owner": ok, "annotator": ok, "reviewer": ok, "viewer": ok}


def manage(ok: int) -> dict[str, int]:
    return {"owner": ok, "annotator": 403, "reviewer": 403, "viewer": 403}


def annotate(ok: int) -> dict[str, int]:
    return {"owner": ok, "annotator": ok, "reviewer": 403, "viewer": 403}


def review(ok: int) -> dict[str, int]:
    return {"owner": ok, "annotator": 403, "reviewer": ok, "viewer": 403}


@dataclass
class World:
    project: Project
    label: LabelClass
    spare_label: LabelClass
    asset: Asset
    annotation: Annotation
    job: Job
    member: Membership  # the viewer's membership

    def ids(self) -> dict[str, int]:
        return {
            "p": self.project.pk,
            "l": self.label.pk,
            "spare": self.spare_label.pk,
            "a": self.asset.pk,
            "n": self.annotation.pk,
            "j": self.job.pk,
            "m": self.member.pk,
        }


@dataclass
class Case:
    method: str
    path: str
    expected: dict[str, int]
    body: Callable[[], Any] | None = None
    multipart: bool = False
    prepare: Callable[[World], None] | None = None
    name: str = field(default="")

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.method.upper()} {self.path}"


def no_annotations(world: World) -> None:
    Annotation.objects.all().delete()


CASES = [
    Case("get", "/api/projects/{p}/", read()),
    Case("patch", "/api/projects/{p}/", manage(200), lambda: {"description": "changed"}),
    Case("put", "/api/projects/{p}/", manage(200), lambda: {"name": "New", "description": ""}),
    Case("delete", "/api/projects/{p}/", manage(204), prepare=no_annotations),
    Case("get", "/api/projects/{p}/labels/", read()),
    Case("post", "/api/projects/{p}/labels/", manage(201), lambda: {"name": "gull"}),
    Case("get", "/api/labels/{l}/", read()),
    Case("patch", "/api/labels/{l}/", manage(200), lambda: {"color": "#111111"}),
    Case("delete", "/api/labels/{spare}/", manage(204)),
    Case("get", "/api/projects/{p}/members/", read()),
    Case(
        "post",
        "/api/projects/{p}/members/",
        manage(201),
        lambda: {"username": "stranger", "role": "viewer"},
    ),
    Case("get", "/api/members/{m}/", read()),
    Case("patch", "/api/members/{m}/", manage(200), lambda: {"role": "reviewer"}),
    Case("delete", "/api/members/{m}/", manage(204)),
    Case("get", "/api/projects/{p}/assets/", read()),
    Case(
        "post",
        "/api/projects/{p}/assets/",
        annotate(201),
        lambda: {"file": SimpleUploadedFile("new.png", png(seed=7))},
        multipart=True,
    ),
    Case("get", "/api/assets/{a}/", read()),
    Case("delete", "/api/assets/{a}/", annotate(204)),
    Case("get", "/api/assets/{a}/frames/0/image", read()),
    Case("get", "/api/assets/{a}/thumbnail", read()),
    # An empty prompt: refused (400) before anything is queued, so no worker is needed.
    Case("post", "/api/assets/{a}/predict/", annotate(400), lambda: {"frame": 0}),
    Case("get", "/api/assets/{a}/annotations/", read()),
    Case(
        "post",
        "/api/assets/{a}/annotations/",
        annotate(201),
        lambda: {"frame": 0, "label": None, "mask": rle_of(box_mask(HEIGHT, WIDTH, 0, 0, 4, 4))},
    ),
    Case("get", "/api/annotations/{n}/", read()),
    Case("put", "/api/annotations/{n}/", annotate(200), lambda: {"version": 1, "score": 0.5}),
    Case("patch", "/api/annotations/{n}/", annotate(200), lambda: {"version": 1, "score": 0.5}),
    Case(
        "patch",
        "/api/annotations/{n}/",
        review(200),
        lambda: {"version": 1, "review_status": "accepted"},
        name="PATCH /api/annotations/{n}/ review_status",
    ),
    Case("delete", "/api/annotations/{n}/", annotate(204)),
    Case("get", "/api/projects/{p}/jobs/", read()),
    Case("get", "/api/jobs/{j}/", read()),
    # The job was started by the annotator: its creator or an owner may cancel it.
    Case("post", "/api/jobs/{j}/cancel/", annotate(200)),
]


@pytest.fixture
def world(team: dict[str, Any], make_user: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    from annotator.services import jobs

    monkeypatch.setattr(jobs.app.control, "revoke", lambda *args, **kwargs: None)
    make_user("stranger")
    project = team["project"]
    asset = Asset.objects.create(
        project=project, kind="image", name="a.png", checksum="0" * 64, width=WIDTH, height=HEIGHT
    )
    asset.file.save("a.png", ContentFile(png()), save=False)
    asset.thumbnail.save("a.jpg", ContentFile(jpeg(32, 24)), save=False)
    asset.save()
    asset.frames.create(index=0, width=WIDTH, height=HEIGHT)
    annotation = create_annotation(
        asset=asset,
        frame=0,
        label=team["label"],
        mask=rle_of(box_mask(HEIGHT, WIDTH, 5, 5, 15, 15)),
        author=team["annotator"],
    )
    job = start_job(project=project, kind="export", user=team["annotator"])
    return World(
        project=project,
        label=team["label"],
        spare_label=add_label(project, "spare"),
        asset=asset,
        annotation=annotation,
        job=job,
        member=Membership.objects.get(project=project, user=team["viewer"]),
    )


def fingerprint() -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    return (
        list(Project.objects.values_list("id", "name", "description")),
        list(LabelClass.objects.values_list("id", "name", "color")),
        list(Membership.objects.values_list("id", "user_id", "role")),
        list(Asset.objects.values_list("id", "name")),
        list(Annotation.objects.values_list("id", "version", "score", "review_status")),
        list(Job.objects.values_list("id", "status")),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_access(case: Case, role: str, world: World, team: dict[str, Any], client_for: Any) -> None:
    if case.prepare:
        case.prepare(world)
    expected = case.expected.get(role, 404 if role == "outsider" else 401)
    path = case.path.format(**world.ids())
    body = case.body() if case.body else None
    if isinstance(body, dict) and body.get("label", 0) is None:
        body["label"] = world.label.pk
    client = client_for(team.get(role))
    before = fingerprint()

    if case.multipart:
        response = getattr(client, case.method)(path, body, format="multipart")
    elif body is not None:
        response = getattr(client, case.method)(path, body, format="json")
    else:
        response = getattr(client, case.method)(path)

    assert response.status_code == expected, getattr(response, "content", b"")[:300]
    if expected >= 400:
        if not getattr(response, "streaming", False):
            payload = response.json()
            assert payload.get("detail") and payload.get("code"), payload
        assert fingerprint() == before


# --- every view declares its access ---------------------------------------------------------

# Views outside any project, each with its own explicit ``permission_classes``.
OUTSIDE_PROJECTS = {"health", "token", "register", "me", "projects"}


def test_every_view_declares_who_may_use_it() -> None:
    """A view inside a project declares its capabilities once (``api.permissions``), for
    every method that changes something; the few outside any project name their
    permission classes. A new view that declares neither fails here."""
    from rest_framework.permissions import SAFE_METHODS

    from api import urls
    from api.permissions import InProject, OnProjectObject, ProjectAccess

    checked = 0
    for pattern in urls.urlpatterns:
        view = pattern.callback.cls
        if not view.__module__.startswith("api.views."):
            continue  # the schema and docs pages (drf-spectacular)
        checked += 1
        if pattern.name in OUTSIDE_PROJECTS:
            assert not issubclass(view, (InProject, OnProjectObject)), view
            assert "permission_classes" in vars(view), f"{view.__name__} declares no access"
            continue
        assert issubclass(view, (InProject, OnProjectObject)), (
            f"{view.__name__} ({pattern.pattern}) is neither InProject nor OnProjectObject"
        )
        assert ProjectAccess in view.permission_classes, view
        assert "capabilities" in vars(view), f"{view.__name__} declares no capabilities"
        changing = {m.upper() for m in view.http_method_names if hasattr(view, m)}
        undeclared = changing - set(SAFE_METHODS) - set(view.capabilities)
        assert not undeclared, f"{view.__name__} does not declare {sorted(undeclared)}"
    assert checked == len(urls.urlpatterns) - 2


# --- objects of another project: 404 for every member, never a 403 ---------------------------


@dataclass
class Elsewhere:
    """A second project (the stranger's) with one of everything."""

    project: Project
    ids: dict[str, int]


@pytest.fixture
def elsewhere(world: World) -> Elsewhere:
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from annotator.models import Export
    from annotator.services.projects import create_project

    stranger = User.objects.get(username="stranger")
    project = create_project(stranger, "Cats", "", [{"name": "cat"}])
    asset = Asset.objects.create(
        project=project, kind="image", name="c.png", checksum="1" * 64, width=WIDTH, height=HEIGHT
    )
    asset.file.save("c.png", ContentFile(png()), save=False)
    asset.thumbnail.save("c.jpg", ContentFile(jpeg(32, 24)), save=False)
    asset.save()
    asset.frames.create(index=0, width=WIDTH, height=HEIGHT)
    annotation = create_annotation(
        asset=asset,
        frame=0,
        label=project.labels.get(),
        mask=rle_of(box_mask(HEIGHT, WIDTH, 5, 5, 15, 15)),
        author=stranger,
    )
    job = start_job(project=project, kind="export", user=stranger)
    export = Export.objects.create(
        project=project, job=job, format="coco", expires=timezone.now() + timedelta(hours=1)
    )
    ids = {
        "p": project.pk,
        "l": project.labels.get().pk,
        "a": asset.pk,
        "n": annotation.pk,
        "j": job.pk,
        "e": export.pk,
        "m": Membership.objects.get(project=project).pk,
    }
    return Elsewhere(project=project, ids=ids)


def mask_body() -> dict[str, Any]:
    return {"frame": 0, "label": 0, "mask": rle_of(box_mask(HEIGHT, WIDTH, 0, 0, 4, 4))}


# Every endpoint that names a project or an object of one, with a body that a member with
# every capability could send.
FOREIGN = [
    ("get", "/api/projects/{p}/", None),
    ("patch", "/api/projects/{p}/", {"description": "mine now"}),
    ("delete", "/api/projects/{p}/", None),
    ("get", "/api/projects/{p}/labels/", None),
    ("post", "/api/projects/{p}/labels/", {"name": "gull"}),
    ("get", "/api/projects/{p}/members/", None),
    ("post", "/api/projects/{p}/members/", {"username": "owner", "role": "owner"}),
    ("get", "/api/projects/{p}/assets/", None),
    ("get", "/api/projects/{p}/jobs/", None),
    ("get", "/api/projects/{p}/exports/", None),
    ("post", "/api/projects/{p}/exports/", {"format": "coco"}),
    ("post", "/api/projects/{p}/imports/", None),
    ("get", "/api/labels/{l}/", None),
    ("patch", "/api/labels/{l}/", {"name": "dog"}),
    ("delete", "/api/labels/{l}/", None),
    ("get", "/api/members/{m}/", None),
    ("patch", "/api/members/{m}/", {"role": "viewer"}),
    ("delete", "/api/members/{m}/", None),
    ("get", "/api/assets/{a}/", None),
    ("delete", "/api/assets/{a}/", None),
    ("get", "/api/assets/{a}/neighbors/", None),
    ("get", "/api/assets/{a}/frames/0/image", None),
    ("get", "/api/assets/{a}/thumbnail", None),
    ("post", "/api/assets/{a}/predict/", {"frame": 0, "clicks": [{"x": 5, "y": 5}]}),
    ("get", "/api/assets/{a}/annotations/", None),
    ("post", "/api/assets/{a}/annotations/", mask_body()),
    ("get", "/api/annotations/{n}/", None),
    ("put", "/api/annotations/{n}/", {"version": 1, "score": 0.5}),
    ("patch", "/api/annotations/{n}/", {"review_status": "accepted"}),
    ("delete", "/api/annotations/{n}/?version=1", None),
    ("get", "/api/jobs/{j}/", None),
    ("post", "/api/jobs/{j}/cancel/", None),
    ("get", "/api/exports/{e}/", None),
    ("get", "/api/exports/{e}/download", None),
]


@pytest.mark.parametrize("role", ["owner", "viewer"])
@pytest.mark.parametrize(
    ("method", "path", "body"), FOREIGN, ids=[f"{m.upper()} {p}" for m, p, _ in FOREIGN]
)
def test_another_projects_objects_do_not_exist_for_a_member(
    method: str,
    path: str,
    body: Any,
    role: str,
    elsewhere: Elsewhere,
    team: dict[str, Any],
    client_for: Any,
) -> None:
    """Members of one project (even its owner, who may do everything there) get 404 for
    everything of another project: not 403, which would tell them it exists."""
    before = fingerprint()
    url = path.format(**elsewhere.ids)
    response = getattr(client_for(team[role]), method)(url, body, format="json")
    assert response.status_code == 404, response.content[:300]
    assert fingerprint() == before


@pytest.mark.parametrize(
    ("method", "path", "body"), FOREIGN, ids=[f"{m.upper()} {p}" for m, p, _ in FOREIGN]
)
def test_a_member_of_another_project_gets_404_here(
    method: str, path: str, body: Any, world: World, elsewhere: Elsewhere, client_for: Any
) -> None:
    """The same the other way round: the stranger, owner of their own project, finds
    nothing of this one."""
    from django.contrib.auth.models import User

    ids = {**world.ids(), "e": _export_of(world).pk}
    before = fingerprint()
    response = getattr(client_for(User.objects.get(username="stranger")), method)(
        path.format(**ids), body, format="json"
    )
    assert response.status_code == 404, response.content[:300]
    assert fingerprint() == before


def _export_of(world: World) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from annotator.models import Export

    return Export.objects.create(
        project=world.project,
        job=world.job,
        format="coco",
        expires=timezone.now() + timedelta(hours=1),
    )


# --- what the declarations leave as they were ---------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_an_unsupported_method_is_a_405_for_anyone_signed_in(
    role: str, world: World, team: dict[str, Any], client_for: Any
) -> None:
    client = client_for(team[role])
    assert client.put(f"/api/projects/{world.project.pk}/labels/", {}).status_code == 405
    assert client.post(f"/api/assets/{world.asset.pk}/", {}).status_code == 405
    assert client.get(f"/api/jobs/{world.job.pk}/cancel/").status_code == 405


@pytest.mark.parametrize("role", ["owner", "viewer", "outsider"])
def test_options_describes_an_endpoint_and_offers_only_what_the_role_may_do(
    role: str, world: World, team: dict[str, Any], client_for: Any
) -> None:
    response = client_for(team[role]).options(f"/api/projects/{world.project.pk}/labels/")
    assert response.status_code == 200
    assert ("actions" in response.json()) == (role == "owner")
