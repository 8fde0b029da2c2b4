from django.http import HttpRequest, HttpResponse
from django.urls import path


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        "<!doctype html><title>Annotator</title><p>The annotation server is running. "
        'The REST API is at <a href="/api/docs/">/api/docs/</a>.</p>'
    )


urlpatterns = [path("", index, name="index")]
