from .annotations import (
    Annotation,
    AnnotationRevision,
    AnnotationSource,
    Interaction,
    ReviewStatus,
)
from .assets import Asset, AssetKind, AssetStatus, EmbeddingStatus, Frame
from .exports import EXPORT_FORMATS, Export
from .jobs import FINISHED_STATUSES, Job, JobStatus, QueueItem
from .projects import LabelClass, Membership, Project, Role

__all__ = [
    "Annotation",
    "AnnotationRevision",
    "AnnotationSource",
    "Asset",
    "AssetKind",
    "AssetStatus",
    "EmbeddingStatus",
    "EXPORT_FORMATS",
    "Export",
    "FINISHED_STATUSES",
    "Frame",
    "Interaction",
    "Job",
    "JobStatus",
    "LabelClass",
    "Membership",
    "Project",
    "QueueItem",
    "ReviewStatus",
    "Role",
]
