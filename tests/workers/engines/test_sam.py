"""SAM engine on the tiny random-weight model, through the real checkpoint path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from segment_anything import SamPredictor  # noqa: E402

from workers.engines import build_engine  # noqa: E402
from workers.engines.base import Click, Prompts, Scribble  # noqa: E402
from workers.engines.embedding_cache import EmbeddingCache, MemoryByteStore  # noqa: E402
from workers.engines.sam import (  # noqa: E402
    MASK_PROMPT_LOGIT,
    MAX_SCRIBBLE_POINTS,
    EngineUnavailable,
    SamEngine,
    SamState,
    build_sam_engine,
    load_sam_model,
    mask_to_logits,
    save_tiny_checkpoint,
    scribble_points,
)

H, W = 96, 128  # landscape: input_size (768, 1024), so padding is exercised


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # The tiny model is far too small to gain from intra-op threads, and on a busy
    # 2-core box OpenMP spin-waiting makes it 20x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("sam") / "tiny_sam.pth")


@pytest.fixture(scope="module")
def engine(checkpoint: Path) -> SamEngine:
    return build_sam_engine(str(checkpoint), "tiny", device="cpu")


def _image(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
    img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] += 150  # a bright square "object"
    return img


@pytest.fixture(scope="module")
def state(engine: SamEngine) -> SamState:
    return engine.prepare(_image())


def _assert_nontrivial(mask: np.ndarray) -> None:
    """Some pixels on and some off, so an engine that returns an all-zero (or all-one)
    mask fails. The tiny SAM's weights are random, but with seed 0 every prompt used in
    this file gives a mask covering roughly 20-95 % of the image."""
    assert mask.any(), "empty mask"
    assert not mask.all(), "mask covers the whole image"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0


def _check_prediction(pred: Any, h: int = H, w: int = W) -> None:
    assert pred.mask.shape == (h, w) and pred.mask.dtype == bool
    _assert_nontrivial(pred.mask)
    assert 0.0 <= pred.score <= 1.0
    assert pred.low_res_logits.shape == (1, 256, 256)
    assert pred.low_res_logits.dtype == np.float32


# ----------------------------------------------------------------- building/loading


def test_build_engine_by_name_and_from_env(
    checkpoint: Path, engine: SamEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAM_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("SAM_MODEL_TYPE", "tiny")
    built = build_engine("sam", device="cpu")
    assert isinstance(built, SamEngine)
    assert built.name == "sam"
    assert built.model_id == engine.model_id
    assert built.model_id.startswith("sam-tiny-")


def test_model_loaded_once_per_process(checkpoint: Path, engine: SamEngine) -> None:
    again = build_sam_engine(str(checkpoint), "tiny", device="cpu")
    assert again.model is engine.model
    # A different path spelling of the same file is the same cache entry.
    relative = os.path.relpath(checkpoint)
    assert build_sam_engine(relative, "tiny", device="cpu").model is engine.model


def test_changed_weights_change_model_and_id(tmp_path: Path) -> None:
    path = save_tiny_checkpoint(tmp_path / "w.pth", seed=0)
    first, first_id = load_sam_model(path, "tiny", "cpu")
    save_tiny_checkpoint(path, seed=1)  # same path, new weights
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # coarse-mtime filesystems
    second, second_id = load_sam_model(path, "tiny", "cpu")
    assert second is not first
    assert second_id != first_id


def test_model_id_is_content_based(tmp_path: Path, engine: SamEngine) -> None:
    # Same weights under the same file name elsewhere (another worker) -> same id.
    copy = save_tiny_checkpoint(tmp_path / "tiny_sam.pth", seed=0)
    assert build_sam_engine(str(copy), "tiny", device="cpu").model_id == engine.model_id


def test_unavailable_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    with pytest.raises(EngineUnavailable, match="SAM_CHECKPOINT"):
        build_sam_engine()
    with pytest.raises(EngineUnavailable, match="not found"):
        build_sam_engine(str(tmp_path / "missing.pth"), "tiny")
    with pytest.raises(EngineUnavailable, match="unknown SAM model type"):
        build_sam_engine(str(tmp_path / "missing.pth"), "vit_zz")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(EngineUnavailable, match="could not load"):
        build_sam_engine(str(garbage), "tiny")
    # Weights of another architecture do not fit.
    tiny = save_tiny_checkpoint(tmp_path / "tiny.pth")
    with pytest.raises(EngineUnavailable, match="could not load"):
        load_sam_model(tiny, "vit_b", "cpu")


# ----------------------------------------------------------------- prepare


def test_prepare_state(state: SamState, engine: SamEngine) -> None:
    assert state.features.shape == (1, 32, 64, 64)
    assert state.features.dtype == np.float32
    assert state.original_size == (H, W)
    assert state.input_size == (768, 1024)
    assert state.model_id == engine.model_id
    assert engine.state_nbytes(state) >= state.features.nbytes


def test_prepare_accepts_grey_and_rgba_rejects_float(engine: SamEngine) -> None:
    img = _image()
    grey = engine.prepare(img[:, :, 0])
    assert grey.original_size == (H, W)
    rgba = np.concatenate([img, np.full((H, W, 1), 255, np.uint8)], axis=2)
    np.testing.assert_allclose(engine.prepare(rgba).features, engine.prepare(img).features)
    with pytest.raises(ValueError):
        engine.prepare(img.astype(np.float32))


def test_prepare_batch_equals_single(engine: SamEngine) -> None:
    images = [_image(1), _image(2, 64, 48), _image(3, 100, 100)]
    batched = engine.prepare_batch(images, batch_size=2)  # two encoder chunks
    assert len(batched) == 3
    for img, b in zip(images, batched, strict=True):
        single = engine.prepare(img)
        assert b.original_size == single.original_size == img.shape[:2]
        assert b.input_size == single.input_size
        np.testing.assert_allclose(b.features, single.features, atol=1e-4, rtol=1e-4)
    assert batched[1].input_size == (1024, 768)  # portrait: long side is the height


# ----------------------------------------------------------------- predict


def test_single_click_uses_multimask_and_best_iou(
    engine: SamEngine, state: SamState, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    decoder = engine.model.mask_decoder
    original = decoder.forward

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["multimask_output"])
        masks, iou = original(*args, **kwargs)
        spy.masks, spy.iou = masks, iou  # type: ignore[attr-defined]
        return masks, iou

    monkeypatch.setattr(decoder, "forward", spy)
    pred = engine.predict(state, Prompts(clicks=[Click(64, 48)]))
    _check_prediction(pred)
    assert calls == [True]
    iou = spy.iou[0].numpy()  # type: ignore[attr-defined]
    low_res = spy.masks[0].numpy()  # type: ignore[attr-defined]
    assert low_res.shape == (3, 256, 256)
    best = int(np.argmax(iou))
    # Here the best of the three is not the first, so an engine that took mask 0 fails.
    assert best != 0
    assert pred.score == pytest.approx(min(1.0, max(0.0, float(iou[best]))), abs=1e-6)
    # The mask and logits returned are those of the best-scored output, not another one.
    np.testing.assert_array_equal(pred.low_res_logits, low_res[best : best + 1])
    for other in set(range(3)) - {best}:
        assert not np.array_equal(low_res[other], low_res[best])

    engine.predict(state, Prompts(clicks=[Click(64, 48), Click(10, 10, positive=False)]))
    engine.predict(state, Prompts(clicks=[Click(64, 48)], box=(30, 20, 100, 80)))
    assert calls == [True, False, False]


def test_box_scribble_mask_and_combinations(engine: SamEngine, state: SamState) -> None:
    stroke = Scribble(np.array([[40.0, 30.0], [90.0, 30.0], [90.0, 70.0]]))
    neg = Scribble(np.array([[5.0, 5.0], [20.0, 8.0]]), positive=False)
    square = np.zeros((H, W), bool)
    square[24:72, 32:96] = True
    masks: list[bytes] = []
    for prompts in [
        Prompts(box=(32, 24, 96, 72)),
        Prompts(box=(0, 0, W, H)),  # the far edge may equal the image size
        Prompts(scribbles=[stroke, neg]),
        Prompts(scribbles=[Scribble(np.array([[50.0, 50.0]]))]),  # a dot
        Prompts(mask=square),
        Prompts(clicks=[Click(64, 48)], box=(32, 24, 96, 72), scribbles=[neg], mask=square),
    ]:
        pred = engine.predict(state, prompts)
        _check_prediction(pred)
        masks.append(pred.mask.tobytes())
    # Every kind of prompt reaches the decoder: no two of these give the same mask.
    assert len(set(masks)) == len(masks)


def test_refinement_feeds_logits_back(engine: SamEngine, state: SamState) -> None:
    first = engine.predict(state, Prompts(clicks=[Click(64, 48)]))
    prompts = Prompts(clicks=[Click(64, 48), Click(100, 20, positive=False)])
    plain = engine.predict(state, prompts)
    prompts.logits = first.low_res_logits
    refined = engine.predict(state, prompts)
    _check_prediction(refined)
    assert first.low_res_logits is not None and plain.low_res_logits is not None
    assert refined.low_res_logits is not None
    # The dense mask prompt reaches the decoder: the logits change.
    assert not np.allclose(refined.low_res_logits, plain.low_res_logits)
    # (256, 256) without the leading axis is accepted too; wrong sizes are not.
    prompts.logits = first.low_res_logits[0]
    flat = engine.predict(state, prompts).low_res_logits
    assert flat is not None
    np.testing.assert_allclose(flat, refined.low_res_logits, atol=1e-6)
    prompts.logits = np.zeros((1, 64, 64), np.float32)
    with pytest.raises(ValueError, match="logits"):
        engine.predict(state, prompts)


@pytest.mark.parametrize(
    ("points", "labels", "box"),
    [
        # One click: the engine picks among SAM's three ambiguity masks.
        pytest.param([(64.0, 48.0)], [1], None, id="one-click"),
        pytest.param([(64.0, 48.0), (10.0, 10.0)], [1, 0], None, id="two-clicks"),
        pytest.param(
            [(40.5, 30.25), (100.0, 80.0), (5.0, 90.0)], [1, 1, 0], None, id="subpixel-clicks"
        ),
        pytest.param([], [], (32.0, 24.0, 96.0, 72.0), id="box"),
        pytest.param([(64.0, 48.0)], [1], (30.0, 20.0, 100.0, 80.0), id="click-and-box"),
    ],
)
def test_masks_equal_segment_anythings_predictor(
    engine: SamEngine,
    state: SamState,
    points: list[tuple[float, float]],
    labels: list[int],
    box: tuple[float, float, float, float] | None,
) -> None:
    """The engine gives exactly what segment-anything's own ``SamPredictor`` gives on
    the same model, image and prompts, with SamPredictor's documented recipe for one
    click (``multimask_output=True``, keep the best-scored mask) and a single mask
    otherwise. ``state`` holds the encoder output as float32, as SamPredictor does
    (float16 only happens in ``state_to_bytes``), so no rounding is involved and the
    masks must be identical, not merely close."""
    predictor = SamPredictor(engine.model)  # the same model object: the same weights
    predictor.set_image(_image())  # the image ``state`` was prepared from
    np.testing.assert_array_equal(predictor.features.cpu().numpy(), state.features)

    single_click = len(points) == 1 and box is None
    masks, scores, logits = predictor.predict(
        point_coords=np.array(points, dtype=np.float64) if points else None,
        point_labels=np.array(labels) if points else None,
        box=np.array(box, dtype=np.float64) if box is not None else None,
        multimask_output=single_click,
    )
    assert len(masks) == (3 if single_click else 1)
    best = int(np.argmax(scores))
    expected = masks[best]
    assert expected.shape == (H, W)
    _assert_nontrivial(expected)  # the reference itself is not empty or full
    if single_click:
        # The three candidates differ, so picking the wrong one would show.
        assert best != 0
        assert all(not np.array_equal(expected, m) for i, m in enumerate(masks) if i != best)

    clicks = [Click(x, y, positive=bool(lab)) for (x, y), lab in zip(points, labels, strict=True)]
    pred = engine.predict(state, Prompts(clicks=clicks, box=box))

    _check_prediction(pred)
    np.testing.assert_array_equal(pred.mask, expected)
    assert _iou(pred.mask, expected) == 1.0
    np.testing.assert_array_equal(pred.low_res_logits, logits[best : best + 1])
    assert pred.score == pytest.approx(min(1.0, max(0.0, float(scores[best]))), abs=1e-6)


def test_predict_is_deterministic(engine: SamEngine, state: SamState) -> None:
    p = Prompts(clicks=[Click(64, 48)], box=(32, 24, 96, 72))
    a, b = engine.predict(state, p), engine.predict(state, p)
    _assert_nontrivial(a.mask)
    assert np.array_equal(a.mask, b.mask) and a.score == b.score


@pytest.mark.parametrize(
    "prompts",
    [
        Prompts(),
        Prompts(clicks=[Click(W, 10)]),  # x == W is past the last pixel
        Prompts(clicks=[Click(-0.5, 10)]),
        Prompts(clicks=[Click(10, float("nan"))]),
        Prompts(box=(0, 0, W + 1, H)),
        Prompts(box=(50, 10, 40, 20)),  # x0 > x1
        Prompts(scribbles=[Scribble(np.array([[10.0, 10.0], [10.0, H + 5.0]]))]),
        Prompts(scribbles=[Scribble(np.zeros((0, 2)))]),
        Prompts(mask=np.zeros((H + 1, W), bool)),
    ],
)
def test_invalid_prompts(engine: SamEngine, state: SamState, prompts: Prompts) -> None:
    with pytest.raises(ValueError):
        engine.predict(state, prompts)


def test_state_of_another_model_is_rejected(engine: SamEngine, state: SamState) -> None:
    other = SamState(state.features, state.original_size, state.input_size, "sam-other-0")
    with pytest.raises(ValueError, match="prepared by"):
        engine.predict(other, Prompts(clicks=[Click(5, 5)]))


# ----------------------------------------------------------------- caching / bytes


def test_float16_round_trip(engine: SamEngine, state: SamState) -> None:
    data = engine.state_to_bytes(state)
    assert len(data) < state.features.nbytes * 0.6  # float16: about half
    restored = engine.state_from_bytes(data)
    assert restored.features.dtype == np.float32
    assert restored.original_size == state.original_size
    assert restored.input_size == state.input_size
    assert restored.model_id == state.model_id
    np.testing.assert_allclose(restored.features, state.features, rtol=2e-3, atol=2e-3)
    for prompts in [
        Prompts(clicks=[Click(64, 48)]),
        Prompts(box=(32, 24, 96, 72)),
        Prompts(clicks=[Click(64, 48), Click(5, 90, positive=False)]),
    ]:
        fresh, again = engine.predict(state, prompts), engine.predict(restored, prompts)
        _assert_nontrivial(fresh.mask)
        # IoU, not pixel agreement: two empty masks would "agree" everywhere.
        assert _iou(fresh.mask, again.mask) >= 0.99
        assert abs(fresh.score - again.score) <= 1e-2


def test_state_from_bytes_rejects_garbage(engine: SamEngine) -> None:
    with pytest.raises(ValueError):
        engine.state_from_bytes(b"garbage")


def test_cached_embedding_is_not_recomputed(
    engine: SamEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = engine.model.image_encoder
    original = encoder.forward
    calls: list[tuple[int, ...]] = []

    def counting(x: Any) -> Any:
        calls.append(tuple(x.shape))
        return original(x)

    monkeypatch.setattr(encoder, "forward", counting)
    store = MemoryByteStore()
    cache = EmbeddingCache(engine, memory_limit_mb=64, store=store)
    loads: list[int] = []

    def load() -> np.ndarray:
        loads.append(1)
        return _image(7)

    s1, src1 = cache.get_state("k", load)
    engine.predict(s1, Prompts(clicks=[Click(64, 48)]))
    s2, src2 = cache.get_state("k", load)
    engine.predict(s2, Prompts(clicks=[Click(64, 48), Click(10, 10, positive=False)]))
    assert (src1, src2) == ("computed", "memory")
    assert len(calls) == 1 and len(loads) == 1

    cache.clear_memory()  # e.g. another worker process: only the store is shared
    s3, src3 = cache.get_state("k", load)
    assert src3 == "store"
    assert len(calls) == 1 and len(loads) == 1
    p1 = engine.predict(s1, Prompts(box=(32, 24, 96, 72)))
    p3 = engine.predict(s3, Prompts(box=(32, 24, 96, 72)))
    _assert_nontrivial(p1.mask)
    assert _iou(p1.mask, p3.mask) >= 0.99  # s3 went through float16 bytes
    assert (cache.hits_memory, cache.hits_store, cache.computed) == (1, 1, 1)


# ----------------------------------------------------------------- helpers


def test_scribble_points_sampling() -> None:
    line = Scribble(np.array([[0.0, 0.0], [100.0, 0.0]]))
    coords, labels = scribble_points([line], (100, 1000))  # spacing = 1000 / 16
    assert coords.shape == (2, 2) and labels.tolist() == [1, 1]
    np.testing.assert_allclose(coords, [[25.0, 0.0], [75.0, 0.0]])  # segment centres

    # An L-shaped stroke is resampled by arc length, not by vertex.
    ell = Scribble(np.array([[0.0, 0.0], [0.0, 60.0], [60.0, 60.0]]), positive=False)
    coords, labels = scribble_points([ell], (64, 64))  # spacing 4 -> capped at 6
    assert len(coords) == 6 and set(labels.tolist()) == {0}
    steps = np.abs(np.diff(coords, axis=0)).sum(axis=1)  # L1 == arc length on an L
    np.testing.assert_allclose(steps, 20.0)

    many = [Scribble(np.array([[0.0, i], [60.0, i]])) for i in range(10)]
    coords, _ = scribble_points(many, (64, 64))
    assert 10 <= len(coords) <= MAX_SCRIBBLE_POINTS
    coords, _ = scribble_points(many * 5, (64, 64))  # 50 strokes: newest 24, one each
    assert len(coords) == MAX_SCRIBBLE_POINTS
    # One long stroke among 23 dots: the long one gives up points, the dots keep theirs.
    dots = [Scribble(np.array([[float(i), 1.0]])) for i in range(23)]
    coords, _ = scribble_points([line, *dots], (64, 64))
    assert len(coords) == MAX_SCRIBBLE_POINTS
    np.testing.assert_allclose(coords[0], [50.0, 0.0])  # the long stroke's one midpoint

    dot = Scribble(np.array([[3.0, 4.0], [3.0, 4.0]]))
    coords, _ = scribble_points([dot], (64, 64))
    np.testing.assert_allclose(coords, [[3.0, 4.0]])


def test_mask_to_logits_covers_padded_frame() -> None:
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True  # left half
    logits = mask_to_logits(mask, (768, 1024), 1024, (256, 256))
    assert logits.shape == (1, 256, 256) and logits.dtype == np.float32
    # Image occupies rows 0..191 of the 256 grid; the rest is padding = background.
    assert np.all(logits[0, 192:] == -MASK_PROMPT_LOGIT)
    assert np.all(logits[0, :192, :120] == MASK_PROMPT_LOGIT)
    assert np.all(logits[0, :192, 136:] == -MASK_PROMPT_LOGIT)
