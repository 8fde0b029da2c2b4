"""The walls between layers, as import-linter contracts (pyproject.toml, run by
scripts/test): each one holds on the tree, fails on a planted bad import, and covers
every compute package of ``workers/``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("annotator", "api", "formats", "frontend", "workers")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def python_only(directory: str, names: list[str]) -> set[str]:
    return {
        name
        for name in names
        if name in ("node_modules", "__pycache__", "static", "migrations")
        or (not name.endswith(".py") and not Path(directory, name).is_dir())
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's Python packages and pyproject.toml to plant imports in."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=python_only)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}  # planted\n")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(contracts())} kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("contract", "module", "line"),
    [
        ("web-never-imports-workers", "api.views.health", "import workers.runtime.lifecycle"),
        ("web-never-imports-workers", "annotator.services.jobs", "from workers import engines"),
        ("web-never-imports-torch", "annotator.services.predict", "import torch"),
        ("formats-stand-alone", "formats.rle", "from django.conf import settings"),
        ("formats-stand-alone", "formats.prompts", "from annotator.errors import InvalidInput"),
        ("compute-is-pure", "workers.engines.base", "from django.db import models"),
        ("compute-is-pure", "workers.export.coco", "import celery"),
        ("compute-is-pure", "workers.evaluation.metrics", "from annotator.models import Job"),
        ("compute-is-pure", "workers.engines.classical", "from workers.runtime import engine_pool"),
    ],
)
def test_a_planted_bad_import_breaks_its_contract(
    tree: Path, contract: str, module: str, line: str
) -> None:
    plant(tree, module, line)
    result = lint(tree)
    assert result.returncode != 0, result.stdout
    report = " ".join(result.stdout.split())  # long contract names wrap
    assert f"{contracts()[contract]['name']} BROKEN" in report, result.stdout
    assert module in result.stdout


def test_every_compute_package_of_workers_is_behind_the_wall() -> None:
    """A new compute package (propagation, pointclouds, learning, ...) must be added to
    the compute-is-pure contract; only the runtime may import Django and Celery."""
    packages = {
        f"workers.{path.name}"
        for path in (ROOT / "workers").iterdir()
        if (path / "__init__.py").is_file() and path.name != "runtime"
    }
    listed = set(contracts()["compute-is-pure"]["source_modules"])  # type: ignore[arg-type]
    assert packages == listed
