from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.settings import api_settings

from api.converters import IdConverter
from api.views import (
    annotations,
    assets,
    auth,
    dashboard,
    exports,
    frames,
    health,
    imports,
    jobs,
    labels,
    members,
    predict,
    prefetch,
    project_model,
    projects,
    propagation,
    proposals,
    queue,
    review,
    timeline,
)

register_converter(IdConverter, "id")
app_name = "api"

urlpatterns = [
    path("health/", health.HealthView.as_view(), name="health"),
    path(
        "auth/token/",
        # ObtainAuthToken names its own parsers; sign-in gets the bounded ones too.
        auth.TokenView.as_view(parser_classes=api_settings.DEFAULT_PARSER_CLASSES),
        name="token",
    ),
    path("auth/register/", auth.RegisterView.as_view(), name="register"),
    path("auth/me/", auth.MeView.as_view(), name="me"),
    path("projects/", projects.ProjectListView.as_view(), name="projects"),
    path("projects/<id:pk>/", projects.ProjectDetailView.as_view(), name="project"),
    path("projects/<id:pk>/labels/", labels.LabelListView.as_view(), name="labels"),
    path("labels/<id:pk>/", labels.LabelDetailView.as_view(), name="label"),
    path("projects/<id:pk>/members/", members.MemberListView.as_view(), name="members"),
    path("members/<id:pk>/", members.MemberDetailView.as_view(), name="member"),
    path("projects/<id:pk>/assets/", assets.AssetListView.as_view(), name="assets"),
    path("projects/<id:pk>/jobs/", jobs.ProjectJobListView.as_view(), name="project-jobs"),
    path("projects/<id:pk>/exports/", exports.ProjectExportListView.as_view(), name="exports"),
    path("projects/<id:pk>/imports/", imports.ProjectImportView.as_view(), name="imports"),
    path("projects/<id:pk>/model/", project_model.ProjectModelView.as_view(), name="model"),
    path("projects/<id:pk>/model/train/", project_model.TrainView.as_view(), name="model-train"),
    path("projects/<id:pk>/queue/next/", queue.QueueNextView.as_view(), name="queue-next"),
    path("queue/<id:pk>/complete/", queue.QueueCompleteView.as_view(), name="queue-complete"),
    path("queue/<id:pk>/skip/", queue.QueueSkipView.as_view(), name="queue-skip"),
    path("queue/<id:pk>/release/", queue.QueueReleaseView.as_view(), name="queue-release"),
    path("projects/<id:pk>/proposals/", proposals.ProposalsView.as_view(), name="proposals"),
    path("projects/<id:pk>/review/", review.ReviewListView.as_view(), name="review"),
    path("annotations/<id:pk>/review/", review.ReviewView.as_view(), name="annotation-review"),
    path("projects/<id:pk>/dashboard/", dashboard.DashboardView.as_view(), name="dashboard"),
    path("exports/<id:pk>/", exports.ExportDetailView.as_view(), name="export"),
    path("exports/<id:pk>/download", exports.ExportDownloadView.as_view(), name="export-download"),
    path("assets/<id:pk>/", assets.AssetDetailView.as_view(), name="asset"),
    path(
        "assets/<id:pk>/frames/<id:index>/image",
        frames.FrameImageView.as_view(),
        name="frame-image",
    ),
    path("assets/<id:pk>/neighbors/", assets.AssetNeighborsView.as_view(), name="neighbors"),
    path("assets/<id:pk>/predict/", predict.PredictView.as_view(), name="predict"),
    path("assets/<id:pk>/propagate/", propagation.PropagateView.as_view(), name="propagate"),
    path("assets/<id:pk>/prefetch/", prefetch.PrefetchView.as_view(), name="prefetch"),
    path("assets/<id:pk>/timeline/", timeline.TimelineView.as_view(), name="timeline"),
    path("assets/<id:pk>/thumbnail", frames.ThumbnailView.as_view(), name="thumbnail"),
    path(
        "assets/<id:pk>/annotations/",
        annotations.AssetAnnotationListView.as_view(),
        name="asset-annotations",
    ),
    path("annotations/<id:pk>/", annotations.AnnotationDetailView.as_view(), name="annotation"),
    path("jobs/<id:pk>/", jobs.JobDetailView.as_view(), name="job"),
    path("jobs/<id:pk>/cancel/", jobs.JobCancelView.as_view(), name="job-cancel"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            # An HTML page: DRF's OPTIONS answer cannot be rendered by its renderer.
            url_name="api:schema",
            http_method_names=["get", "head"],
        ),
        name="docs",
    ),
]
