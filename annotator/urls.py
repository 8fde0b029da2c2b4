from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("frontend.urls")),
]

handler404 = "api.error_pages.not_found"
handler500 = "api.error_pages.server_error"
