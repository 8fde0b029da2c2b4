"""TEMPORARY (thin-views refactor): records status/code/detail of many requests for
every role, so the refactor can be diffed against the old behaviour. Deleted after."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from annotator.models import Asset, Membership
from annotator.services.annotations import create_annotation
from annotator.services.jobs import start_job
from annotator.services.projects import add_label, create_project
from tests.annotator.sample_images import box_mask, jpeg, png, rle_of
from tests.api.helpers import HEIGHT, WIDTH

pytestmark = pytest.mark.django_db

MASK = rle_of(box_mask(HEIGHT, WIDTH, 0, 0, 4, 4))


def cases() -> list[tuple[str, str, Any, str]]:
    c: list[tuple[str, str, Any, str]] = []
    j = "json"
    P = "/api/projects/{p}/"
    c += [("get", P, None, j), ("patch", P, {"description": "x"}, j)]
    c += [("put", P, {"name": "N", "description": ""}, j), ("put", P, {}, j)]
    c += [("delete", P, None, j), ("post", P, {}, j), ("options", P, None, j)]
    c += [("get", "/api/projects/999999/", None, j), ("patch", "/api/projects/{op}/", {}, j)]
    L = "/api/projects/{p}/labels/"
    c += [("get", L, None, j), ("post", L, {"name": "gull"}, j), ("post", L, {"name": ""}, j)]
    c += [("post", L, {}, j), ("post", L, {"name": "bird"}, j), ("put", L, {}, j)]
    c += [("options", L, None, j), ("post", L, [1], j), ("get", "/api/projects/{op}/labels/", None, j)]
    LD = "/api/labels/{l}/"
    c += [("get", LD, None, j), ("patch", LD, {"name": " Gull "}, j)]
    c += [("patch", LD, {"color": "#ABCDEF"}, j), ("patch", LD, {"name": "spare"}, j)]
    c += [("patch", LD, {"name": "  "}, j), ("patch", LD, {"color": "bad"}, j)]
    c += [("put", LD, {"name": "x"}, j), ("put", LD, {}, j), ("delete", LD, None, j)]
    c += [("delete", "/api/labels/{spare}/", None, j), ("post", LD, {}, j)]
    c += [("get", "/api/labels/{ol}/", None, j), ("patch", "/api/labels/{ol}/", {}, j)]
    c += [("delete", "/api/labels/{ol}/", None, j), ("patch", LD, [1], j)]
    M = "/api/projects/{p}/members/"
    c += [("get", M, None, j), ("post", M, {"username": "stranger", "role": "viewer"}, j)]
    c += [("post", M, {"username": "nobody", "role": "viewer"}, j)]
    c += [("post", M, {"username": "stranger", "role": "boss"}, j), ("post", M, {}, j)]
    c += [("post", M, {"username": "owner", "role": "viewer"}, j)]
    MD = "/api/members/{m}/"
    for body in [
        {"role": "reviewer"},
        {"role": "boss"},
        {},
        {"role": 5},
        {"role": None},
        {"role": ["viewer"]},
        {"role": ""},
        {"role": True},
        [1],
        {"username": "x", "role": "viewer"},
    ]:
        c += [("patch", MD, body, j), ("put", MD, body, j)]
    c += [("patch", MD, {"role": "viewer"}, "multipart"), ("patch", MD, "role=viewer", "form")]
    c += [("get", MD, None, j), ("delete", MD, None, j), ("post", MD, {}, j)]
    c += [("patch", "/api/members/{om}/", {"role": "viewer"}, j)]
    c += [("delete", "/api/members/{om}/", None, j), ("get", "/api/members/{xm}/", None, j)]
    c += [("patch", "/api/members/{xm}/", {"role": "viewer"}, j)]
    A = "/api/projects/{p}/assets/"
    c += [("get", A, None, j), ("get", A + "?kind=image", None, j), ("post", A, {}, "multipart")]
    c += [("post", A, {"x": 1}, j), ("post", A, "FILE", "multipart")]
    AD = "/api/assets/{a}/"
    c += [("get", AD, None, j), ("delete", AD, None, j), ("post", AD, {}, j), ("patch", AD, {}, j)]
    c += [("get", "/api/assets/{oa}/", None, j), ("delete", "/api/assets/{oa}/", None, j)]
    c += [("get", AD + "neighbors/", None, j), ("get", AD + "frames/0/image", None, j)]
    c += [("get", AD + "frames/5/image", None, j), ("get", AD + "thumbnail", None, j)]
    c += [("post", AD + "predict/", {"frame": 0}, j), ("get", AD + "predict/", None, j)]
    c += [("post", AD + "predict/", [1], j), ("post", "/api/assets/{oa}/predict/", {}, j)]
    c += [("get", "/api/assets/{oa}/neighbors/", None, j)]
    c += [("get", "/api/assets/{oa}/frames/0/image", None, j)]
    c += [("get", "/api/assets/{oa}/thumbnail", None, j)]
    AA = AD + "annotations/"
    c += [("get", AA, None, j), ("get", AA + "?frame=x", None, j)]
    c += [("post", AA, {"label": "{l}", "mask": MASK}, j), ("post", AA, {"label": 999999, "mask": MASK}, j)]
    c += [("post", AA, {"label": "{l}"}, j), ("post", AA, {"label": "{ol}", "mask": MASK}, j)]
    c += [("post", AA, [1], j), ("put", AA, {}, j)]
    c += [("get", "/api/assets/{oa}/annotations/", None, j)]
    c += [("post", "/api/assets/{oa}/annotations/", {"label": "{l}", "mask": MASK}, j)]
    N = "/api/annotations/{n}/"
    for body in [
        {"version": 1, "score": 0.5},
        {"score": 0.5},
        {"version": 1, "review_status": "accepted"},
        {"review_status": "accepted"},
        {"version": 0},
        {"review_status": "maybe"},
        {"version": 1, "label": 999999},
        {"version": 1, "label": "{ol}"},
        {"version": 1, "label": "{spare}"},
        {"version": 1, "review_status": "accepted", "foo": 1},
        {"version": 1, "review_status": "accepted", "score": 0.1},
        {"version": 2, "score": 0.1},
        {"version": 2, "review_status": "accepted"},
        {"foo": 1},
        {},
        [1],
    ]:
        c += [("patch", N, body, j), ("put", N, body, j)]
    c += [("get", N, None, j), ("delete", N + "?version=1", None, j)]
    c += [("delete", N + "?version=2", None, j), ("delete", N + "?version=x", None, j)]
    c += [("delete", N + "?version=-1", None, j), ("delete", N, None, j), ("post", N, {}, j)]
    c += [("get", "/api/annotations/{on}/", None, j), ("patch", "/api/annotations/{on}/", {}, j)]
    c += [("delete", "/api/annotations/{on}/", None, j)]
    c += [("get", "/api/projects/{p}/jobs/", None, j)]
    c += [("get", "/api/projects/{p}/jobs/?status=queued&kind=export", None, j)]
    c += [("get", "/api/jobs/{j}/", None, j), ("post", "/api/jobs/{j}/cancel/", None, j)]
    c += [("post", "/api/jobs/{oj}/cancel/", None, j), ("get", "/api/jobs/{oj}/", None, j)]
    c += [("post", "/api/jobs/{j2}/cancel/", None, j), ("get", "/api/jobs/{j}/cancel/", None, j)]
    c += [("get", "/api/projects/{op}/jobs/", None, j)]
    E = "/api/projects/{p}/exports/"
    c += [("get", E, None, j), ("get", "/api/projects/{op}/exports/", None, j)]
    for body in [
        {},
        {"format": "pascal"},
        {"format": None},
        {"format": 5},
        {"format": ""},
        {"format": ["coco"]},
        {"format": "native", "include_images": True},
        {"labels": [999999]},
        {"labels": "x"},
        {"labels": [True]},
        {"labels": ["1"]},
        {"labels": [1.0]},
        {"labels": None},
        {"labels": []},
        {"labels": ["{l}"]},
        {"labels": ["{ol}"]},
        {"labels": {}},
        {"assets": [999999]},
        {"assets": {}},
        {"assets": ["{a}"]},
        {"assets": 3},
        {"review_status": "accepted"},
        {"review_status": ["maybe"]},
        {"review_status": 5},
        {"review_status": None},
        {"review_status": []},
        {"review_status": ["accepted", "rejected"]},
        {"review_status": [1]},
        {"include_images": "true"},
        {"include_images": 1},
        {"include_images": None},
        {"include_images": "x"},
        {"labels": "x", "include_images": "x"},
        {"format": "pascal", "labels": "x"},
        {"assets": "x", "review_status": "x"},
        [1],
        None,
        "x",
    ]:
        c += [("post", E, body, j)]
    c += [("post", E, {"format": "coco"}, "multipart"), ("post", E, {}, "multipart")]
    c += [("post", "/api/projects/{op}/exports/", {}, j)]
    c += [("get", "/api/exports/{e}/", None, j), ("get", "/api/exports/{e}/download", None, j)]
    c += [("get", "/api/exports/{oe}/", None, j), ("get", "/api/exports/{oe}/download", None, j)]
    c += [("post", "/api/projects/{p}/imports/", {}, "multipart")]
    c += [("post", "/api/projects/{p}/imports/", {"x": 1}, j)]
    c += [("get", "/api/projects/{p}/imports/", None, j)]
    c += [("post", "/api/projects/{op}/imports/", {}, "multipart")]
    c += [("get", "/api/projects/", None, j), ("get", "/api/auth/me/", None, j)]
    return c


def fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def test_capture(team: dict[str, Any], make_user: Any, client_for: Any, monkeypatch: Any) -> None:
    from annotator.models import Export
    from annotator.services import jobs

    monkeypatch.setattr(jobs.app.control, "revoke", lambda *a, **k: None)
    stranger = make_user("stranger")
    project = team["project"]
    other = create_project(stranger, "Cats", "", [{"name": "cat"}])
    asset = Asset.objects.create(
        project=project, kind="image", name="a.png", checksum="0" * 64, width=WIDTH, height=HEIGHT
    )
    asset.file.save("a.png", ContentFile(png()), save=False)
    asset.thumbnail.save("a.jpg", ContentFile(jpeg(32, 24)), save=False)
    asset.save()
    asset.frames.create(index=0, width=WIDTH, height=HEIGHT)
    oasset = Asset.objects.create(
        project=other, kind="image", name="b.png", checksum="1" * 64, width=WIDTH, height=HEIGHT
    )
    oasset.frames.create(index=0, width=WIDTH, height=HEIGHT)
    ann = create_annotation(
        asset=asset, frame=0, label=team["label"], mask=MASK, author=team["annotator"]
    )
    oann = create_annotation(
        asset=oasset, frame=0, label=other.labels.get(), mask=MASK, author=stranger
    )
    job = start_job(project=project, kind="export", user=team["annotator"])
    job2 = start_job(project=project, kind="export", user=team["owner"])
    ojob = start_job(project=other, kind="export", user=stranger)
    from datetime import timedelta

    from django.utils import timezone

    exp = Export.objects.create(
        project=project, job=job, format="coco", expires=timezone.now() + timedelta(hours=1)
    )
    oexp = Export.objects.create(
        project=other, job=ojob, format="coco", expires=timezone.now() + timedelta(hours=1)
    )
    ids = {
        "p": project.pk,
        "op": other.pk,
        "l": team["label"].pk,
        "spare": add_label(project, "spare").pk,
        "ol": other.labels.get().pk,
        "m": Membership.objects.get(project=project, user=team["viewer"]).pk,
        "om": Membership.objects.get(project=project, user=team["owner"]).pk,
        "xm": Membership.objects.get(project=other, user=stranger).pk,
        "a": asset.pk,
        "oa": oasset.pk,
        "n": ann.pk,
        "on": oann.pk,
        "j": job.pk,
        "j2": job2.pk,
        "oj": ojob.pk,
        "e": exp.pk,
        "oe": oexp.pk,
    }
    out = []
    for role in ("owner", "annotator", "reviewer", "viewer", "outsider", None):
        client = client_for(team.get(role) if role else None)
        for method, path, body, fmt in cases():
            url = path.format(**ids)
            data = fill(body, ids)
            kwargs: dict[str, Any] = {}
            if fmt == "form":
                kwargs = {"data": data, "content_type": "application/x-www-form-urlencoded"}
            elif data == "FILE":
                kwargs = {"data": {"file": SimpleUploadedFile("n.png", png(seed=3))}, "format": fmt}
            elif method not in ("get", "delete", "options") or data is not None:
                kwargs = {"data": data, "format": fmt}
            sid = transaction.savepoint()
            try:
                response = getattr(client, method)(url, **kwargs)
                status = response.status_code
                try:
                    payload = response.json()
                except Exception:
                    payload = None
            except Exception as exc:  # noqa: BLE001
                status, payload = "EXC " + type(exc).__name__, None
            transaction.savepoint_rollback(sid)
            if isinstance(payload, dict):
                summary = {
                    "code": payload.get("code"),
                    "detail": payload.get("detail"),
                    "keys": sorted(payload),
                    "errors": payload.get("errors"),
                }
                if status in (200, 201, 202) and role:
                    summary["body"] = {
                        k: v
                        for k, v in payload.items()
                        if k not in ("created", "updated", "id", "job", "export", "expires")
                    }
            else:
                summary = {"type": type(payload).__name__}
            out.append([str(role), method, path, json.dumps(body), fmt, status, summary])
    with open(os.environ.get("CAPTURE_OUT", "/tmp/capture.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True, default=str)
