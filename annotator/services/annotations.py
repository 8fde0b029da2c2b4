"""Creating and changing annotations with optimistic concurrency and history."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from annotator.errors import Conflict, InvalidInput
from annotator.models import (
    Annotation,
    AnnotationRevision,
    AnnotationSource,
    Asset,
    Interaction,
    LabelClass,
    ReviewStatus,
)
from formats.rle import MaskError, mask_stats, validate_rle

#: Annotations a machine wrote: a person's new mask makes them manual.
MACHINE_SOURCES = (AnnotationSource.PROPAGATED, AnnotationSource.GENERATED)
#: Review states that ask for a person's correction: a new mask answers them.
REWORK_STATUSES = (ReviewStatus.NEEDS_REVIEW, ReviewStatus.REJECTED)
MAX_REVIEW_COMMENT = 2000


def frame_size(asset: Asset, frame: int) -> tuple[int, int]:
    """``(height, width)`` of a frame; ``InvalidInput`` when the index is out of range."""
    if frame < 0 or frame >= asset.num_frames:
        raise InvalidInput(
            f"frame {frame} is out of range: the asset has {asset.num_frames} frame(s)",
            "frame_out_of_range",
        )
    if asset.num_frames == 1 and asset.width and asset.height:
        # A single image's frame 0 has the asset's size; skip the query (hot path).
        return asset.height, asset.width
    row = asset.frames.filter(index=frame).only("width", "height").first()
    height = (row.height if row and row.height else asset.height) or 0
    width = (row.width if row and row.width else asset.width) or 0
    return height, width


def check_mask(asset: Asset, frame: int, rle: Any) -> dict[str, Any]:
    height, width = frame_size(asset, frame)
    try:
        return validate_rle(rle, height, width)
    except MaskError as exc:
        raise InvalidInput(str(exc), exc.code) from None


def _not_a_label(label: int | None) -> InvalidInput:
    # One answer whether the id names no label or another project's: the id of a label
    # in a project the caller may not see must tell them nothing.
    return InvalidInput(f"label {label} is not a label of this project", "unknown_label")


def check_label(asset: Asset, label: LabelClass) -> None:
    if label.project_id != asset.project_id:
        raise _not_a_label(label.pk)


def project_label(asset: Asset, label: LabelClass | int) -> LabelClass:
    """``label``, or the label with that id, if it is a label of the asset's project;
    otherwise ``unknown_label``, the same for an id of no label and one of another
    project's label."""
    if isinstance(label, LabelClass):
        check_label(asset, label)
        return label
    found = LabelClass.objects.filter(pk=label, project_id=asset.project_id).first()
    if found is None:
        raise _not_a_label(label)
    return found


#: The largest track number a client may give (a 32-bit column everywhere).
MAX_TRACK = 2**31 - 1


def check_track(track: Any) -> int:
    if isinstance(track, bool) or not isinstance(track, int) or not 1 <= track <= MAX_TRACK:
        raise InvalidInput(f"track must be an integer from 1 to {MAX_TRACK}", "invalid_track")
    return track


def claim_track(asset: Asset, track: int | None = None) -> int:
    """The track of a new object on ``asset``: ``track`` when given (and the asset's
    counter moves past it, so the server never hands it out again), else the asset's
    next free number. One conditional UPDATE each, atomic on SQLite and PostgreSQL: two
    concurrent creates never get the same new track."""
    if track is not None:
        track = check_track(track)
        Asset.objects.filter(pk=asset.pk, next_track__lte=track).update(next_track=track + 1)
        return track
    table = connection.ops.quote_name(Asset._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_track = next_track + 1 WHERE id = %s RETURNING next_track",
            [asset.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise InvalidInput("the asset was deleted meanwhile", "asset_deleted")
    return int(row[0]) - 1


def create_annotation(
    *,
    asset: Asset,
    frame: int,
    label: LabelClass | int,
    mask: Any,
    author: User | None,
    source: str = "manual",
    score: float | None = None,
    interaction: dict[str, Any] | None = None,
    review_status: str = ReviewStatus.PENDING,
    track: int | None = None,
) -> Annotation:
    """Validate and store one annotation (and the interaction that made it): the one
    way rows are created, by the API and by imports alike. ``label``: a label of the
    asset's project or its id. ``track``: the object it shows (the same number on every
    frame); a new object's number when ``None``."""
    label = project_label(asset, label)
    rle = check_mask(asset, frame, mask)
    stats = mask_stats(rle)
    # No savepoint inside a caller's transaction (an import stores thousands in one and
    # rolls all back on any error): one SAVEPOINT + RELEASE each cost an import ~45% on
    # PostgreSQL. Outside one, this is the transaction.
    with transaction.atomic(savepoint=False):
        annotation = Annotation.objects.create(
            asset=asset,
            frame=frame,
            track=claim_track(asset, track),
            label=label,
            mask=rle,
            area=stats.area,
            bbox=stats.bbox,
            source=source,
            score=score,
            review_status=review_status,
            author=author,
        )
        if interaction:
            _store_interaction(annotation, interaction, author)
    return annotation


def _store_interaction(
    annotation: Annotation, interaction: dict[str, Any], user: User | None
) -> None:
    """Keep the prompts that produced (or refined) an annotation; each refinement adds one."""
    Interaction.objects.create(
        asset_id=annotation.asset_id,
        frame=annotation.frame,
        annotation=annotation,
        prompts=interaction.get("prompts", interaction),
        engine=str(interaction.get("engine", ""))[:32],
        elapsed_ms=interaction.get("elapsed_ms"),
        author=user,
    )


def update_annotation(
    annotation: Annotation,
    *,
    expected_version: int | None,
    user: User,
    changes: dict[str, Any],
) -> Annotation:
    """Apply ``changes`` (label or its id, mask, score, source, review_status,
    interaction) if the stored version is still ``expected_version`` (``None``: the
    version ``annotation`` was loaded with); otherwise ``Conflict`` carrying the current
    version.

    A new mask on a propagated or generated annotation, with no ``source`` given, makes
    it a manual one: a person's correction, which propagation then treats as a keyframe
    and never overwrites; on one flagged ``needs_review`` or rejected, with no
    ``review_status`` given, it makes it ``pending`` again.

    The conditional UPDATE is the lock: two writers with the same version cannot both
    win, on SQLite or PostgreSQL alike."""
    if expected_version is None:
        expected_version = annotation.version
    fields: dict[str, Any] = {}
    if "label" in changes:
        fields["label"] = project_label(annotation.asset, changes["label"])
    if "mask" in changes:
        rle = check_mask(annotation.asset, annotation.frame, changes["mask"])
        stats = mask_stats(rle)
        fields.update(mask=rle, area=stats.area, bbox=stats.bbox)
        if "source" not in changes and annotation.source in MACHINE_SOURCES:
            fields["source"] = AnnotationSource.MANUAL
        if "review_status" not in changes and annotation.review_status in REWORK_STATUSES:
            # The flag (or a reviewer's rejection) asked a person to look; a new mask is
            # their answer, to be reviewed again.
            fields["review_status"] = ReviewStatus.PENDING
    if "track" in changes:
        fields["track"] = claim_track(annotation.asset, changes["track"])
    for name in ("score", "source"):
        if name in changes:
            fields[name] = changes[name]
    if "review_status" in changes:
        if changes["review_status"] not in ReviewStatus.values:
            raise InvalidInput("unknown review status", "invalid_review_status")
        fields["review_status"] = changes["review_status"]
        fields["reviewed_by"] = user
        fields["reviewed_at"] = timezone.now()
        fields["review_comment"] = str(changes.get("review_comment", ""))[:MAX_REVIEW_COMMENT]
    interaction = changes.get("interaction")
    with transaction.atomic():
        previous = Annotation.objects.select_for_update().filter(pk=annotation.pk).first()
        if previous is None:
            raise Conflict("the annotation was deleted meanwhile", "deleted")
        updated = Annotation.objects.filter(pk=annotation.pk, version=expected_version).update(
            version=F("version") + 1, **fields
        )
        if not updated:  # ``previous`` is the row as it stands (locked)
            raise Conflict(
                f"the annotation changed meanwhile: you had version {expected_version}, "
                f"it is now {previous.version}",
                "stale_version",
                current_version=previous.version,
            )
        AnnotationRevision.objects.create(
            annotation=previous,
            version=previous.version,
            label_id=previous.label_id,
            mask=previous.mask,
            point_indices=previous.point_indices,
            source=previous.source,
            score=previous.score,
            review_status=previous.review_status,
            author=previous.author,
        )
        if interaction:
            _store_interaction(previous, interaction, user)
        # Read back while the row is still locked: a delete committed right after this
        # transaction must not turn a successful update into a DoesNotExist.
        annotation.refresh_from_db()
    return annotation


def delete_annotation(annotation: Annotation, *, expected_version: int | None = None) -> None:
    """Delete ``annotation`` (its revisions and interactions go with it). With
    ``expected_version``, only if the stored version is still that one; otherwise
    ``Conflict`` ``stale_version`` carrying the current version.

    The row is claimed with a conditional UPDATE before it is deleted, as
    ``update_annotation`` changes it with one: of a delete and an update holding the same
    version, exactly one matches the row and the other finds the version gone (on
    PostgreSQL the second waits for the first's row lock; SQLite has one writer)."""
    if expected_version is None:
        annotation.delete()
        return
    with transaction.atomic():
        claimed = Annotation.objects.filter(pk=annotation.pk, version=expected_version).update(
            version=F("version") + 1
        )
        if claimed:
            Annotation.objects.filter(pk=annotation.pk).delete()
            return
    current = Annotation.objects.filter(pk=annotation.pk).values_list("version", flat=True).first()
    if current is None:  # deleted meanwhile: the version the caller's copy had
        current = annotation.version
    raise Conflict(
        f"the annotation changed meanwhile (now version {current})",
        "stale_version",
        current_version=current,
    )
