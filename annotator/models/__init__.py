from .annotations import (
    Annotation,
    AnnotationRevision,
    AnnotationSource,
    Interaction,
    ReviewStatus,
)
from .assets import Asset, AssetKind, AssetStatus, EmbeddingStatus, Frame
from .exports import Export
from .jobs import FINISHED_STATUSES, Job, JobStatus
from .learning import ModelStatus, ProjectModel, QueueItem, QueueReason, QueueSkip
from .projects import LabelClass, Membership, Project, Role

__all__ = [
    "Annotation",
    "AnnotationRevision",
    "AnnotationSource",
    "Asset",
    "AssetKind",
    "AssetStatus",
    "EmbeddingStatus",
    "Export",
    "FINISHED_STATUSES",
    "Frame",
    "Interaction",
    "Job",
    "JobStatus",
    "LabelClass",
    "Membership",
    "ModelStatus",
    "Project",
    "ProjectModel",
    "QueueItem",
    "QueueReason",
    "QueueSkip",
    "ReviewStatus",
    "Role",
]
