from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("frontend.urls")),
]

handler404 = "api.not_found.not_found"
handler500 = "api.server_error.server_error"
