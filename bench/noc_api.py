"""NoC through the public predict endpoint: an outside harness with the standard click
simulator, driving a running server (``--url``/``--token``) or one it starts itself.

    .venv/bin/python -m bench.noc_api --step 10                      # DAVIS, own stack
    .venv/bin/python -m bench.noc_api --images DIR --masks DIR       # held-out data
    .venv/bin/python -m bench.noc_api --url http://host:8000 --token T --engine classical

``--images``/``--masks``: image files and same-stem PNG masks (non-zero = object).
Each click sends all clicks so far plus the previous mask, exactly as the UI does;
``--no-mask`` sends the clicks only (the server then refines from the result it
remembers for the same clicks minus the newest one).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from bench.noc import SessionRecord, davis_root, format_table, list_frames
from bench.stack import Client, Stack
from workers.engines.base import Click
from workers.evaluation import simulate


def held_out_pairs(images: Path, masks: Path) -> list[tuple[str, Path, Path]]:
    pairs = []
    for image in sorted(p for p in images.iterdir() if p.is_file()):
        mask = masks / f"{image.stem}.png"
        if mask.exists():
            pairs.append((image.stem, image, mask))
    return pairs


def encode(mask: np.ndarray) -> dict[str, object]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}


def run(
    client: Client,
    project: int,
    pairs: list[tuple[str, Path, Path]],
    engine: str,
    max_clicks: int,
    send_mask: bool = True,
) -> list[SessionRecord]:
    records = []
    for name, image_path, mask_path in pairs:
        gt = np.asarray(Image.open(mask_path).convert("L")) > 0
        asset = client.upload(project, image_path.name, image_path.read_bytes())
        if (asset["height"], asset["width"]) != gt.shape:
            raise SystemExit(f"{name}: image and mask sizes differ")
        path = f"/api/assets/{asset['id']}/predict/"

        def predict(clicks: list[Click], prev: np.ndarray | None, path: str = path) -> np.ndarray:
            body: dict[str, object] = {
                "engine": engine,
                "clicks": [{"x": c.x, "y": c.y, "positive": c.positive} for c in clicks],
            }
            if prev is not None and send_mask:
                body["mask"] = encode(prev)
            for _ in range(50):
                status, result = client.request("POST", path, body)
                if status != 503:
                    break
                time.sleep(0.2)
            if status != 200:
                raise RuntimeError(f"predict failed: {status} {result}")
            rle = result["mask"]
            return mask_utils.decode(
                {"size": rle["size"], "counts": rle["counts"].encode()}
            ).astype(bool)

        result = simulate(gt, predict, max_clicks=max_clicks, stop_iou=0.90, min_clicks=10)
        records.append(SessionRecord(engine, name, result.ious, result.predict_s, 0.0))
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server; without it a stack is started")
    parser.add_argument("--token")
    parser.add_argument("--project", type=int, help="project id on --url (created if absent)")
    parser.add_argument("--engine", default="classical")
    parser.add_argument("--images", type=Path)
    parser.add_argument("--masks", type=Path)
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument(
        "--no-mask", action="store_true", help="send only the clicks, not the previous mask"
    )
    args = parser.parse_args(argv)

    if args.images and args.masks:
        pairs = held_out_pairs(args.images, args.masks)
    else:
        pairs = [
            (f"{f.seq}/{Path(f.mask_path).stem}", Path(f.image_path), Path(f.mask_path))
            for f in list_frames(davis_root(), args.step, args.limit)
        ]
    if args.limit:
        pairs = pairs[: args.limit]
    with ExitStack() as stack:
        if args.url:
            parsed = urlparse(args.url)
            client = Client(parsed.hostname or "127.0.0.1", parsed.port or 80)
            client.token = args.token
            project = args.project
            if project is None:
                _, body = client.request("POST", "/api/projects/", {"name": "noc"})
                project = int(body["id"])
        else:
            client, project = stack.enter_context(Stack())
        started = time.perf_counter()
        records = run(
            client, project, pairs, args.engine, args.max_clicks, send_mask=not args.no_mask
        )
    print(f"{len(pairs)} objects through the API, {time.perf_counter() - started:.0f} s")
    print(format_table(records, [args.engine], args.max_clicks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
