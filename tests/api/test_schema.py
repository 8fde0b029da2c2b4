"""The OpenAPI document and the browsable docs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

CONTRACT_PATHS = {
    "/api/auth/token/": {"post"},
    "/api/projects/": {"get", "post"},
    "/api/projects/{id}/": {"get", "patch", "delete"},
    "/api/projects/{id}/labels/": {"get", "post"},
    "/api/projects/{id}/members/": {"get", "post"},
    "/api/projects/{id}/assets/": {"get", "post"},
    "/api/assets/{id}/": {"get", "delete"},
    "/api/assets/{id}/frames/{index}/image": {"get"},
    "/api/assets/{id}/predict/": {"post"},
    "/api/assets/{id}/annotations/": {"get", "post"},
    "/api/annotations/{id}/": {"get", "put", "patch", "delete"},
    "/api/jobs/{id}/": {"get"},
    "/api/jobs/{id}/cancel/": {"post"},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


def normalise(path: str) -> str:
    """``/api/projects/{pk}/`` and ``/api/projects/{id}/`` are the same path."""
    return path.replace("{pk}", "{id}").replace("{n}", "{index}")


def test_it_is_an_openapi_3_document(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]
    assert schema["paths"]


@pytest.mark.parametrize("path", CONTRACT_PATHS)
def test_it_documents_the_contract_paths(path: str, schema: dict[str, Any]) -> None:
    paths = {normalise(p): set(ops) for p, ops in schema["paths"].items()}
    assert path in paths, sorted(paths)
    assert CONTRACT_PATHS[path] <= paths[path]


def test_it_serves_yaml_by_default() -> None:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content


def test_it_serves_the_docs_page() -> None:
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()


def test_the_docs_page_loads_its_scripts_from_this_server_not_a_cdn() -> None:
    html = APIClient().get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/" in html
