"""The ``import`` job: validate a whole uploaded archive (``workers.export`` readers),
then store it through the domain services in one transaction: all or nothing.

Nothing of an import that does not succeed stays in media storage:

- The uploaded files (``params["archive"]``, ``params["images"]``) are removed when the
  job ends, done, failed or cancelled: by the run, or, when the worker was lost on the
  last attempt (the run never got to its own clean-up), by the lifecycle giving the job
  up (:func:`clean_up_given_up_import`). They stay only while another delivery of the
  job will need them.
- The files of the assets an import creates are written inside its transaction (by
  ``ingest_upload``): the run removes them when the transaction rolls back. A killed
  worker runs no Python, so each asset's file names are also written to an *ingest
  journal* in media storage (``imports/{project}/ingested-{job}/``) as soon as the asset
  is stored; the next delivery of the job, or the lifecycle giving it up, removes the
  journalled files that no asset row names (:func:`discard_ingested`). One gap is left:
  a worker killed between ``ingest_upload`` writing a file and its return (a few
  milliseconds per image) leaves that file unjournalled.

Imports follow the API's role rules: the job's creator must still be allowed to
annotate, and only owners and reviewers may import accepted or rejected annotations
(``review_not_allowed``), as only they can set a review status through the API.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import posixpath
import re
import tempfile
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotator import task_routes
from annotator.errors import DomainError
from annotator.models import (
    Annotation,
    AnnotationSource,
    Asset,
    AssetKind,
    Frame,
    Job,
    LabelClass,
    Membership,
    Project,
    ReviewStatus,
)
from annotator.services.annotations import claim_track, create_annotation, frame_size
from annotator.services.assets import ingest_upload
from annotator.services.jobs import uploads_of
from annotator.services.projects import COLOR_RE, add_label
from api.access import Capability, can
from workers.export import (
    ArchiveError,
    ArchiveLimits,
    ExportCategory,
    ImportBundle,
    ImportImage,
    validate_and_load,
)
from workers.runtime.exports import archive_stem
from workers.runtime.lifecycle import (
    DB_CONNECTION_ERRORS,
    JobFailed,
    JobRun,
    job_task,
    on_given_up,
)

logger = logging.getLogger(__name__)

#: The review states only owners and reviewers may set (through the API or an import).
REVIEWED = (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED)
#: Where ``ingest_upload`` stores an asset's files: all that a journal may name.
ASSET_FILES = "assets/"
DISPLAY = "assets/display/"  # where ingest_upload stores 8-bit renderings


class ImportFailed(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _match_label(
    project: Project, category: ExportCategory, cache: dict[str, LabelClass]
) -> LabelClass:
    """The project's label of the category's name, created (with the archive's colour
    when it is a valid one) when the project has none."""
    if category.name in cache:
        return cache[category.name]
    label = project.labels.filter(name=category.name.strip()).first()
    if label is None:
        color = category.color if COLOR_RE.match(category.color or "") else None
        label = add_label(project, category.name, color)
    cache[category.name] = label
    return label


def check_import_roles(project: Project, user: User | None, bundle: ImportBundle) -> None:
    """The API's role rules, applied to the job's creator as a member of ``project``
    now: they may annotate (``import_not_allowed``), and set review states only if they
    may review (``review_not_allowed``, naming how many annotations carry one)."""
    role = None
    if user is not None:
        role = (
            Membership.objects.filter(project=project, user=user)
            .values_list("role", flat=True)
            .first()
        )
    who = "its creator" if user is None else repr(user.username)
    if not can(role, Capability.ANNOTATE):
        raise ImportFailed(
            f"the import was started by {who}, who may not change this project's "
            f"annotations (role: {role or 'not a member'})",
            "import_not_allowed",
        )
    reviewed = sum(1 for ann in bundle.annotations if ann.review_status in REVIEWED)
    if reviewed and not can(role, Capability.REVIEW):
        raise ImportFailed(
            f"{reviewed} annotation(s) in the archive are accepted or rejected, and only "
            f"owners and reviewers can set a review status (the import was started by "
            f"{who}, whose role is {role}): have an owner or a reviewer import it, or make "
            "their review_status pending",
            "review_not_allowed",
        )


# --- the files a run stores, and their clean-up ------------------------------------------


def journal_folder(job: Job) -> str:
    """Where the ingest journal of ``job`` lives (under the project's uploads, so a
    deleted project takes it along)."""
    return f"imports/{job.project_id}/ingested-{job.pk}"


def _delete(path: str) -> None:
    try:
        default_storage.delete(path)
    except Exception:
        logger.warning("could not remove %s from media storage", path, exc_info=True)


def _remove_folder_if_empty(folder: str) -> None:
    # Object stores have no folders; a local one is left empty.
    with contextlib.suppress(NotImplementedError, OSError):
        os.rmdir(default_storage.path(folder))


class IngestJournal:
    """The files this run stored for the assets it created: the run removes them itself
    after a rollback (:meth:`discard`), and their names are in media storage, one small
    file per asset, for when it cannot (:func:`discard_ingested`)."""

    def __init__(self, job: Job, token: str) -> None:
        self.folder = journal_folder(job)
        self.prefix = re.sub(r"[^0-9a-zA-Z]", "", token)[:12] or "run"
        self.paths: list[str] = []
        self.entries: list[str] = []

    def intend(self, data: bytes) -> None:
        """Before ``ingest_upload`` stores ``data``: the names its files will start with
        (the image's checksum), so a run killed between a file's write and
        :meth:`record` leaves nothing :func:`discard_ingested` cannot find."""
        stem = hashlib.sha256(data).hexdigest()[:16]
        prefixes = [timezone.now().strftime(f"assets/original/%Y/%m/{stem}-"), f"{DISPLAY}{stem}"]
        self._write({"prefixes": prefixes})

    def _write(self, content: Any) -> None:
        name = f"{self.folder}/{self.prefix}-{len(self.entries):06d}.json"
        self.entries.append(default_storage.save(name, ContentFile(json.dumps(content).encode())))

    def record(self, asset: Asset) -> None:
        paths = [str(f.name) for f in (asset.file, asset.display_file, asset.thumbnail) if f]
        self.paths.extend(paths)
        self._write(paths)

    def forget(self) -> None:
        """The import committed: its files are the assets' now; drop the journal."""
        for entry in self.entries:
            _delete(entry)
        self.entries.clear()
        _remove_folder_if_empty(self.folder)

    def discard(self) -> None:
        """The import rolled back: remove its files, then the journal."""
        for path in self.paths:
            _delete(path)
        self.paths.clear()
        self.forget()


def _named_by_a_row(path: str) -> bool:
    return (
        Asset.objects.filter(Q(file=path) | Q(display_file=path) | Q(thumbnail=path)).exists()
        or Frame.objects.filter(image=path).exists()
    )


def _files_starting_with(prefixes: Any) -> list[str]:
    """The stored files whose names start with one of ``prefixes`` (an intent entry)."""
    found: list[str] = []
    for prefix in prefixes if isinstance(prefixes, list) else []:
        if not isinstance(prefix, str) or not prefix.startswith(ASSET_FILES):
            continue
        folder, _, start = prefix.rpartition("/")
        try:
            _, files = default_storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        found.extend(f"{folder}/{name}" for name in files if name.startswith(start))
    return found


def discard_ingested(job: Job) -> int:
    """Remove what earlier runs of ``job`` journalled and could not remove themselves
    (their worker was lost mid-transaction): the files no asset row names, then the
    journal. Returns how many files it removed; never raises."""
    folder = journal_folder(job)
    removed = 0
    try:
        try:
            _, entries = default_storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        for entry in entries:
            path = f"{folder}/{entry}"
            try:
                with default_storage.open(path, "rb") as stream:
                    names = json.loads(stream.read())
            except (OSError, ValueError):
                logger.warning("unreadable ingest journal entry %s", path, exc_info=True)
                names = []
            if isinstance(names, dict):  # an intent: the files begun under its names
                names = _files_starting_with(names.get("prefixes"))
            for name in names if isinstance(names, list) else []:
                # Only asset files are ever journalled (and ``ingest_upload`` names them).
                if not isinstance(name, str) or not name.startswith(ASSET_FILES):
                    continue
                if not _named_by_a_row(name):
                    _delete(name)
                    removed += 1
            _delete(path)
        _remove_folder_if_empty(folder)
    except Exception:
        logger.exception("job %s: removing the files of its earlier runs stopped", job.pk)
    return removed


@on_given_up("import")
def clean_up_given_up_import(job: Job) -> None:
    """The lifecycle gave the job up (its worker was lost on the last attempt): remove
    what its runs stored and the uploaded files."""
    discard_ingested(job)
    for path in uploads_of(job):
        _delete(path)


# --- matching the archive's images to assets -----------------------------------------------


def _is_frame(image: ImportImage) -> bool:
    """Whether the record is a frame of a video (not a still image)."""
    return image.video_name is not None or bool(image.frame_index)


class AssetMatcher:
    """Finds the project's asset of an archive's image record: a still image by its file
    name (our exports prefix the asset id: ``"12_name.png"``, older ones name a frame
    ``"12_name_f00005.png"``), a frame by its ``video_name``, else by its folder
    (``"images/12_clip/00005.jpg"``: a video named ``clip.*``)."""

    def __init__(self, project: Project) -> None:
        self.by_name: dict[str, Asset] = {}
        self.videos_by_stem: dict[str, Asset] = {}
        fields = ("id", "kind", "name", "width", "height", "num_frames", "project_id")
        for asset in project.assets.all().only(*fields).order_by("id"):
            self.add(asset)

    def add(self, asset: Asset) -> None:
        self.by_name.setdefault(asset.name, asset)
        if asset.kind == AssetKind.VIDEO or asset.num_frames > 1:
            self.videos_by_stem.setdefault(archive_stem(asset.name), asset)

    def find(self, image: ImportImage) -> Asset | None:
        if image.video_name is not None:
            return self.by_name.get(image.video_name)
        base = posixpath.basename(image.file_name)
        # Our own exports prefix the asset id ("12_name.png"); match either way.
        stripped = re.sub(r"^\d+_", "", base)
        stripped = re.sub(r"_f\d{5}(\.\w+)$", r"\1", stripped)
        found = self.by_name.get(base) or self.by_name.get(stripped)
        if found is None and image.frame_index is not None:
            folder = posixpath.basename(posixpath.dirname(image.file_name))
            found = self.videos_by_stem.get(re.sub(r"^\d+_", "", folder))
        return found


def _new_asset(
    project: Project, image: ImportImage, user: User | None, journal: IngestJournal
) -> Asset:
    """A still image of the archive that no asset matched, uploaded as a new asset; a
    frame of a video cannot be (the video must be uploaded first)."""
    if _is_frame(image):
        video = image.video_name or posixpath.dirname(image.file_name) or image.file_name
        raise ImportFailed(
            f"frame {image.frame_index} of video {video!r} ({image.file_name!r}): the video "
            "is not an asset of this project (matched by name); upload the video first, "
            "then import its annotations",
            "missing_video",
        )
    base = posixpath.basename(image.file_name)
    if image.open_image is None:
        raise ImportFailed(
            f"image {image.file_name!r} is neither in the archive nor an asset "
            "of this project (matched by file name)",
            "missing_image",
        )
    stripped = re.sub(r"_f\d{5}(\.\w+)$", r"\1", re.sub(r"^\d+_", "", base))
    try:
        data = image.open_image()
        journal.intend(data)
        found = ingest_upload(project, SimpleUploadedFile(stripped or base, data), user)
    except ArchiveError as exc:
        raise ImportFailed(exc.message, exc.code) from None
    except DomainError as exc:
        raise ImportFailed(f"image {image.file_name!r}: {exc}", exc.code) from None
    journal.record(found)
    return found


def check_frame(asset: Asset, image: ImportImage) -> None:
    """The record's frame exists on ``asset`` and has the record's size."""
    frame = image.frame_index or 0
    if frame >= asset.num_frames:
        raise ImportFailed(
            f"image {image.file_name!r}: frame {frame} is out of range (the asset has "
            f"{asset.num_frames} frame(s))",
            "frame_out_of_range",
        )
    height, width = frame_size(asset, frame)
    if (width, height) != (image.width, image.height):
        raise ImportFailed(
            f"image {image.file_name!r} is {image.width}x{image.height} in the "
            f"archive but the asset's frame {frame} is {width}x{height}",
            "rle_size_mismatch",
        )


class TrackMap:
    """The track each imported object gets on its asset: the archive's own number when
    the asset has no object of that number yet, else a new one; the same source track of
    the same asset always maps to the same track (identity kept across frames, never
    merged with an object that was there before the import). An annotation without a
    track gets a new object (``None``)."""

    def __init__(self) -> None:
        self._mapped: dict[tuple[int, int], int] = {}
        self._used: dict[int, set[int]] = {}

    def target(self, asset: Asset, source: int | None) -> int | None:
        if source is None:
            return None
        key = (asset.pk, source)
        if key not in self._mapped:
            used = self._used.get(asset.pk)
            if used is None:
                rows = Annotation.objects.filter(asset_id=asset.pk).values_list("track", flat=True)
                used = self._used[asset.pk] = set(rows.distinct())
            track = source if source not in used else claim_track(asset)
            used.add(track)
            self._mapped[key] = track
        return self._mapped[key]


# --- storing ---------------------------------------------------------------------------


def store_import_bundle(
    project: Project,
    bundle: ImportBundle,
    user: User | None,
    run: JobRun,
) -> dict[str, int]:
    """Store a validated bundle: match images to the project's assets by file name (or
    upload the archive's images as new assets), create labels by name, and annotations.
    All or nothing: on any error no row stays and the new assets' files are removed; the
    job is finished in the same transaction, so a run that lost the job (cancelled, or
    taken for lost and handed to another delivery) stores nothing."""
    check_import_roles(project, user, bundle)
    journal = IngestJournal(run.job, run.lease.token)
    new_assets = 0
    try:
        with transaction.atomic():
            labels: dict[str, LabelClass] = {}
            categories = {c.id: c for c in bundle.categories}
            matcher = AssetMatcher(project)
            tracks = TrackMap()
            image_assets: dict[int, Asset] = {}
            for n, image in enumerate(bundle.images):
                found = matcher.find(image)
                if found is None:
                    found = _new_asset(project, image, user, journal)
                    new_assets += 1
                    matcher.add(found)
                check_frame(found, image)
                image_assets[image.id] = found
                if n % 50 == 0:
                    run.progress(0.2 + 0.3 * n / max(1, len(bundle.images)), "matching images")
            count = 0
            frames = {image.id: image.frame_index or 0 for image in bundle.images}
            native = bundle.format == "native"
            for ann in bundle.annotations:
                asset = image_assets[ann.image_id]
                interaction = None
                if ann.interaction:
                    prompts = {k: v for k, v in ann.interaction.items() if k != "engine"}
                    interaction = {"prompts": prompts, "engine": ann.interaction.get("engine", "")}
                try:
                    create_annotation(
                        asset=asset,
                        frame=frames[ann.image_id],
                        label=_match_label(project, categories[ann.category_id], labels),
                        mask=ann.rle,
                        author=user,
                        source=(
                            ann.source
                            if native and ann.source in AnnotationSource.values
                            else AnnotationSource.IMPORTED
                        ),
                        score=ann.score,
                        review_status=(
                            ann.review_status
                            if ann.review_status in ReviewStatus.values
                            else ReviewStatus.PENDING
                        ),
                        interaction=interaction,
                        track=tracks.target(asset, ann.track),
                    )
                except DomainError as exc:
                    raise ImportFailed(f"annotation {ann.id}: {exc}", exc.code) from None
                count += 1
                if count % 200 == 0:
                    run.progress(
                        0.5 + 0.45 * count / max(1, len(bundle.annotations)), "storing annotations"
                    )
            counts = {
                "annotations": count,
                "images": len(bundle.images),
                "new_assets": new_assets,
                "labels": len(labels),
            }
            run.finish_in_transaction(dict(counts))
            transaction.on_commit(journal.forget)
            return counts
    except BaseException:
        journal.discard()
        raise


def _local_copy(path: str) -> str:
    """Imports read archives with random access: copy from storage to a local file."""
    fd, local = tempfile.mkstemp(suffix=os.path.splitext(path)[1] or ".zip")
    with os.fdopen(fd, "wb") as out, default_storage.open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            out.write(chunk)
    return local


def _uploads_still_needed(run: JobRun) -> bool:
    """Whether another delivery now holds the job (this run was taken for lost); when
    that cannot be told, the uploads stay (the lifecycle removes them if it gives up)."""
    try:
        return run.handed_over()
    except Exception:
        logger.warning("job %s: could not tell whether it was handed over", run.job.pk)
        return True


@job_task(task_routes.IMPORT_DATASET)
def import_dataset(run: JobRun) -> None:
    """Validate the whole archive first, then store it in one transaction. The uploaded
    files are removed once the job is done, failed or cancelled; they stay for the next
    delivery when this run was taken for lost or lost its database connection (the
    lifecycle then runs the job again, or gives it up and removes them)."""
    job = run.job
    params = job.params
    stored = uploads_of(job)
    discard_ingested(job)  # what an earlier delivery, killed mid-import, left behind
    locals_: list[str] = []
    keep_uploads = False
    try:
        locals_ = [_local_copy(p) for p in stored]
        run.progress(0.05, "validating the archive")
        limit = settings.MAX_IMPORT_MB * 1024 * 1024
        limits = ArchiveLimits(
            max_compressed_bytes=limit,
            max_uncompressed_bytes=4 * limit,
            max_image_bytes=settings.MAX_UPLOAD_BYTES,
            max_image_pixels=settings.MAX_IMAGE_PIXELS,
            # A COCO file is parsed whole: several times its size in memory.
            max_json_bytes=settings.MAX_IMPORT_JSON_MB * 1024 * 1024,
        )
        try:
            bundle = validate_and_load(
                locals_[0],
                images_zip=locals_[1] if len(locals_) > 1 else None,
                format=params.get("format"),
                limits=limits,
                require_images=False,
            )
        except ArchiveError as exc:
            raise JobFailed(f"{exc.code}: {exc}") from None
        with bundle:
            run.progress(0.2, "storing")
            try:
                store_import_bundle(job.project, bundle, job.created_by, run)
            except ImportFailed as exc:
                raise JobFailed(f"{exc.code}: {exc}") from None
    except DB_CONNECTION_ERRORS:
        keep_uploads = True  # the lifecycle takes it for a lost worker
        raise
    finally:
        for path in locals_:
            os.unlink(path)
        if not keep_uploads and not _uploads_still_needed(run):
            for path in stored:
                _delete(path)
