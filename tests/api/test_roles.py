"""Who may do what: every endpoint of ``api.urls`` x every method its view handles x every
role x an object of the caller's project and one of another project.

The expected answer of each cell is derived, not written down per endpoint: from the
view's declared ``capabilities`` (``api.permissions``) and the role rules
(``api.access``). A member whose role has the capability gets a 2xx, one without it a
403; somebody outside the project gets 404, for another project's objects every member
does too (the same answer as for an id that names nothing), and nobody signed in gets 401.
Every status must be one the OpenAPI document lists for the operation, every refusal a
``{"detail", "code"}`` body that changed nothing, and permissions come before validation:
a role refused with a valid body is refused with a malformed one too, never told 400.

OPTIONS describes an endpoint to anyone signed in (``api.permissions``): 200 on another
project's object too, with the very answer an id of nothing gets.

A new endpoint cannot ship unchecked: a view that declares no capabilities, a URL whose
object the matrix cannot build, or a method that changes something without its smallest
valid request in ``REQUESTS`` fails ``test_the_matrix_covers_every_url`` with what to add.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.test import APIClient
from rest_framework.views import APIView

from annotator.models import Membership
from annotator.services.projects import create_project, set_member
from api import urls
from api.access import Capability, can
from api.permissions import (
    InProject,
    OnProjectObject,
    ProjectAccess,
    manager_or_creator,
    review_or_annotate,
)
from tests.annotator.sample_images import box_mask, png, rle_of
from tests.api.helpers import HEIGHT, WIDTH
from tests.api.world import Side, build_side, fingerprint

pytestmark = pytest.mark.django_db

ROLES = ("owner", "annotator", "reviewer", "viewer", "outsider", "anonymous")
MEMBERS = ROLES[:4]
#: An id no row has: another project's object must answer exactly as this one does.
MISSING_ID = 987_654_321


# --- what the matrix sends -----------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    data: Any = None
    multipart: bool = False


NO_BODY = Body()
Variants = dict[str, Callable[[Side], Body]]


def json_body(make: Callable[[Side], dict[str, Any]]) -> Callable[[Side], Body]:
    return lambda side: Body(make(side))


def file_body(name: str, content: bytes, **fields: Any) -> Callable[[Side], Body]:
    return lambda side: Body({"file": SimpleUploadedFile(name, content), **fields}, True)


def no_body(side: Side) -> Body:
    return NO_BODY


def a_mask() -> dict[str, Any]:
    return rle_of(box_mask(HEIGHT, WIDTH, 0, 0, 4, 4))


#: The smallest valid request of every (URL name, method) that changes something, one per
#: variant when the rules tell bodies apart. Safe methods send nothing unless named here.
REQUESTS: dict[tuple[str, str], Variants] = {
    ("token", "POST"): {"": json_body(lambda s: {"username": "owner", "password": "pw-owner"})},
    ("register", "POST"): {
        "": json_body(lambda s: {"username": "newcomer", "password": "a long passphrase 7"})
    },
    ("projects", "POST"): {"": json_body(lambda s: {"name": "Gulls"})},
    ("project", "PUT"): {"": json_body(lambda s: {"name": "Renamed", "description": ""})},
    ("project", "PATCH"): {"": json_body(lambda s: {"description": "changed"})},
    ("project", "DELETE"): {"": no_body},
    ("labels", "POST"): {"": json_body(lambda s: {"name": "gull"})},
    ("label", "PUT"): {"": json_body(lambda s: {"name": "gull", "color": "#111111"})},
    ("label", "PATCH"): {"": json_body(lambda s: {"color": "#111111"})},
    ("label", "DELETE"): {"": no_body},
    ("members", "POST"): {"": json_body(lambda s: {"username": "outsider", "role": "viewer"})},
    ("member", "PUT"): {"": json_body(lambda s: {"role": "reviewer"})},
    ("member", "PATCH"): {"": json_body(lambda s: {"role": "reviewer"})},
    ("member", "DELETE"): {"": no_body},
    ("assets", "POST"): {"": file_body("new.png", png(seed=7))},
    ("exports", "POST"): {"": json_body(lambda s: {"format": "coco"})},
    ("imports", "POST"): {
        "": file_body("coco.json", b'{"images": [], "annotations": [], "categories": []}')
    },
    ("asset", "DELETE"): {"": no_body},
    ("predict", "POST"): {"": json_body(lambda s: {"frame": 0, "clicks": [{"x": 5, "y": 5}]})},
    ("propagate", "POST"): {"": json_body(lambda s: {"annotation": s.annotation.pk})},
    ("prefetch", "POST"): {"": json_body(lambda s: {"frame": 0})},
    ("asset-annotations", "POST"): {
        "": json_body(lambda s: {"frame": 0, "label": s.used_label.pk, "mask": a_mask()})
    },
    ("annotation", "PUT"): {
        "annotate": json_body(lambda s: {"version": 1, "score": 0.5}),
        "review": json_body(lambda s: {"version": 1, "review_status": "accepted"}),
    },
    ("annotation", "PATCH"): {
        "annotate": json_body(lambda s: {"version": 1, "score": 0.5}),
        "review": json_body(lambda s: {"version": 1, "review_status": "accepted"}),
    },
    ("annotation", "DELETE"): {"": no_body},
    ("job-cancel", "POST"): {"": no_body},
    ("model", "PATCH"): {"": json_body(lambda s: {"retrain_after": 3})},
    ("model-train", "POST"): {"": no_body},
    ("queue-complete", "POST"): {"": no_body},
    ("queue-skip", "POST"): {"": no_body},
    ("queue-release", "POST"): {"": no_body},
    ("proposals", "POST"): {"": json_body(lambda s: {"assets": [s.asset.pk]})},
    ("annotation-review", "POST"): {"": json_body(lambda s: {"decision": "accept"})},
}

#: Path arguments besides the object's ``pk``.
EXTRA_KWARGS = {"index": 0}

#: Permission classes of views outside any project -> whether anonymous callers pass.
OPEN_TO_ANONYMOUS: dict[Any, bool] = {AllowAny: True, IsAuthenticated: False}

#: Cells known to answer wrongly, with why (strict: they fail once fixed).
KNOWN_WRONG: dict[tuple[str, str, str], str] = {}


# --- the endpoints, from the URL conf ---------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    route: str
    view: type[APIView]
    method: str
    variant: str
    variants: Variants = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return " ".join(filter(None, (self.method, self.doc_path, self.variant)))

    @property
    def in_project(self) -> bool:
        return issubclass(self.view, InProject | OnProjectObject)

    @property
    def doc_path(self) -> str:
        """The path as the OpenAPI document spells it (``<id:pk>`` -> ``{id}``)."""
        return "/api/" + re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m: "{%s}" % ("id" if m[1] == "pk" else m[1]), self.route
        )

    def body(self, side: Side) -> Body:
        return self.variants[self.variant](side) if self.variants else NO_BODY

    @property
    def takes_body(self) -> bool:
        return any(make is not no_body for make in self.variants.values())

    def path(self, side: Side | None, pk: int | None = None) -> str:
        kwargs: dict[str, Any] = dict(EXTRA_KWARGS)
        if side is not None:
            kwargs["pk"] = pk if pk is not None else segment_object(self.route, side).pk
        return "/api/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m[1]]), self.route)


def segment_object(route: str, side: Side) -> Any:
    return side.by_segment(route.split("/")[0])


def handled_methods(view: type[APIView], names: list[str] | None = None) -> list[str]:
    # HEAD is GET; OPTIONS describes the endpoint to anyone signed in, whether the object
    # exists for them or not (``api.permissions``): the same answer as for an id of nothing.
    return [m.upper() for m in names or view.http_method_names if hasattr(view, m)]


def declaration_problems(pattern: URLPattern, view: type[APIView], kwargs: set[str]) -> list[str]:
    where = f"{view.__name__} (/api/{pattern.pattern})"
    if not kwargs:
        if "permission_classes" not in vars(view):
            return [f"{where} is outside any project: name its permission_classes"]
        unknown = [c for c in view.permission_classes if c not in OPEN_TO_ANONYMOUS]
        return [f"{where}: teach OPEN_TO_ANONYMOUS about {c!r}" for c in unknown]
    if not issubclass(view, InProject | OnProjectObject):
        return [f"{where} names an object: base it on InProject or OnProjectObject"]
    problems = []
    if ProjectAccess not in view.permission_classes:
        problems.append(f"{where} must keep ProjectAccess in its permission_classes")
    if "capabilities" not in vars(view):
        problems.append(f"{where} declares no capabilities: add `capabilities = {{...}}`")
    undeclared = set(handled_methods(view)) - set(SAFE_METHODS) - set(view.capabilities)
    if undeclared:
        problems.append(f"{where} does not declare {sorted(undeclared)} in its capabilities")
    segment = str(pattern.pattern).split("/")[0]
    if "pk" in kwargs and segment not in Side.SEGMENTS:
        problems.append(
            f"{where}: the matrix cannot build a '{segment}' object: add one to "
            "Side and Side.SEGMENTS (tests/api/world.py)"
        )
    missing = kwargs - {"pk"} - set(EXTRA_KWARGS)
    if missing:
        problems.append(f"{where}: give EXTRA_KWARGS a value for {sorted(missing)}")
    return problems


def collect(patterns: list[Any]) -> tuple[list[Endpoint], list[str]]:
    endpoints: list[Endpoint] = []
    problems: list[str] = []
    for pattern in patterns:
        assert isinstance(pattern, URLPattern), pattern
        view = pattern.callback.cls  # type: ignore[attr-defined]
        kwargs = set(pattern.pattern.converters)
        found = declaration_problems(pattern, view, kwargs)
        problems += found
        if found:
            continue
        names = pattern.callback.view_initkwargs.get("http_method_names")  # type: ignore[attr-defined]
        for method in handled_methods(view, names):
            variants = REQUESTS.get((str(pattern.name), method))
            if variants is None and method not in SAFE_METHODS:
                problems.append(
                    f"add the smallest valid request of {method} /api/{pattern.pattern} "
                    f"to REQUESTS[({pattern.name!r}, {method!r})] in tests/api/test_roles.py"
                )
                continue
            for variant in variants or {"": no_body}:
                endpoints.append(
                    Endpoint(
                        str(pattern.name),
                        str(pattern.pattern),
                        view,
                        method,
                        variant,
                        variants or {},
                    )
                )
    return endpoints, problems


ENDPOINTS, PROBLEMS = collect(urls.urlpatterns)


def test_the_matrix_covers_every_url() -> None:
    assert not PROBLEMS, "\n".join(PROBLEMS)
    covered = {e.name for e in ENDPOINTS}
    assert covered == {p.name for p in urls.urlpatterns}


def test_a_new_endpoint_that_the_matrix_cannot_check_is_named_with_what_to_add() -> None:
    from django.urls import path
    from rest_framework import generics

    class Widgets(OnProjectObject, generics.RetrieveUpdateAPIView[Any]):
        pass  # declares no capabilities

    class Gadgets(InProject):
        capabilities = {"POST": Capability.ANNOTATE}

        def post(self, request: Any, pk: int) -> None: ...  # no request in REQUESTS

    class Status(APIView):
        pass  # outside any project, inherits its permission classes

    _, problems = collect(
        [
            path("widgets/<id:pk>/<int:part>", Widgets.as_view(), name="widget"),
            path("projects/<id:pk>/gadgets/", Gadgets.as_view(), name="gadgets"),
            path("status/", Status.as_view(), name="status"),
        ]
    )
    assert problems == [
        "Widgets (/api/widgets/<id:pk>/<int:part>) declares no capabilities: add "
        "`capabilities = {...}`",
        "Widgets (/api/widgets/<id:pk>/<int:part>) does not declare ['PATCH', 'PUT'] in its "
        "capabilities",
        "Widgets (/api/widgets/<id:pk>/<int:part>): the matrix cannot build a 'widgets' "
        "object: add one to Side and Side.SEGMENTS (tests/api/world.py)",
        "Widgets (/api/widgets/<id:pk>/<int:part>): give EXTRA_KWARGS a value for ['part']",
        "add the smallest valid request of POST /api/projects/<id:pk>/gadgets/ to "
        "REQUESTS[('gadgets', 'POST')] in tests/api/test_roles.py",
        "Status (/api/status/) is outside any project: name its permission_classes",
    ]


# --- what each cell should answer, from the declarations ---------------------------------------


def allowed(endpoint: Endpoint, side: Side, user: User, body: Body) -> bool:
    """Whether a member of ``side``'s project may make the request, by the view's
    declaration and the role rules."""
    view = endpoint.view
    role = Membership.objects.get(project=side.project, user=user).role
    default = Capability.READ if endpoint.method in SAFE_METHODS else Capability.MANAGE
    needed = getattr(view, "capabilities", {}).get(endpoint.method, default)
    if isinstance(needed, Capability):
        return can(role, needed)
    obj = side.project if issubclass(view, InProject) else segment_object(endpoint.route, side)
    # What the rules of api.permissions read of the view: the validated body, the user.
    changes = body.data if isinstance(body.data, dict) else {}
    stand_in = SimpleNamespace(changes=changes, request=SimpleNamespace(user=user))
    try:
        needed(stand_in, obj, role)
    except PermissionDenied:
        return False
    return True


# --- running the cells ------------------------------------------------------------------------


@dataclass
class Matrix:
    own: Side
    foreign: Side
    users: dict[str, User | None]
    documented: dict[str, dict[str, set[str]]]
    failures: list[str] = field(default_factory=list)

    def client(self, role: str) -> APIClient:
        from rest_framework.authtoken.models import Token

        client = APIClient()
        user = self.users[role]
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    def send(self, endpoint: Endpoint, role: str, path: str, body: Body | None) -> Any:
        """``body`` None: a malformed one (unparseable, of the variant's media type)."""
        client, method = self.client(role), endpoint.method.lower()
        if body is None:
            multipart = endpoint.body(self.own).multipart
            content_type = "multipart/form-data; boundary=x" if multipart else "application/json"
            return client.generic(endpoint.method, path, "{--x", content_type=content_type)
        if body.data is None:
            return getattr(client, method)(path)
        return getattr(client, method)(
            path, body.data, format="multipart" if body.multipart else "json"
        )

    def cell(
        self,
        endpoint: Endpoint,
        role: str,
        side: Side | None,
        expected: Callable[[int], bool],
        wanted: str,
        body: Body | None,
        pk: int | None = None,
    ) -> Any:
        """Send in a savepoint that is rolled back; record a failure unless the status
        is ``expected`` and documented, an error is ``{"detail", "code"}`` and a refusal
        changed nothing."""
        path = endpoint.path(side, pk)
        where = f"{role} on {'no project' if side is None else side.project.name}: {path}"
        with transaction.atomic():
            before = fingerprint()
            response = self.send(endpoint, role, path, body)
            status = response.status_code
            problems = []
            if not expected(status):
                problems.append(f"{status}, expected {wanted}")
            documented = self.documented.get(endpoint.doc_path, {}).get(endpoint.method)
            if documented is not None and str(status) not in documented:
                problems.append(f"{status} is not documented ({sorted(documented)})")
            if status >= 400:
                if fingerprint() != before:
                    problems.append(f"the refused request ({status}) changed something")
                payload = response.json() if not getattr(response, "streaming", False) else {}
                if not (payload.get("detail") and payload.get("code")):
                    problems.append(f"the error is not {{detail, code}}: {payload}")
            transaction.set_rollback(True)
        if problems:
            content = b"" if getattr(response, "streaming", False) else response.content
            self.failures.append(f"{where}: {'; '.join(problems)} {content[:200]!r}")
        return response


def ok(status: int) -> bool:
    return 200 <= status < 300


def exactly(expected: int) -> Callable[[int], bool]:
    return lambda status: status == expected


@pytest.fixture
def matrix(team: dict[str, Any], make_user: Any, monkeypatch: pytest.MonkeyPatch) -> Matrix:
    from annotator.services import jobs, predict
    from api.views import health
    from tests.api.test_predict import FakeQueue

    monkeypatch.setattr(jobs.app.control, "revoke", lambda *args, **kwargs: None)
    fake = FakeQueue()  # a live interactive worker that answers every click
    monkeypatch.setattr(predict, "queue_state", lambda name: (True, 0))
    monkeypatch.setattr(predict.app, "send_task", fake.send_task)
    monkeypatch.setattr(predict, "wait_reply", fake.wait_reply)
    monkeypatch.setattr(health, "get_redis", lambda: SimpleNamespace(ping=lambda: True))

    stranger, their_viewer = make_user("stranger"), make_user("their-viewer")
    theirs = create_project(stranger, "Cats", "", [{"name": "cat"}])
    set_member(theirs, "their-viewer", "viewer")
    schema = openapi_document()
    return Matrix(
        own=build_side(team["project"], job_creator=team["annotator"], member=team["viewer"]),
        foreign=build_side(theirs, job_creator=stranger, member=their_viewer),
        users={role: team.get(role) for role in ROLES},
        documented={
            path: {m.upper(): set(op["responses"]) for m, op in ops.items()}
            for path, ops in schema["paths"].items()
        },
    )


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document ``/api/schema/`` serves (generated once per run)."""
    from drf_spectacular.generators import SchemaGenerator

    document: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return document


def known(endpoint: Endpoint, what: str) -> Any:
    reason = KNOWN_WRONG.get((endpoint.name, endpoint.method, what))
    return [pytest.mark.xfail(reason=reason, strict=True)] if reason else []


@pytest.mark.parametrize(
    "endpoint",
    [pytest.param(e, id=e.label, marks=known(e, "valid")) for e in ENDPOINTS if not e.in_project],
)
def test_outside_any_project(endpoint: Endpoint, matrix: Matrix) -> None:
    """Sign-in, sign-up, health, the project list, the schema: open to whom their
    permission classes say, to every signed-in user alike."""
    anonymous_ok = all(OPEN_TO_ANONYMOUS.get(c) for c in endpoint.view.permission_classes)
    for role in ROLES:
        passes = role != "anonymous" or anonymous_ok
        matrix.cell(
            endpoint,
            role,
            None,
            ok if passes else exactly(401),
            "2xx" if passes else "401",
            endpoint.body(matrix.own),
        )
    assert not matrix.failures, "\n".join(matrix.failures)


def project_cells() -> Iterator[Any]:
    for e in ENDPOINTS:
        if e.in_project:
            yield pytest.param(e, "valid", id=e.label, marks=known(e, "valid"))
            if e.takes_body and e.variant == next(iter(e.variants)):
                # Once per method: the malformed body is the same for every variant.
                yield pytest.param(
                    e, "malformed", id=f"{e.label} malformed", marks=known(e, "malformed")
                )


@pytest.mark.parametrize(("endpoint", "body_kind"), list(project_cells()))
def test_in_a_project(endpoint: Endpoint, body_kind: str, matrix: Matrix) -> None:
    for role in ROLES:
        user = matrix.users[role]
        for side in (matrix.own, matrix.foreign):
            valid = endpoint.body(side)
            body = valid if body_kind == "valid" else None
            if role == "anonymous":
                matrix.cell(endpoint, role, side, exactly(401), "401", body)
                continue
            assert user is not None
            member = side is matrix.own and role in MEMBERS
            if not member:
                status = 200 if endpoint.method == "OPTIONS" else 404
                response = matrix.cell(endpoint, role, side, exactly(status), str(status), body)
                missing = matrix.cell(
                    endpoint, role, side, exactly(status), str(status), body, MISSING_ID
                )
                if response.content != missing.content:
                    matrix.failures.append(
                        f"{role}: another project's object answers {response.content[:200]!r}, "
                        f"an id of nothing {missing.content[:200]!r}"
                    )
                continue
            may = [allowed(endpoint, side, user, v(side)) for v in endpoint.variants.values()]
            if body_kind == "valid":
                if allowed(endpoint, side, user, valid):
                    matrix.cell(endpoint, role, side, ok, "2xx", body)
                else:
                    matrix.cell(endpoint, role, side, exactly(403), "403", body)
            elif not any(may):
                # Refused whatever it sends: told 403 before its body is read.
                matrix.cell(endpoint, role, side, exactly(403), "403", body)
            else:
                matrix.cell(endpoint, role, side, lambda s: 400 <= s < 500, "4xx", body)
    assert not matrix.failures, "\n".join(matrix.failures)


# --- the rules themselves ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "allowed_roles"),
    [
        ({"score": 0.5}, {"owner", "annotator"}),
        ({"version": 1, "review_status": "accepted"}, {"owner", "reviewer"}),
        ({"review_status": "accepted", "score": 0.5}, {"owner"}),
        ({}, {"owner", "annotator"}),
    ],
)
def test_changing_an_annotation_is_annotating_or_reviewing(
    changes: dict[str, Any], allowed_roles: set[str]
) -> None:
    view = SimpleNamespace(changes=changes)
    for role in MEMBERS:
        try:
            review_or_annotate(view, None, role)
            passed = True
        except PermissionDenied:
            passed = False
        assert passed == (role in allowed_roles), (role, changes)


def test_a_job_is_cancelled_by_its_creator_or_an_owner() -> None:
    job = SimpleNamespace(created_by_id=1)
    for role in MEMBERS:
        for user_id in (1, 2):
            view = SimpleNamespace(request=SimpleNamespace(user=SimpleNamespace(pk=user_id)))
            try:
                manager_or_creator(view, job, role)
                passed = True
            except PermissionDenied:
                passed = False
            assert passed == (role == "owner" or user_id == 1), (role, user_id)


# --- what the declarations leave as they were ---------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_an_unsupported_method_is_a_405_for_anyone_signed_in(
    role: str, team: dict[str, Any], matrix: Matrix
) -> None:
    client = matrix.client(role)
    own = matrix.own
    assert client.put(f"/api/projects/{own.project.pk}/labels/", {}).status_code == 405
    assert client.post(f"/api/assets/{own.asset.pk}/", {}).status_code == 405
    assert client.get(f"/api/jobs/{own.job.pk}/cancel/").status_code == 405


@pytest.mark.parametrize("role", ["owner", "viewer", "outsider"])
def test_options_describes_an_endpoint_and_offers_only_what_the_role_may_do(
    role: str, matrix: Matrix
) -> None:
    response = matrix.client(role).options(f"/api/projects/{matrix.own.project.pk}/labels/")
    assert response.status_code == 200
    assert ("actions" in response.json()) == (role == "owner")
