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
