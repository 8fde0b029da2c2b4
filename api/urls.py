from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.views import (
    annotations,
    assets,
    auth,
    exports,
    frames,
    health,
    imports,
    jobs,
    labels,
    members,
    predict,
    projects,
)

app_name = "api"

urlpatterns = [
    path("health/", health.HealthView.as_view(), name="health"),
    path("auth/token/", auth.TokenView.as_view(), name="token"),
    path("auth/register/", auth.RegisterView.as_view(), name="register"),
    path("auth/me/", auth.MeView.as_view(), name="me"),
    path("projects/", projects.ProjectListView.as_view(), name="projects"),
    path("projects/<int:pk>/", projects.ProjectDetailView.as_view(), name="project"),
    path("projects/<int:pk>/labels/", labels.LabelListView.as_view(), name="labels"),
    path("labels/<int:pk>/", labels.LabelDetailView.as_view(), name="label"),
    path("projects/<int:pk>/members/", members.MemberListView.as_view(), name="members"),
    path("members/<int:pk>/", members.MemberDetailView.as_view(), name="member"),
    path("projects/<int:pk>/assets/", assets.AssetListView.as_view(), name="assets"),
    path("projects/<int:pk>/jobs/", jobs.ProjectJobListView.as_view(), name="project-jobs"),
    path("projects/<int:pk>/exports/", exports.ProjectExportListView.as_view(), name="exports"),
    path("projects/<int:pk>/imports/", imports.ProjectImportView.as_view(), name="imports"),
    path("exports/<int:pk>/", exports.ExportDetailView.as_view(), name="export"),
    path("exports/<int:pk>/download", exports.ExportDownloadView.as_view(), name="export-download"),
    path("assets/<int:pk>/", assets.AssetDetailView.as_view(), name="asset"),
    path(
        "assets/<int:pk>/frames/<int:index>/image",
        frames.FrameImageView.as_view(),
        name="frame-image",
    ),
    path("assets/<int:pk>/neighbors/", assets.AssetNeighborsView.as_view(), name="neighbors"),
    path("assets/<int:pk>/predict/", predict.PredictView.as_view(), name="predict"),
    path("assets/<int:pk>/thumbnail", frames.ThumbnailView.as_view(), name="thumbnail"),
    path(
        "assets/<int:pk>/annotations/",
        annotations.AssetAnnotationListView.as_view(),
        name="asset-annotations",
    ),
    path("annotations/<int:pk>/", annotations.AnnotationDetailView.as_view(), name="annotation"),
    path("jobs/<int:pk>/", jobs.JobDetailView.as_view(), name="job"),
    path("jobs/<int:pk>/cancel/", jobs.JobCancelView.as_view(), name="job-cancel"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
