from django.contrib import admin

from annotator import models


class LabelInline(admin.TabularInline):
    model = models.LabelClass
    extra = 0


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_by", "created"]
    search_fields = ["name"]
    inlines = [LabelInline, MembershipInline]


@admin.register(models.LabelClass)
class LabelClassAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "color", "project"]
    list_filter = ["project"]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "project", "role"]
    list_filter = ["role"]


@admin.register(models.Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "kind",
        "project",
        "width",
        "height",
        "status",
        "embedding_status",
    ]
    list_filter = ["kind", "status", "embedding_status"]
    search_fields = ["name", "checksum"]


@admin.register(models.Frame)
class FrameAdmin(admin.ModelAdmin):
    list_display = ["id", "asset", "index", "timestamp", "width", "height"]


class RevisionInline(admin.TabularInline):
    model = models.AnnotationRevision
    extra = 0
    readonly_fields = ["version", "label", "source", "score", "review_status", "author", "created"]
    exclude = ["mask", "point_indices"]


@admin.register(models.Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "asset", "frame", "label", "source", "review_status", "version", "author"]
    list_filter = ["source", "review_status"]
    inlines = [RevisionInline]


@admin.register(models.AnnotationRevision)
class AnnotationRevisionAdmin(admin.ModelAdmin):
    list_display = ["id", "annotation", "version", "author", "created"]


@admin.register(models.Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["id", "asset", "frame", "annotation", "engine", "elapsed_ms", "author"]


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "progress", "created"]
    list_filter = ["kind", "status"]


@admin.register(models.QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "asset", "frame", "score", "done", "leased_by"]


@admin.register(models.ProjectModel)
class ProjectModelAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "version", "kind", "trained_on", "created"]


@admin.register(models.Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "format", "size_bytes", "created", "expires"]
