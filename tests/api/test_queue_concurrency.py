"""Members asking ``queue/next`` at the same moment never get the same item: real
threads, each with its own database connection, released together at a barrier, many
rounds. On PostgreSQL the conditional UPDATE that takes a lease is the only thing
between them; SQLite (the test database is a file, so every thread has a connection of
its own) serialises the writes, and the answer must be the same there."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from annotator.models import Project, QueueItem
from annotator.services.projects import create_project, set_member
from annotator.services.queue import next_item
from tests.api.learning_helpers import image_assets, next_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite" and ":memory:" in str(connection.settings_dict["NAME"]),
        reason="threads need a database they can each connect to",
    ),
]

ROUNDS = 15
MEMBERS = 4


def race(acts: list[Callable[[], Any]]) -> list[Any]:
    """Run ``acts`` in one thread (and connection) each, started together; returns
    what each returned or raised."""
    barrier = threading.Barrier(len(acts))
    results: list[Any] = [None] * len(acts)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = acts[index]()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(acts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a racing request hung (a deadlock?)"
    for result in results:
        assert not isinstance(result, BaseException), repr(result)
    return results


@pytest.fixture
def crowd(make_user: Callable[[str], User]) -> tuple[Project, list[User]]:
    users = [make_user(f"member{n}") for n in range(MEMBERS)]
    project = create_project(users[0], "Race")
    for user in users[1:]:
        set_member(project, user.username, "annotator")
    return project, users


def fresh_items(project: Project, count: int, n: int) -> list[QueueItem]:
    """``count`` new items of equal score: every member's first choice is the same."""
    QueueItem.objects.filter(project=project).update(done=True, leased_by=None)
    return [
        QueueItem.objects.create(project=project, asset=asset, frame=0, score=1.0)
        for asset in image_assets(project, count, start=n * 100)
    ]


@pytest.mark.parametrize("items", [MEMBERS, 2], ids=["enough", "too-few"])
def test_members_asking_together_never_share_an_item(
    crowd: tuple[Project, list[User]], items: int
) -> None:
    project, users = crowd
    for n in range(ROUNDS):
        fresh_items(project, items, n)
        got = race([functools.partial(next_item, project, user, "combined") for user in users])
        served = [item.pk for item in got if item is not None]
        assert len(served) == len(set(served)) == min(items, MEMBERS), got
        leased = QueueItem.objects.filter(project=project, done=False, leased_by__isnull=False)
        assert {(i.pk, i.leased_by_id) for i in leased} == {
            (item.pk, item.leased_by_id) for item in got if item is not None
        }


def test_members_asking_through_the_api_never_share_an_item(
    crowd: tuple[Project, list[User]], client_for: Callable[[Any], Any]
) -> None:
    project, users = crowd
    clients = [client_for(user) for user in users]
    for n in range(ROUNDS // 3):
        fresh_items(project, MEMBERS - 1, n)
        responses = race([functools.partial(next_of, c, project) for c in clients])
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * (MEMBERS - 1) + [204], [r.content for r in responses]
        served = [r.json()["item"] for r in responses if r.status_code == 200]
        assert len(set(served)) == MEMBERS - 1


def test_labels_arriving_together_start_one_training(
    crowd: tuple[Project, list[User]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two label writes that both reach ``retrain_after`` at once: one ``train`` job,
    the other request is given it (the check and the start are one locked step)."""
    from annotator.models import Job
    from annotator.services import jobs, project_model
    from tests.api.learning_helpers import annotate

    project, users = crowd
    annotate(image_assets(project, 1, start=999)[0], project.labels.create(name="x"), users[0])
    check = project_model.training_job

    def slow_check(p: Project) -> Any:
        found = check(p)
        threading.Event().wait(0.05)  # between the check and the start of a job
        return found

    monkeypatch.setattr(project_model, "training_job", slow_check)
    monkeypatch.setattr(jobs, "send_task_on_commit", lambda *args, **kwargs: None)
    for _ in range(ROUNDS // 3):
        Job.objects.filter(kind="train").update(status="done")
        act = functools.partial(project_model.start_training, project, None, auto=True)
        started = race([act, act])
        assert started[0].pk == started[1].pk, started
        assert Job.objects.filter(kind="train", status="queued").count() == 1
