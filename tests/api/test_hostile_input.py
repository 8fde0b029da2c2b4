"""What an attacker or a careless client sends gets a 4xx ``{"detail", "code"}``, never
a 500 and never Django's debug page (issue 15's reproductions, each kept here)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.api.helpers import assert_error

HUGE = int("9" * 400)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_json(client: Any, path: str, body: str | bytes) -> Any:
    return client.post(path, data=body, content_type="application/json")


@pytest.mark.parametrize("depth", [200, 990, 5_000, 100_000])
def test_deeply_nested_json_is_a_400_for_anyone(
    db: Any, team: dict[str, Any], client_for: Any, depth: int
) -> None:
    body = '{"username": "owner", "password": ' + nested(depth) + "}"
    assert_error(post_json(Client(), "/api/auth/token/", body), 400, "parse_error")
    body = '{"name": "x", "labels": ' + nested(depth) + "}"
    owner = client_for(team["owner"])
    assert_error(post_json(owner, "/api/projects/", body), 400, "parse_error")


def test_deep_json_within_the_parser_limit_is_refused_too(
    db: Any, team: dict[str, Any], client_for: Any, annotation: Any
) -> None:
    # Deep enough to pass json.loads, deep enough to recurse through DRF's error path.
    body = json.dumps({"review_status": json.loads(nested(400)), "version": 1})
    response = client_for(team["owner"]).patch(
        f"/api/annotations/{annotation.pk}/", data=body, content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize("param", ["frame", "version", "page", "page_size"])
@pytest.mark.parametrize("value", ["%C2%B2", "9" * 23, "-1", "1e3"])
def test_bad_query_integers_are_a_400(
    team: dict[str, Any], client_for: Any, asset: Any, annotation: Any, param: str, value: str
) -> None:
    owner = client_for(team["owner"])
    path = f"/api/assets/{asset.pk}/annotations/?{param}={value}"
    response = owner.get(path)
    assert response.status_code in (200, 400, 404), response.content[:300]
    if response.status_code != 200:
        assert_error(response, response.status_code)
    response = owner.delete(f"/api/annotations/{annotation.pk}/?{param}={value}")
    assert response.status_code in (204, 400, 404, 409, 428), response.content[:300]


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/{big}/",
        "/api/projects/{big}/assets/",
        "/api/assets/{big}/",
        "/api/assets/{big}/frames/0",
        "/api/annotations/{big}/",
        "/api/jobs/{big}/",
        "/api/exports/{big}/download",
        "/api/assets/1/frames/{big}",
    ],
)
def test_ids_too_long_for_the_database_are_a_404(
    team: dict[str, Any], client_for: Any, path: str
) -> None:
    response = client_for(team["owner"]).get(path.format(big="1" * 23))
    assert_error(response, 404)


def click(x: Any = 3, y: Any = 3, t: Any = 1.0) -> dict[str, Any]:
    return {"x": x, "y": y, "positive": True, "t": t}


@pytest.mark.parametrize(
    "body",
    [
        {"clicks": [click(x=HUGE)]},
        {"clicks": [click(y=-HUGE)]},
        {"clicks": [click(t=HUGE)]},
        {"box": [0, 0, HUGE, 3]},
        {"clicks": [click()], "frame": HUGE},
        {"scribbles": [{"points": [[HUGE, 1]]}]},
    ],
)
def test_huge_numbers_in_prompts_are_a_400(
    team: dict[str, Any], client_for: Any, asset: Any, body: dict[str, Any]
) -> None:
    response = client_for(team["owner"]).post(
        f"/api/assets/{asset.pk}/predict/", data=body, format="json"
    )
    assert 400 <= response.status_code < 500, response.content[:300]
    assert_error(response, response.status_code)


def test_huge_numbers_in_annotations_are_a_400(
    team: dict[str, Any], client_for: Any, asset: Any, square_rle: dict[str, Any]
) -> None:
    owner = client_for(team["owner"])
    base = {"label": team["label"].pk, "mask": square_rle}
    for extra in (
        {"interaction": {"clicks": [click(x=HUGE)], "elapsed_ms": 5}},
        {"interaction": {"clicks": [], "elapsed_ms": HUGE}},
        {"frame": HUGE},
        {"label": HUGE},
        {"score": HUGE},
    ):
        response = owner.post(
            f"/api/assets/{asset.pk}/annotations/", data={**base, **extra}, format="json"
        )
        assert 400 <= response.status_code < 500, (extra, response.content[:300])
        assert_error(response, response.status_code)


@pytest.mark.parametrize(
    "body",
    [
        {"format": "coco", "labels": [HUGE]},
        {"format": "coco", "assets": [HUGE]},
        {"format": "coco", "review_status": [["accepted"]]},
        {"format": "coco", "labels": [[1]]},
        {"format": "coco", "assets": "1"},
    ],
)
def test_bad_export_filters_are_a_400(
    team: dict[str, Any], client_for: Any, body: dict[str, Any]
) -> None:
    response = client_for(team["owner"]).post(
        f"/api/projects/{team['project'].pk}/exports/", data=body, format="json"
    )
    assert_error(response, 400)


def test_upload_name_over_255_bytes_is_stored_under_a_safe_name(
    team: dict[str, Any], upload: Any
) -> None:
    name = "鳥" * 80 + ".png"  # 243 characters of 3 bytes each: 723 bytes
    response = upload(team["owner"], team["project"].pk, name=name)
    assert response.status_code == 201, response.content[:300]
    assert response.json()["name"] == name
    long_name = "x" * 300 + ".png"
    response = upload(team["owner"], team["project"].pk, name=long_name)
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert_error(response, 400)


def test_a_json_body_over_the_limit_is_a_json_413(
    team: dict[str, Any], client_for: Any, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = post_json(client_for(team["owner"]), "/api/projects/", body)
    assert_error(response, 413, "body_too_large")
    response = post_json(Client(), "/api/auth/token/", body)
    assert_error(response, 413, "body_too_large")


def test_a_multipart_upload_with_an_oversized_field_is_a_413(
    team: dict[str, Any], client_for: Any, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    file = SimpleUploadedFile("a.png", b"x", "image/png")
    response = client_for(team["owner"]).post(
        f"/api/projects/{team['project'].pk}/assets/",
        {"file": file, "name": "y" * 5000},
        format="multipart",
    )
    assert response.status_code in (400, 413), response.content[:300]
    assert_error(response, response.status_code)


def test_malformed_json_is_a_400(team: dict[str, Any], client_for: Any) -> None:
    owner = client_for(team["owner"])
    for body in (b"{", b"\xff\xfe", b'{"a": NaN}', b"[1, 2", b"9" * 5000):
        response = post_json(owner, "/api/projects/", body)
        assert_error(response, 400)


def test_a_predict_body_over_its_limit_is_a_413_before_any_parsing(
    team: dict[str, Any], client_for: Any, asset: Any, settings: Any
) -> None:
    settings.PREDICT_MAX_BODY_BYTES = 4096
    scribble = {"points": [[1, 1]] * 2000}
    response = client_for(team["owner"]).post(
        f"/api/assets/{asset.pk}/predict/", data={"scribbles": [scribble]}, format="json"
    )
    assert_error(response, 413, "body_too_large")


def test_scribble_points_are_bounded_in_all(
    team: dict[str, Any], client_for: Any, asset: Any
) -> None:
    from formats.prompts import MAX_PROMPT_POINTS, MAX_SCRIBBLE_POINTS

    per_scribble = MAX_SCRIBBLE_POINTS
    count = MAX_PROMPT_POINTS // per_scribble + 1
    body = {"scribbles": [{"points": [[1, 1]] * per_scribble}] * count}
    response = client_for(team["owner"]).post(
        f"/api/assets/{asset.pk}/predict/", data=body, format="json"
    )
    assert_error(response, 400, "too_many_points")


def test_the_issue_mask_that_broke_exports_is_refused(
    team: dict[str, Any], client_for: Any, upload: Any
) -> None:
    from tests.annotator.sample_images import png

    response = upload(team["owner"], team["project"].pk, png(160, 120))
    assert response.status_code == 201, response.content
    body = {
        "label": team["label"].pk,
        "mask": {"size": [120, 160], "counts": "0PP`00PP`ooooooOPh2"},
    }
    response = client_for(team["owner"]).post(
        f"/api/assets/{response.json()['id']}/annotations/", data=body, format="json"
    )
    assert_error(response, 400, "invalid_rle")


@pytest.mark.parametrize("body", ["[]", '["coco"]', "1", '"coco"'])
def test_an_export_request_that_is_not_an_object_is_refused(
    team: dict[str, Any], client_for: Any, body: str
) -> None:
    from annotator.models import Job

    owner = client_for(team["owner"])
    response = post_json(owner, f"/api/projects/{team['project'].pk}/exports/", body)
    assert_error(response, 400, "invalid_body")
    assert not Job.objects.exists()


@pytest.mark.parametrize("param", ["review_status", "source", "kind", "status", "search", "q"])
def test_nul_characters_in_query_parameters_are_not_a_500(
    team: dict[str, Any], client_for: Any, asset: Any, annotation: Any, param: str
) -> None:
    owner = client_for(team["owner"])
    for path in (
        f"/api/assets/{asset.pk}/annotations/",
        f"/api/projects/{team['project'].pk}/assets/",
        f"/api/projects/{team['project'].pk}/jobs/",
        "/api/projects/",
    ):
        response = owner.get(f"{path}?{param}=a%00b")
        assert response.status_code in (200, 400), (path, response.content[:300])


def test_nul_characters_in_bodies_are_a_400(
    team: dict[str, Any], client_for: Any, asset: Any, square_rle: dict[str, Any]
) -> None:
    owner = client_for(team["owner"])
    response = owner.post("/api/projects/", data={"name": "a\x00b"}, format="json")
    assert_error(response, 400)
    body = {
        "label": team["label"].pk,
        "mask": square_rle,
        "interaction": {"engine": "x\x00", "prompts": {"note": "\x00"}},
    }
    response = owner.post(f"/api/assets/{asset.pk}/annotations/", data=body, format="json")
    assert_error(response, 400, "parse_error")
    response = owner.post(
        f"/api/projects/{team['project'].pk}/labels/", data={"name": "\x00"}, format="json"
    )
    assert_error(response, 400)


@pytest.mark.parametrize("name", ["a\x00b.png", "\x00", "../../etc/passwd", "a/b\\c.png", " "])
def test_odd_upload_names_are_stored_safely(team: dict[str, Any], upload: Any, name: str) -> None:
    response = upload(team["owner"], team["project"].pk, name=name)
    if response.status_code == 400:  # Django drops a file whose name is empty once cleaned
        assert_error(response, 400, "required")
        return
    assert response.status_code == 201, response.content[:300]
    stored = response.json()["name"]
    assert "\x00" not in stored and "/" not in stored and "\\" not in stored


def test_a_locked_or_unreachable_database_is_a_503_with_retry_after(
    team: dict[str, Any], client_for: Any, monkeypatch: Any
) -> None:
    from django.db import OperationalError

    from api.views import projects

    def locked(self: Any) -> Any:
        raise OperationalError("database is locked")

    monkeypatch.setattr(projects.ProjectListView, "get_queryset", locked)
    response = client_for(team["owner"]).get("/api/projects/")
    assert_error(response, 503, "database_busy")
    assert response["Retry-After"] == "2" and "locked" not in response.json()["detail"]
