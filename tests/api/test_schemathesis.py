"""The API against its own OpenAPI document (``/api/schema/``), fuzzed with schemathesis.

Every operation of the document gets requests generated from its schema, valid and
invalid ones, sent in-process to the WSGI app as the owner of a project with an asset,
an annotation, an export and its job; the ``id`` in a path mostly names that project's
object of the path's kind, so the requests get past the lookup to the body and query
checks. Each
answer must not be a 5xx and must be what the document says: a documented status, of a
documented content type, with a body that fits the documented schema.

Bounded: ``MAX_EXAMPLES`` per operation, derandomized (the same requests on every run).
Predict has no worker here: a valid prompt is a 503 with ``Retry-After``, as documented.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.world import Side, build_side

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

#: Per operation; a deeper local run: ``SCHEMATHESIS_MAX_EXAMPLES=500 pytest ...``.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))

# Operations with a 5xx found here whose fix is under way elsewhere: the operation's run
# is an expected failure (strict: it fails once fixed, to be taken off this list).
KNOWN_FAILURES: dict[str, str] = {}


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, but a 503 the operation documents (no worker, no Redis: ``Retry-After``
    is checked with the other documented headers)."""
    if response.status_code == 503 and "503" in case.operation.definition.raw["responses"]:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Loaded once, at collection, from the running app: each operation becomes a test.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())


@pytest.fixture(autouse=True)
def one_connection() -> Iterator[None]:
    """Requests share the test's transaction, as with Django's test client: the app must
    not close the connection at each request's start and end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def known_failure(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """For an operation of ``KNOWN_FAILURES``: its failure is an expected one, and its
    run passing is an error (the entry is to go)."""
    label = request.node.name.partition("[")[2].removesuffix("]")
    state: dict[str, Any] = {"reason": KNOWN_FAILURES.get(label), "failed": False}
    yield state
    if state["reason"] and not state["failed"]:
        pytest.fail(f"{label} passes now: take it off KNOWN_FAILURES")


@pytest.fixture
def side(team: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Side:
    from annotator.services import jobs, predict

    monkeypatch.setattr(jobs.app.control, "revoke", lambda *args, **kwargs: None)
    monkeypatch.setattr(predict, "queue_state", lambda queue: (False, 0))
    return build_side(team["project"], job_creator=team["annotator"], member=team["viewer"])


@pytest.fixture
def owner_token(team: dict[str, Any]) -> str:
    return Token.objects.get_or_create(user=team["owner"])[0].key


def name_real_objects(case: Any, side: Side) -> None:
    """``/api/<kind>/{id}/...``: the id of the side's object of that kind, but for one
    generated id in four (ids of nothing, out of range, not ids at all: a 404)."""
    generated = str((case.path_parameters or {}).get("id", ""))
    if generated and not (generated.isdecimal() and int(generated) % 4 == 0):
        case.path_parameters["id"] = side.by_segment(case.operation.path.split("/")[2]).pk


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_schema_says(
    case: Any, side: Side, owner_token: str, known_failure: dict[str, Any]
) -> None:
    name_real_objects(case, side)
    try:
        case.call_and_validate(headers={"Authorization": f"Token {owner_token}"}, checks=CHECKS)
    except FailureGroup:
        if known_failure["reason"]:
            known_failure["failed"] = True
            pytest.xfail(known_failure["reason"])
        raise


def test_every_view_describes_its_errors() -> None:
    """The errors a view's construction implies are in the document only with
    ``ApiSchema`` (``api/schema.py``): every view of ours uses it."""
    from api import urls
    from api.schema import ApiSchema

    views = [p.callback.cls for p in urls.urlpatterns]  # type: ignore[attr-defined]
    without = [
        v.__name__
        for v in views
        if v.__module__.startswith("api.") and not isinstance(v.schema, ApiSchema)
    ]
    assert not without, f"{without} override the default schema class (api.schema.ApiSchema)"
