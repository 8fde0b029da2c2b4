from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workers.runtime.sam_checkpoint import CommandError, main
from workers.runtime.sam_checkpoint import run as run_command


@pytest.fixture
def var_dir(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_it_registers_a_local_checkpoint_after_loading_it(
    var_dir: Path, tiny_sam_checkpoint: Path, capsys: Any
) -> None:
    run_command(["register", str(tiny_sam_checkpoint), "--model-type", "tiny", "--copy"])
    active = json.loads((var_dir / "models" / "active.json").read_text())
    assert active == {
        "checkpoint": str(var_dir / "models" / tiny_sam_checkpoint.name),
        "model_type": "tiny",
    }
    assert (
        var_dir / "models" / tiny_sam_checkpoint.name
    ).read_bytes() == tiny_sam_checkpoint.read_bytes()
    assert "sha256" in capsys.readouterr().out


def test_it_refuses_weights_of_another_model_type(var_dir: Path, tiny_sam_checkpoint: Path) -> None:
    with pytest.raises(CommandError, match="do not load as vit_b"):
        run_command(["register", str(tiny_sam_checkpoint), "--model-type", "vit_b"])
    assert not (var_dir / "models" / "active.json").exists()


def test_a_download_with_the_wrong_checksum_is_refused(var_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "sam_vit_b_01ec64.pth"
    fake.write_bytes(b"not the real weights")
    with pytest.raises(CommandError):
        run_command(["download", "vit_b", "--url", fake.as_uri()])
    assert not (var_dir / "models" / "active.json").exists()
    assert not (var_dir / "models" / "sam_vit_b_01ec64.pth").exists()


def test_the_command_line_reports_errors_with_exit_status_1(
    var_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    assert main(["register", str(tmp_path / "missing.pth"), "--model-type", "vit_b"]) == 1
    assert "is not a file" in capsys.readouterr().err
