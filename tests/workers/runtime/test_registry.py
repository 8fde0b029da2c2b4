"""The web side's lists pinned to the workers' registries: task names and queues,
job kinds, dataset formats and engines each have one source, and what the web side
sends or accepts is exactly what the workers provide."""

from __future__ import annotations

from annotator import task_routes
from annotator.celery import app
from formats.archives import EXPORT_FORMATS, IMPORT_FORMATS
from formats.prompts import ENGINES
from workers.engines import ENGINE_NAMES
from workers.export import FORMATS
from workers.export.base import _registry as export_writers
from workers.runtime import lifecycle, tasks  # noqa: F401  (registers every task)


def registered_tasks() -> dict[str, object]:
    return {name: task for name, task in app.tasks.items() if name.startswith("workers.")}


def test_every_registered_task_is_routed_and_every_route_has_a_task() -> None:
    assert set(registered_tasks()) == set(task_routes.TASK_QUEUES)


def test_routes_send_each_task_to_its_queue() -> None:
    for name, queue in task_routes.TASK_QUEUES.items():
        assert queue in task_routes.QUEUES
        assert app.amqp.router.route({}, name)["queue"].name == queue


def test_every_job_kind_runs_a_job_task_through_the_lifecycle() -> None:
    tasks_by_name = registered_tasks()
    for kind, name in task_routes.JOB_TASKS.items():
        task = tasks_by_name[name]
        assert task.acks_late, f"{kind}: a job task is acknowledged when it ends"  # type: ignore[attr-defined]
        assert not task.ignore_result, f"{kind}: its outcome is its result"  # type: ignore[attr-defined]
    interactive = {n for n, q in task_routes.TASK_QUEUES.items() if q == task_routes.INTERACTIVE}
    assert not interactive & set(task_routes.JOB_TASKS.values())
    assert set(task_routes.JOB_TASKS.values()) == lifecycle._JOB_TASK_NAMES


def test_export_formats_are_the_writers() -> None:
    assert set(export_writers()) == set(EXPORT_FORMATS) and FORMATS == EXPORT_FORMATS


def test_import_formats_have_readers() -> None:
    from workers.export import importers

    assert importers.IMPORT_FORMATS is IMPORT_FORMATS  # not a copy: the same list
    assert set(IMPORT_FORMATS) <= set(FORMATS)


def test_engines_the_api_accepts_are_the_engines_workers_build() -> None:
    assert set(ENGINES) == {"auto", *ENGINE_NAMES}
