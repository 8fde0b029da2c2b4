from django.urls import path

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", views.projects, name="projects"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("projects/<int:project_id>/", views.project, name="project"),
    path("projects/<int:project_id>/dashboard/", views.dashboard, name="dashboard"),
    path(
        "projects/<int:project_id>/assets/<int:asset_id>/",
        views.workspace,
        name="workspace",
    ),
]
