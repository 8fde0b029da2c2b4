"""Races between requests, on PostgreSQL: real threads, each with its own database
connection, started together at a barrier. SQLite runs one writer at a time (the
settings open every transaction IMMEDIATE), so there the same code runs serialised and
these tests are skipped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from annotator.errors import Conflict
from annotator.models import Annotation, Membership, Project, Role
from annotator.services import projects as project_services
from annotator.services.annotations import create_annotation, delete_annotation, update_annotation
from annotator.services.projects import create_project, set_member
from tests.annotator.sample_images import box_mask, rle_of
from tests.api.helpers import HEIGHT, WIDTH

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers (PostgreSQL); SQLite serialises every write "
        "transaction, so these races cannot happen there",
    ),
]

ROUNDS = 30


Action = Callable[[], Callable[[], Any]]  # in its thread: loads what it needs, then acts


def race(*actions: Action) -> list[Any]:
    """Run ``actions`` in one thread (and connection) each: each loads what it needs,
    then all act at the same moment; returns what each act returned or raised."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int, action: Action) -> None:
        try:
            act = action()
            barrier.wait(timeout=10)
            results[index] = act()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a racing request hung (a deadlock?)"
    return results


# --- the last owner ----------------------------------------------------------------------


@pytest.fixture
def wide_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold each request a moment between the check that another owner exists and its
    own write: without the lock both would pass the check and both write."""
    check = project_services._ensure_other_owner

    def slow_check(membership: Membership) -> None:
        check(membership)
        time.sleep(0.05)

    monkeypatch.setattr(project_services, "_ensure_other_owner", slow_check)


def two_owners(make_user: Callable[[str], User], n: int) -> tuple[Project, User, User]:
    alice, bob = make_user(f"alice{n}"), make_user(f"bob{n}")
    project = create_project(alice, f"P{n}")
    set_member(project, bob.username, Role.OWNER)
    return project, alice, bob


def owners(project: Project) -> int:
    return Membership.objects.filter(project=project, role=Role.OWNER).count()


def outcome(result: Any) -> str:
    if isinstance(result, Conflict):
        return result.code
    assert not isinstance(result, BaseException), repr(result)
    return "ok"


def member_change(verb: str, project_id: int, target: User) -> Action:
    """Demote ``target`` to viewer, or remove them, through the service."""

    def load() -> Callable[[], Any]:
        if verb == "demote":
            project = Project.objects.get(pk=project_id)
            return lambda: set_member(project, target.username, "viewer")
        membership = Membership.objects.select_related("project").get(
            project_id=project_id, user=target
        )
        return lambda: project_services.remove_member(membership)

    return load


@pytest.mark.usefixtures("wide_window")
@pytest.mark.parametrize("how", ["demote-demote", "remove-remove", "demote-remove"])
def test_two_owners_changing_each_other_keep_an_owner(
    how: str, make_user: Callable[[str], User]
) -> None:
    first, second = how.split("-")
    for n in range(ROUNDS // 3):
        project, alice, bob = two_owners(make_user, n)
        results = race(
            member_change(first, project.pk, bob), member_change(second, project.pk, alice)
        )
        assert sorted(outcome(r) for r in results) == ["last_owner", "ok"], results
        assert owners(project) == 1


def api_call(client: Any, method: str, url: str, body: Any = None) -> Action:
    return lambda: lambda: getattr(client, method)(url, body, format="json")


@pytest.mark.usefixtures("wide_window")
def test_owners_demoting_each_other_through_the_api_keep_an_owner(
    make_user: Callable[[str], User], client_for: Callable[[Any], Any]
) -> None:
    for n in range(ROUNDS // 3):
        project, alice, bob = two_owners(make_user, n)
        url = {m.user_id: f"/api/members/{m.pk}/" for m in project.memberships.all()}
        viewer = {"role": "viewer"}
        responses = race(
            api_call(client_for(alice), "patch", url[bob.pk], viewer),
            api_call(client_for(bob), "patch", url[alice.pk], viewer),
        )
        statuses = sorted(r.status_code for r in responses)
        # The loser: 409 last_owner, or 403 when it was checked after it lost its role.
        assert statuses in ([200, 409], [200, 403]), [r.content for r in responses]
        assert owners(project) == 1


# --- annotation versions -----------------------------------------------------------------


@pytest.fixture
def make_annotation(team: dict[str, Any]) -> Iterator[Callable[[], Annotation]]:
    from annotator.models import Asset

    asset = Asset.objects.create(
        project=team["project"], kind="image", name="a.png", checksum="1" * 64, width=WIDTH,
        height=HEIGHT, num_frames=1, status="ready",
    )  # fmt: skip
    square = rle_of(box_mask(HEIGHT, WIDTH, 5, 5, 15, 15))

    def make() -> Annotation:
        return create_annotation(
            asset=asset, frame=0, label=team["label"], mask=square, author=team["annotator"]
        )

    yield make


def updating(pk: int, user: User, score: float) -> Action:
    def load() -> Callable[[], Any]:
        annotation = Annotation.objects.select_related("asset").get(pk=pk)
        changes = {"score": score}
        return lambda: update_annotation(annotation, expected_version=1, user=user, changes=changes)

    return load


def deleting(pk: int) -> Action:
    def load() -> Callable[[], Any]:
        annotation = Annotation.objects.get(pk=pk)
        return lambda: delete_annotation(annotation, expected_version=1)

    return load


def test_a_delete_and_an_update_of_the_same_version_never_both_win(
    team: dict[str, Any], make_annotation: Callable[[], Annotation]
) -> None:
    winners = set()
    for n in range(ROUNDS):
        pk = make_annotation().pk
        names = ["delete", "update"] if n % 2 == 0 else ["update", "delete"]  # who starts
        actions = {"delete": deleting(pk), "update": updating(pk, team["owner"], 0.5)}
        results = dict(zip(names, race(*(actions[name] for name in names)), strict=True))
        codes = {name: outcome(result) for name, result in results.items()}
        assert sorted(codes.values()) in (["ok", "stale_version"], ["deleted", "ok"]), results
        row = Annotation.objects.filter(pk=pk).first()
        if codes["delete"] == "ok":
            winners.add("delete")
            assert row is None  # the update lost and says so: nothing it changed is gone
        else:
            winners.add("update")
            assert codes["delete"] == "stale_version"
            assert row is not None and (row.version, row.score) == (2, 0.5)
            assert row.revisions.count() == 1
    print(f"winners over {ROUNDS} rounds: {sorted(winners)}")


def test_two_updates_of_the_same_version_never_both_win(
    team: dict[str, Any], make_annotation: Callable[[], Annotation]
) -> None:
    for _ in range(ROUNDS):
        pk = make_annotation().pk
        results = race(updating(pk, team["owner"], 0.25), updating(pk, team["annotator"], 0.75))
        codes = [outcome(r) for r in results]
        assert sorted(codes) == ["ok", "stale_version"], results
        winner = results[codes.index("ok")]
        loser = results[codes.index("stale_version")]
        row = Annotation.objects.get(pk=pk)
        assert (row.version, row.score) == (2, winner.score)  # the winner's edit, whole
        assert loser.extra["current_version"] == 2
        assert [r.version for r in row.revisions.all()] == [1]


def test_a_delete_racing_a_put_through_the_api_is_never_a_500(
    team: dict[str, Any],
    make_annotation: Callable[[], Annotation],
    client_for: Callable[[Any], Any],
) -> None:
    owner, annotator = client_for(team["owner"]), client_for(team["annotator"])
    square = rle_of(box_mask(HEIGHT, WIDTH, 10, 10, 20, 20))
    for _ in range(ROUNDS):
        pk = make_annotation().pk
        put_body = {"version": 1, "label": team["label"].pk, "mask": square, "score": 0.9}
        delete, put = race(
            api_call(owner, "delete", f"/api/annotations/{pk}/?version=1"),
            api_call(annotator, "put", f"/api/annotations/{pk}/", put_body),
        )
        statuses = (delete.status_code, put.status_code)
        # A PUT that only arrives once the delete has committed finds nothing: 404.
        assert statuses in ((204, 409), (409, 200), (204, 404)), (delete.content, put.content)
        row = Annotation.objects.filter(pk=pk).first()
        assert (row is None) == (delete.status_code == 204)
        if row is not None:
            assert (row.version, row.score) == (2, 0.9)
        for response in (delete, put):
            if response.status_code == 409:
                assert response.json()["code"] in ("stale_version", "deleted")
