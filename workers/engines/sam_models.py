"""Building and loading SAM models: the registry by model type (official ViT-B/L/H and
a tiny random-weight SAM for tests), checkpoint loading once per process.

Split from :mod:`workers.engines.sam` (the engine itself) so each stays small.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from segment_anything import sam_model_registry
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

log = logging.getLogger(__name__)


class EngineUnavailable(RuntimeError):
    """SAM cannot run here: no checkpoint configured, file missing, unknown model type,
    or weights that do not fit the architecture. The message says what to fix."""


# --------------------------------------------------------------------------- models


def build_tiny_sam(seed: int = 0) -> Sam:
    """A tiny SAM (about 0.2 M parameters) with random weights, for tests and CI.

    Built from segment-anything's own modules with the real geometry (1024 input,
    16-pixel patches, 64x64 embedding, 256x256 low-res masks), only narrow and shallow,
    so every code path (transforms, padding, postprocess, checkpoint loading) is the
    one production uses. Deterministic for a given ``seed``. Its masks are meaningless.
    """
    img_size, patch, dim = 1024, 16, 32
    grid = img_size // patch
    with torch.random.fork_rng(devices=[]):  # do not disturb the caller's RNG stream
        torch.manual_seed(seed)
        sam = Sam(
            image_encoder=ImageEncoderViT(
                img_size=img_size,
                patch_size=patch,
                embed_dim=32,
                depth=1,
                num_heads=2,
                mlp_ratio=2.0,
                out_chans=dim,
                qkv_bias=True,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                use_rel_pos=True,
                # Windowed attention only: global attention over 4096 tokens is what
                # makes the real encoders slow.
                window_size=8,
                global_attn_indexes=(),
            ),
            prompt_encoder=PromptEncoder(
                embed_dim=dim,
                image_embedding_size=(grid, grid),
                input_image_size=(img_size, img_size),
                mask_in_chans=4,
            ),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=3,
                transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
                transformer_dim=dim,
                iou_head_depth=2,
                iou_head_hidden_dim=32,
            ),
        )
        # The absolute position embedding starts at zero; give it some noise so the
        # random encoder's output depends on where things are, like a trained one.
        assert sam.image_encoder.pos_embed is not None
        torch.nn.init.normal_(sam.image_encoder.pos_embed, std=0.5)
    return sam.eval()


def save_tiny_checkpoint(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write the tiny SAM's ``state_dict`` to ``path`` (``torch.save``); return the path.

    Lets tests and the end-to-end suite set ``SAM_MODEL_TYPE=tiny`` and
    ``SAM_CHECKPOINT=path`` and go through the real checkpoint-loading path.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_tiny_sam(seed).state_dict(), out)
    return out


def _registry_builder(model_type: str) -> Callable[[], Sam]:
    # segment-anything's builders take an optional checkpoint path and load it with a
    # bare torch.load (no map_location, no weights_only); we load ourselves instead.
    return lambda: sam_model_registry[model_type](checkpoint=None)


#: model type -> zero-argument builder of the architecture (random/empty weights).
MODEL_BUILDERS: dict[str, Callable[[], Sam]] = {
    "vit_b": _registry_builder("vit_b"),
    "vit_l": _registry_builder("vit_l"),
    "vit_h": _registry_builder("vit_h"),
    "tiny": build_tiny_sam,
}


@dataclass(frozen=True)
class _LoadedModel:
    model: Sam
    model_id: str
    device: torch.device


_MODEL_CACHE: dict[tuple[str, str, int, int, str], _LoadedModel] = {}
_MODEL_CACHE_LOCK = threading.Lock()


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _weights_fingerprint(path: Path, size: int) -> str:
    """A cheap content fingerprint of a checkpoint (sha256 over size + head + tail).

    Content-based rather than path/mtime-based so that every worker holding the same
    weights computes the same ``model_id`` and shares stored embeddings. The tail of a
    ``torch.save`` zip file is its central directory, which lists a CRC-32 of every
    tensor record, so changed weights change the tail even if the head is identical.
    (``torch.save`` also embeds the file's stem in the archive, so identical weights
    saved under another file name get another id: a cache miss, never a wrong hit.)
    """
    window = 1 << 20
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(window))
        if size > window:
            fh.seek(max(window, size - window))
            digest.update(fh.read())
    return digest.hexdigest()


def load_sam_model(
    checkpoint: str | os.PathLike[str], model_type: str, device: str | torch.device | None = None
) -> tuple[Sam, str]:
    """Load (once per process) the ``model_type`` SAM with weights from ``checkpoint``.

    Returns ``(model, model_id)``; the model is in eval mode on ``device`` (CUDA when
    available, else CPU). Cached by (type, resolved path, mtime, size, device): calling
    again returns the same object, and a replaced checkpoint file is loaded afresh.
    Raises :class:`EngineUnavailable` for an unknown type or a missing/unusable file.
    """
    if model_type not in MODEL_BUILDERS:
        raise EngineUnavailable(
            f"unknown SAM model type {model_type!r}; expected one of {sorted(MODEL_BUILDERS)}"
        )
    path = Path(checkpoint).expanduser().resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise EngineUnavailable(
            f"SAM checkpoint {str(checkpoint)!r} not found ({exc.strerror}); download it "
            "(workers.engines.sam_checkpoints.download_checkpoint) or fix SAM_CHECKPOINT"
        ) from exc
    if not path.is_file():
        raise EngineUnavailable(f"SAM checkpoint {str(path)!r} is not a file")
    dev = torch.device(device) if device is not None else _default_device()
    key = (model_type, str(path), st.st_mtime_ns, st.st_size, str(dev))

    # One lock for the whole load: two threads asking at once must not each spend
    # seconds (and gigabytes) loading vit_h.
    with _MODEL_CACHE_LOCK:
        hit = _MODEL_CACHE.get(key)
        if hit is not None:
            return hit.model, hit.model_id
        model = MODEL_BUILDERS[model_type]()
        try:
            # weights_only: a checkpoint is data; never unpickle arbitrary objects.
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state_dict, dict) and "model" in state_dict:
                state_dict = state_dict["model"]  # training-style {"model": ..., ...}
            model.load_state_dict(state_dict)
        except Exception as exc:  # any load failure means "unavailable"
            raise EngineUnavailable(
                f"could not load SAM {model_type} weights from {str(path)!r}: {exc}"
            ) from exc
        model.to(dev).eval()
        model_id = f"sam-{model_type}-{_weights_fingerprint(path, st.st_size)[:12]}"
        # Forget older versions of the same file (replaced checkpoint) to free memory.
        for old in [k for k in _MODEL_CACHE if k[:2] == key[:2] and k[4] == key[4]]:
            del _MODEL_CACHE[old]
        _MODEL_CACHE[key] = _LoadedModel(model, model_id, dev)
        log.info("loaded SAM %s from %s on %s as %s", model_type, path, dev, model_id)
        return model, model_id


def clear_model_cache() -> None:
    """Drop every cached model (tests; freeing GPU memory)."""
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE.clear()
