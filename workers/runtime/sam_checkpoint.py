"""Register a local SAM checkpoint, or download an official one, as the active model:
``python -m workers.runtime.sam_checkpoint register PATH --model-type vit_b`` on a worker
host (it loads the weights to check them, so it needs torch: a worker-side command).

The active checkpoint is recorded in ``var/models/active.json``; settings read it when
``SAM_CHECKPOINT`` is not set in the environment (the environment always wins).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TextIO

from django.conf import settings

from workers.engines.sam_checkpoints import (
    OFFICIAL_CHECKPOINTS,
    CheckpointError,
    checkpoint_digests,
    download_checkpoint,
    verify_checkpoint,
)

MODEL_TYPES = ("vit_b", "vit_l", "vit_h", "tiny")


def models_dir() -> Path:
    return Path(settings.VAR_DIR) / "models"


class CommandError(Exception):
    """A failure to report on stderr with exit status 1."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m workers.runtime.sam_checkpoint",
        description="Register a local SAM checkpoint or download an official one "
        "(checksum verified).",
    )
    sub = root.add_subparsers(dest="action", required=True)
    register = sub.add_parser("register", help="use a checkpoint file already on disk")
    register.add_argument("path")
    register.add_argument("--model-type", choices=MODEL_TYPES, required=True)
    register.add_argument(
        "--copy",
        action="store_true",
        help="copy the file under var/models/ instead of pointing at it",
    )
    register.add_argument(
        "--no-load",
        action="store_true",
        help="skip loading the weights into the model to check them",
    )
    download = sub.add_parser("download", help="download an official checkpoint (needs a network)")
    download.add_argument("model_type", choices=sorted(OFFICIAL_CHECKPOINTS))
    download.add_argument("--url", help="another address for the same file (mirror, file://)")
    sub.add_parser("show", help="print the active checkpoint")
    return root


def run(argv: list[str], out: TextIO | None = None) -> None:
    """Run the command (Django set up); raises :class:`CommandError`."""
    out = out or sys.stdout
    options = vars(parser().parse_args(argv))
    action = options["action"]
    if action == "show":
        _show(out)
        return
    if action == "download":
        try:
            path = download_checkpoint(options["model_type"], models_dir(), url=options.get("url"))
        except CheckpointError as exc:
            raise CommandError(str(exc)) from None
        _activate(path, options["model_type"], load=True, out=out)
        return
    path = Path(options["path"]).expanduser().resolve()
    if not path.is_file():
        raise CommandError(f"{path} is not a file")
    model_type = options["model_type"]
    official = OFFICIAL_CHECKPOINTS.get(model_type)
    try:
        if official is not None and path.name == official.filename:
            # A file under an official name must be that file, byte for byte.
            digest = verify_checkpoint(path, model_type)
        else:
            # Fine-tuned weights: no published checksum; loading them below checks
            # that they fit the architecture.
            digest = checkpoint_digests(path)[0]
    except CheckpointError as exc:
        raise CommandError(str(exc)) from None
    print(f"sha256 {digest}", file=out)
    if options["copy"]:
        models_dir().mkdir(parents=True, exist_ok=True)
        target = models_dir() / path.name
        if target != path:
            shutil.copy2(path, target)
        path = target
    _activate(path, model_type, load=not options["no_load"], out=out)


def _activate(path: Path, model_type: str, load: bool, out: TextIO) -> None:
    if load:
        from workers.engines.sam import EngineUnavailable, load_sam_model

        try:
            load_sam_model(str(path), model_type, device="cpu")
        except EngineUnavailable as exc:
            raise CommandError(f"the weights do not load as {model_type}: {exc}") from None
    models_dir().mkdir(parents=True, exist_ok=True)
    record = {"checkpoint": str(path), "model_type": model_type}
    (models_dir() / "active.json").write_text(json.dumps(record, indent=2))
    print(f"SAM {model_type} active: {path} (restart the workers to load it)", file=out)


def _show(out: TextIO) -> None:
    if settings.SAM_CHECKPOINT:
        print(f"{settings.SAM_MODEL_TYPE}: {settings.SAM_CHECKPOINT}", file=out)
    else:
        print("no SAM checkpoint: the classical engine is used", file=out)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    import django

    django.setup()
    try:
        run(sys.argv[1:] if argv is None else argv)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
