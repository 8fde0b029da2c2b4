"""Review: reviewers accept or reject annotations; a rejection goes back to its author.

The reviewer's queue is every annotation ``pending`` or ``needs_review`` (the flagged
ones first, then proposals, oldest first). A decision is an ordinary versioned change
(``update_annotation``: a revision keeps the state before it)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Case, IntegerField, QuerySet, Value, When

from annotator.errors import InvalidInput
from annotator.models import Annotation, AnnotationSource, Project, ReviewStatus
from annotator.services.annotations import MAX_REVIEW_COMMENT, update_annotation
from annotator.services.project_model import note_labels_changed
from annotator.services.queue import requeue_for_rework

DECISIONS = {"accept": ReviewStatus.ACCEPTED, "reject": ReviewStatus.REJECTED}
TO_REVIEW = (ReviewStatus.NEEDS_REVIEW, ReviewStatus.PENDING)


def review_queryset(
    project: Project, status: str | None = None, source: str | None = None
) -> QuerySet[Annotation]:
    """Annotations waiting for a reviewer, in the order they should be looked at."""
    statuses = TO_REVIEW
    if status:
        if status not in TO_REVIEW:
            raise InvalidInput("status must be pending or needs_review", "invalid_review_status")
        statuses = (status,)  # type: ignore[assignment]
    rows = Annotation.objects.filter(asset__project=project, review_status__in=statuses)
    if source:
        if source not in AnnotationSource.values:
            raise InvalidInput(
                f"source must be one of {', '.join(AnnotationSource.values)}", "invalid_source"
            )
        rows = rows.filter(source=source)
    return rows.annotate(
        urgency=Case(
            When(review_status=ReviewStatus.NEEDS_REVIEW, then=Value(0)),
            When(source=AnnotationSource.GENERATED, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
    ).order_by("urgency", "id")


def review_annotation(
    annotation: Annotation, user: User, decision: Any, comment: Any = ""
) -> Annotation:
    """Accept or reject ``annotation`` with a comment. Rejecting puts its frame back in
    its author's queue (anyone's, for a machine's annotation); accepting makes it a label
    the project model learns from."""
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise InvalidInput("decision must be accept or reject", "invalid_decision")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise InvalidInput("comment must be a string", "invalid_comment")
    if len(comment) > MAX_REVIEW_COMMENT:
        raise InvalidInput(
            f"comment is longer than {MAX_REVIEW_COMMENT} characters", "invalid_comment"
        )
    updated = update_annotation(
        annotation,
        expected_version=None,
        user=user,
        changes={"review_status": DECISIONS[decision], "review_comment": comment},
    )
    project = updated.asset.project
    if decision == "reject":
        author = updated.author if updated.source != AnnotationSource.GENERATED else None
        requeue_for_rework(updated.asset_id, updated.frame, author)
    else:
        note_labels_changed(project)
    return updated
