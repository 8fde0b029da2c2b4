"""A project with one object of every kind the API names by id, built for the access
matrix (``test_roles``) and the schema fuzzing (``test_schemathesis``)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any, ClassVar

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db.models import Model

from annotator.models import (
    Annotation,
    Asset,
    Export,
    Job,
    LabelClass,
    Membership,
    Project,
    ProjectModel,
    QueueItem,
    QueueSkip,
)
from annotator.services.annotations import create_annotation
from annotator.services.exports import start_export
from annotator.services.projects import add_label
from tests.annotator.sample_images import box_mask, jpeg, png, rle_of
from tests.api.helpers import HEIGHT, WIDTH


@dataclass
class Side:
    """One project and an object of each kind in it. ``label`` is used by nobody (it can
    be deleted); ``annotation`` uses ``used_label``; ``member`` is a viewer's membership;
    ``job`` was started by ``job_creator`` and is the job of ``export``, whose file is
    ready to download. ``queue_item`` is the clip's unlabelled frame 1, free to lease;
    ``model`` a trained version of the project model (its file is never read)."""

    project: Project
    used_label: LabelClass
    label: LabelClass
    asset: Asset
    annotation: Annotation
    job: Job
    export: Export
    member: Membership
    queue_item: QueueItem
    model: ProjectModel

    #: The first segment of a URL (``/api/<segment>/<pk>/...``) -> the attribute naming
    #: the object it names.
    SEGMENTS: ClassVar[dict[str, str]] = {
        "projects": "project",
        "labels": "label",
        "members": "member",
        "assets": "asset",
        "annotations": "annotation",
        "jobs": "job",
        "exports": "export",
        "queue": "queue_item",
    }

    def by_segment(self, segment: str) -> Model:
        obj: Model = getattr(self, self.SEGMENTS[segment])
        return obj


def clip_asset(project: Project, name: str = "a.png", frames: int = 2) -> Asset:
    """A ready video of ``frames`` 64 x 48 PNG frames (the asset's file the same PNG),
    with its thumbnail: every endpoint of an asset, those of videos
    (propagate, prefetch) too, has something to act on."""
    asset = Asset.objects.create(
        project=project,
        kind="video",
        name=name,
        checksum="0" * 64,
        width=WIDTH,
        height=HEIGHT,
        num_frames=frames,
        fps=25.0,
        status="ready",
    )
    asset.file.save(name, ContentFile(png()), save=False)
    asset.thumbnail.save(name + ".jpg", ContentFile(jpeg(32, 24)), save=False)
    asset.save()
    for index in range(frames):
        frame = asset.frames.create(index=index, width=WIDTH, height=HEIGHT, timestamp=index / 25)
        frame.image.save(f"{asset.pk}/{index:06d}.png", ContentFile(png()))  # as ingested
    return asset


def small_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("annotations.json", '{"images": [], "annotations": []}')
    return buffer.getvalue()


def build_side(project: Project, job_creator: User, member: User) -> Side:
    """Fill ``project`` (its first label is the one the annotation uses); ``job_creator``
    starts the export, ``member`` is the membership the member endpoints name."""
    used_label = project.labels.order_by("id").first() or add_label(project, "bird")
    asset = clip_asset(project)
    annotation = create_annotation(
        asset=asset,
        frame=0,
        label=used_label,
        mask=rle_of(box_mask(HEIGHT, WIDTH, 5, 5, 15, 15)),
        author=job_creator,
    )
    export = start_export(project, job_creator)
    export.file.save("export.zip", ContentFile(small_zip()))
    return Side(
        project=project,
        used_label=used_label,
        label=add_label(project, "spare"),
        asset=asset,
        annotation=annotation,
        job=export.job,
        export=export,
        member=Membership.objects.get(project=project, user=member),
        queue_item=QueueItem.objects.create(project=project, asset=asset, frame=1, score=0.5),
        model=ProjectModel.objects.create(
            project=project,
            version=1,
            trained_on=1,
            num_labels=1,
            metrics={"miou": None, "per_label": {}, "frames": 0},
            path=f"learning/{project.pk}/model-none.bin",
        ),
    )


def fingerprint() -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    return (
        list(Project.objects.values_list("id", "name", "description").order_by("id")),
        list(LabelClass.objects.values_list("id", "name", "color").order_by("id")),
        list(Membership.objects.values_list("id", "user_id", "role").order_by("id")),
        list(Asset.objects.values_list("id", "name").order_by("id")),
        list(
            Annotation.objects.values_list("id", "version", "score", "review_status").order_by("id")
        ),
        list(Job.objects.values_list("id", "status").order_by("id")),
        list(Export.objects.values_list("id").order_by("id")),
        list(Annotation.objects.values_list("id", "review_comment", "reviewed_by").order_by("id")),
        list(
            QueueItem.objects.values_list("id", "done", "leased_by", "skips", "reason").order_by(
                "id"
            )
        ),
        list(QueueSkip.objects.values_list("id").order_by("id")),
        list(ProjectModel.objects.values_list("id", "version").order_by("id")),
        list(Project.objects.values_list("id", "settings").order_by("id")),
    )
