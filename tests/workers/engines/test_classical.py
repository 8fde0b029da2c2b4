"""Behaviour of the weight-free classical engine on synthetic images."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from workers.engines import build_engine, classical_refine
from workers.engines.base import Click, Prediction, Prompts, Scribble
from workers.engines.classical import ClassicalEngine, ClassicalState
from workers.engines.classical_seeds import Seeds
from workers.evaluation import iou

H, W = 120, 160


def _texture(rng: np.random.Generator, base: tuple[int, int, int], amp: float) -> np.ndarray:
    noise = rng.normal(0.0, amp, size=(H, W, 3))
    yy, xx = np.mgrid[0:H, 0:W]
    stripes = (amp * np.sin(xx / 3.0 + yy / 5.0))[..., None]
    return np.asarray(base, dtype=float) + noise + stripes


def _disc_scene() -> tuple[np.ndarray, np.ndarray]:
    """A textured orange disc on a textured green-grey background."""
    rng = np.random.default_rng(0)
    img = _texture(rng, (90, 120, 90), 12.0)
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (yy - 60) ** 2 + (xx - 80) ** 2 <= 35**2
    fg = _texture(rng, (220, 130, 50), 12.0)
    img[disc] = fg[disc]
    return np.clip(img, 0, 255).astype(np.uint8), disc


def _two_objects() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two touching rectangles (red left, blue right) on a grey textured background."""
    rng = np.random.default_rng(1)
    img = _texture(rng, (128, 128, 128), 8.0)
    a = np.zeros((H, W), dtype=bool)
    b = np.zeros((H, W), dtype=bool)
    a[30:90, 30:80] = True
    b[30:90, 80:130] = True
    img[a] = _texture(rng, (200, 40, 40), 8.0)[a]
    img[b] = _texture(rng, (40, 60, 200), 8.0)[b]
    return np.clip(img, 0, 255).astype(np.uint8), a, b


@pytest.fixture(scope="module")
def engine() -> ClassicalEngine:
    return ClassicalEngine()


@pytest.fixture(scope="module")
def disc(engine: ClassicalEngine) -> tuple[ClassicalState, np.ndarray]:
    image, gt = _disc_scene()
    return engine.prepare(image), gt


@pytest.fixture
def cuts(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The geodesic weight of every superpixel cut the engine makes during the test."""
    weights: list[float] = []
    original = ClassicalEngine._cut

    def counted(self, state, prompts, seeds, terms, geodesic_weight):
        weights.append(geodesic_weight)
        return original(self, state, prompts, seeds, terms, geodesic_weight)

    monkeypatch.setattr(ClassicalEngine, "_cut", counted)
    return weights


def _predict_with(image: np.ndarray, prompts: Prompts, **options: float) -> np.ndarray:
    """The mask of an engine with ``options`` for ``prompts`` on ``image``."""
    engine = ClassicalEngine(**options)
    return engine.predict(engine.prepare(image), prompts).mask


@pytest.fixture(scope="module")
def pair(engine: ClassicalEngine) -> tuple[ClassicalState, np.ndarray, np.ndarray]:
    image, a, b = _two_objects()
    return engine.prepare(image), a, b


def test_built_by_name() -> None:
    eng = build_engine("classical")
    assert isinstance(eng, ClassicalEngine)
    assert eng.name == "classical"
    assert eng.model_id.startswith("classical-")


def test_the_band_colour_model_is_asked_unless_switched_off(disc, monkeypatch) -> None:
    state, gt = disc
    scales: list[float] = []
    original = classical_refine.band_colour_llr

    def spy(lab, proposal, in_band, d_in, d_out, band, scale):
        scales.append(scale)
        return original(lab, proposal, in_band, d_in, d_out, band, scale)

    monkeypatch.setattr(classical_refine, "band_colour_llr", spy)
    prompts = Prompts(clicks=[Click(80, 60, True)])
    on = ClassicalEngine(band_colour_scale=3.0).predict(state, prompts)
    assert scales == [3.0] and iou(gt, on.mask) > 0.8
    off = ClassicalEngine(band_colour=0.0).predict(state, prompts)
    assert scales == [3.0] and iou(gt, off.mask) > 0.8


def test_single_positive_click(engine, disc) -> None:
    state, gt = disc
    pred = engine.predict(state, Prompts(clicks=[Click(80, 60, True)]))
    assert pred.mask.shape == gt.shape and pred.mask.dtype == bool
    assert iou(gt, pred.mask) > 0.8
    assert 0.0 <= pred.score <= 1.0
    assert pred.low_res_logits is None


def test_click_off_centre_still_finds_the_disc(engine, disc) -> None:
    state, gt = disc
    pred = engine.predict(state, Prompts(clicks=[Click(100, 45, True)]))
    assert iou(gt, pred.mask) > 0.8


def test_box_alone(engine, disc) -> None:
    state, gt = disc
    pred = engine.predict(state, Prompts(box=(40, 20, 120, 100)))
    assert iou(gt, pred.mask) > 0.8
    # Nothing outside the box.
    assert not pred.mask[:, :38].any() and not pred.mask[:, 123:].any()


def test_scribbles(engine, disc) -> None:
    state, gt = disc
    pos = Scribble(np.array([[65.0, 60.0], [95.0, 62.0]]), positive=True)
    neg = Scribble(np.array([[5.0, 5.0], [150.0, 8.0], [150.0, 110.0]]), positive=False)
    pred = engine.predict(state, Prompts(scribbles=[pos, neg]))
    assert iou(gt, pred.mask) > 0.8
    assert not pred.mask[5, 5:150].any()


def test_negative_click_removes_wrong_region(engine, pair) -> None:
    state, a, b = pair
    # The previous result wrongly spans both objects; a negative click on the blue one
    # must take it out and keep the red one.
    prev = a | b
    prompts = Prompts(clicks=[Click(55, 60, True), Click(105, 60, False)], mask=prev)
    pred = engine.predict(state, prompts)
    assert iou(a, pred.mask) > 0.85
    assert (pred.mask & b).sum() < 0.1 * b.sum()


def test_positive_click_adds_missing_object_part(engine, pair) -> None:
    state, a, b = pair
    # Both rectangles are the object; the previous result only has the red one.
    prompts = Prompts(clicks=[Click(55, 60, True), Click(105, 60, True)], mask=a)
    pred = engine.predict(state, prompts)
    assert iou(a | b, pred.mask) > 0.85


def test_previous_mask_is_refined_not_discarded(engine, pair) -> None:
    state, a, b = pair
    # A far negative click on the background leaves a correct previous mask alone,
    # including the part (the blue rectangle) that no click supports directly.
    prev = a | b
    prompts = Prompts(clicks=[Click(55, 60, True), Click(150, 110, False)], mask=prev)
    pred = engine.predict(state, prompts)
    assert iou(prev, pred.mask) > 0.9
    # A mask alone is a valid prompt and comes back essentially unchanged.
    alone = engine.predict(state, Prompts(mask=prev))
    assert iou(prev, alone.mask) > 0.9


def test_newest_click_fixes_a_disk_of_its_error_region(engine) -> None:
    # A background-coloured patch inside the disc belongs to the object, the previous
    # mask misses it. Colour and edges say background, but a click sits in the middle
    # of an error region, so a disk of half its distance to the previous boundary
    # becomes foreground.
    image, gt = _disc_scene()
    cx, cy = 80, 60
    patch = np.zeros_like(gt)
    patch[cy - 18 : cy + 19, cx - 18 : cx + 19] = True
    image[patch] = _texture(np.random.default_rng(5), (90, 120, 90), 12.0).clip(0, 255)[patch]
    state = engine.prepare(image)
    prev = gt & ~patch
    prompts = Prompts(clicks=[Click(80, 30, True), Click(cx, cy, True)], mask=prev)
    yy, xx = np.mgrid[0:H, 0:W]
    near = (yy - cy) ** 2 + (xx - cx) ** 2 <= 8**2
    assert engine.predict(state, prompts).mask[near].all()
    # The seed disk itself: radius 0.5 x 18 px (distance to the previous boundary).
    seeds = Seeds.from_prompts(prompts, state, 3, seed_scale=0.5)
    rows, cols, positive = seeds.pixel_seeds[-1]
    assert positive and len(rows) > 200  # pi * 9**2 = 254 pixels
    assert seeds.hard_fg[state.labels[cy, cx]]
    assert len(Seeds.from_prompts(prompts, state, 3).pixel_seeds) == 2


def test_state_round_trip(engine, disc) -> None:
    state, gt = disc
    data = engine.state_to_bytes(state)
    assert isinstance(data, bytes) and len(data) > 0
    restored = engine.state_from_bytes(data)
    assert engine.state_nbytes(restored) == engine.state_nbytes(state) > 0
    prompts = Prompts(clicks=[Click(80, 60, True), Click(10, 10, False)])
    first = engine.predict(state, prompts)
    second = engine.predict(restored, prompts)
    np.testing.assert_array_equal(first.mask, second.mask)
    assert first.score == second.score


@pytest.mark.parametrize(
    "prompts",
    [
        Prompts(),
        Prompts(clicks=[Click(W, 10, True)]),
        Prompts(clicks=[Click(10, -1, True)]),
        Prompts(clicks=[Click(10, 10, True)], mask=np.zeros((H + 1, W), dtype=bool)),
        Prompts(box=(50, 50, 40, 60)),
        Prompts(box=(W + 5, 0, W + 50, 20)),
        Prompts(scribbles=[Scribble(np.array([[10.0, 10.0], [10.0, H + 3.0]]))]),
    ],
    ids=["empty", "x-out", "y-out", "mask-shape", "box-inverted", "box-out", "scribble-out"],
)
def test_unusable_prompts_raise(engine, disc, prompts) -> None:
    state, _ = disc
    with pytest.raises(ValueError):
        engine.predict(state, prompts)


def test_bad_image_raises(engine) -> None:
    with pytest.raises(ValueError):
        engine.prepare(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError):
        engine.prepare(np.zeros((10, 10, 3), dtype=np.float32))


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 100), (10, 5000), (3000, 4)])
def test_degenerate_image_shapes_are_answered(engine, shape: tuple[int, int]) -> None:
    """Tiny and extreme-aspect images: a mask of the image's size, a score in [0, 1],
    no warnings (numpy's "mean of empty slice" on a 1x1 image was one)."""
    h, w = shape
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = engine.prepare(image)
        first = engine.predict(state, Prompts(clicks=[Click(w // 2, h // 2, True)]))
        clicks = [Click(w // 2, h // 2, True), Click(0, 0, False)]
        again = engine.predict(state, Prompts(clicks=clicks, mask=first.mask))
    for out in (first, again):
        assert out.mask.shape == (h, w) and 0.0 <= out.score <= 1.0


def test_a_large_image_is_segmented_at_a_working_resolution_and_answered_in_full() -> None:
    image, gt = _disc_scene()
    # 6x the scene: 720x960 pixels, prepared at ~0.1 megapixels.
    big = np.repeat(np.repeat(image, 6, axis=0), 6, axis=1)
    big_gt = np.repeat(np.repeat(gt, 6, axis=0), 6, axis=1)
    engine = ClassicalEngine(max_megapixels=0.1)
    state = engine.prepare(big)
    assert state.image_shape == (720, 960)
    assert state.shape[0] * state.shape[1] <= 0.1e6 + 1000
    restored = engine.state_from_bytes(engine.state_to_bytes(state))
    assert restored.image_shape == (720, 960)
    first = engine.predict(restored, Prompts(clicks=[Click(480.0, 360.0, True)]))
    assert first.mask.shape == (720, 960) and first.mask.dtype == bool
    assert iou(first.mask, big_gt) > 0.9
    # A follow-up click with the full-size previous mask; a negative click far off.
    second = engine.predict(
        restored,
        Prompts(clicks=[Click(480.0, 360.0, True), Click(20.0, 20.0, False)], mask=first.mask),
    )
    assert second.mask.shape == (720, 960) and iou(second.mask, big_gt) > 0.9
    assert not second.mask[20, 20]


@pytest.mark.parametrize(
    "prompts",
    [
        Prompts(clicks=[Click(960.0, 10.0, True)]),  # inside the working size, not the image
        Prompts(box=(0.0, 0.0, 10.0, 10.0), mask=np.zeros((120, 160), dtype=bool)),
        Prompts(),
    ],
)
def test_a_large_image_checks_prompts_against_its_own_size(prompts: Prompts) -> None:
    image, _ = _disc_scene()
    big = np.repeat(np.repeat(image, 6, axis=0), 6, axis=1)
    engine = ClassicalEngine(max_megapixels=0.1)
    with pytest.raises(ValueError):
        engine.predict(engine.prepare(big), prompts)


def test_default_working_resolution_is_about_davis_size() -> None:
    # The pixel-valued options are tuned at 854x480: a 1280x720 frame is segmented at
    # about that size and answered at its own.
    rng = np.random.default_rng(5)
    image = rng.integers(0, 255, size=(720, 1280, 3), dtype=np.uint8)
    engine = ClassicalEngine()
    state = engine.prepare(image)
    h, w = state.shape
    assert h * w <= 0.41e6 and abs(w / h - 1280 / 720) < 0.01
    assert state.image_shape == (720, 1280)
    out = engine.predict(state, Prompts(clicks=[Click(x=640.0, y=360.0, positive=True)]))
    assert out.mask.shape == (720, 1280) and out.mask[360, 640]


def _spotted_scene() -> tuple[np.ndarray, np.ndarray]:
    """A white ellipse with a dark brown spot in its middle on a grey-brown ground: a
    click on the spot is a click on the object (a cow clicked on one of its patches)."""
    h, w = 240, 320
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.asarray((160, 150, 140), float) + rng.normal(0, 6, (h, w, 3))
    body = (yy - 120) ** 2 + ((xx - 160) / 1.3) ** 2 <= 70**2
    spot = (yy - 120) ** 2 + (xx - 160) ** 2 <= 20**2
    img[body] = (np.asarray((235, 230, 220), float) + rng.normal(0, 6, (h, w, 3)))[body]
    img[spot] = (np.asarray((110, 60, 30), float) + rng.normal(0, 6, (h, w, 3)))[spot]
    return np.clip(img, 0, 255).astype(np.uint8), body


def test_a_first_click_on_a_patch_learns_the_colours_around_it() -> None:
    """The first click's colour model also learns from an object-sized neighbourhood,
    so a click on a patch of a multi-coloured object segments the object; learning from
    the clicked patch alone (``first_click_spread=0``) stops at the patch's edge."""
    image, body = _spotted_scene()
    first = Prompts(clicks=[Click(160, 120, True)])
    default = ClassicalEngine()
    assert iou(body, default.predict(default.prepare(image), first).mask) > 0.9
    patch_only = ClassicalEngine(first_click_spread=0.0)
    assert iou(body, patch_only.predict(patch_only.prepare(image), first).mask) < 0.3
    # Later clicks (a previous mask exists) are not affected by the spread.
    later = Prompts(clicks=[Click(160, 120, True)], mask=np.zeros(body.shape, dtype=bool))
    a = default.predict(default.prepare(image), later).mask
    b = patch_only.predict(patch_only.prepare(image), later).mask
    assert np.array_equal(a, b)


def test_a_negative_click_clears_its_error_region_up_to_the_previous_boundary() -> None:
    """An object-coloured blob that touches the object but is not part of it: the
    previous mask took it in, and a negative click in its middle must clear all of it.
    The negative click's seed disk reaches the previous boundary; with the positive
    clicks' half-distance disk and trust floor a sixth of the blob stays."""
    image, gt = _disc_scene()
    yy, xx = np.mgrid[0:H, 0:W]
    blob = ((yy - 60) ** 2 + (xx - 128) ** 2 <= 20**2) & ~gt
    image[blob] = _texture(np.random.default_rng(7), (220, 130, 50), 12.0).clip(0, 255)[blob]
    prompts = Prompts(clicks=[Click(80, 60, True), Click(130, 60, False)], mask=gt | blob)
    default = ClassicalEngine()
    mask = default.predict(default.prepare(image), prompts).mask
    assert (mask & blob).sum() < 0.03 * blob.sum()
    assert iou(gt, mask) > 0.97
    as_positive = ClassicalEngine(negative_seed_scale=0.5, negative_trust_floor=0.3)
    mask = as_positive.predict(as_positive.prepare(image), prompts).mask
    assert (mask & blob).sum() > 0.1 * blob.sum()


def _shadow_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The disc with a notch the previous mask missed, on the side where a large
    background patch of nearly the disc's colour (a shadow, sand) touches it."""
    image, gt = _disc_scene()
    yy, xx = np.mgrid[0:H, 0:W]
    shadow = (xx >= 112) & (yy >= 20) & (yy < 100) & ~gt
    image[shadow] = _texture(np.random.default_rng(3), (200, 130, 55), 6.0).clip(0, 255)[shadow]
    notch = ((yy - 60) ** 2 + (xx - 110) ** 2 <= 8**2) & gt
    return image, gt, notch, shadow


def test_a_positive_click_that_floods_is_cut_again_with_less_geodesic_evidence() -> None:
    """A positive click on the missed notch grows geodesically into the look-alike
    patch next to it: the whole patch, 20 times the notch, is taken. The flood check
    sees a click adding far more than its distance to the previous mask squared and cuts
    again: the notch is fixed and the patch left alone."""
    image, gt, notch, shadow = _shadow_scene()
    prompts = Prompts(clicks=[Click(80, 60, True), Click(113, 60, True)], mask=gt & ~notch)
    mask = _predict_with(image, prompts)
    assert (mask & notch).sum() > 0.9 * notch.sum()
    assert (mask & shadow).sum() < 0.05 * shadow.sum()
    assert iou(gt, mask) > 0.97
    assert (_predict_with(image, prompts, flood_ratio=0.0) & shadow).sum() > 0.5 * shadow.sum()


def test_the_flood_check_cuts_once_when_a_click_stays_within_its_limit(disc, cuts) -> None:
    """A click deep inside a large missed part is far from the previous mask, so the
    part, however large, is within the limit: one cut, the part added whole. Negative
    clicks and first clicks are never checked."""
    state, gt = disc
    engine = ClassicalEngine()
    yy, xx = np.mgrid[0:H, 0:W]
    missed = gt & (xx > 80)
    prompts = Prompts(clicks=[Click(70, 60, True), Click(100, 60, True)], mask=gt & ~missed)
    mask = engine.predict(state, prompts).mask
    assert (mask & missed).sum() > 0.95 * missed.sum() and cuts == [engine.geodesic_weight]
    engine.predict(state, Prompts(clicks=[Click(70, 60, True)]))
    engine.predict(state, Prompts(clicks=[Click(20, 20, False)], mask=gt | (xx < 30)))
    assert len(cuts) == 3
    # The flood scene needs more than one cut, each with less geodesic evidence.
    image, gt, notch, _ = _shadow_scene()
    flood = Prompts(clicks=[Click(80, 60, True), Click(113, 60, True)], mask=gt & ~notch)
    engine.predict(engine.prepare(image), flood)
    assert len(cuts) > 4 and cuts[3] == engine.geodesic_weight and cuts[4] < cuts[3]


def _leg_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An orange disc with a thin dark leg ending in a hoof that stands on sand (a
    light, uniform patch along the bottom). The previous mask missed the lower leg and
    the hoof, so a click on the hoof lands 23 px from it, on a part 7 px wide."""
    rng = np.random.default_rng(5)
    img = _texture(rng, (90, 120, 90), 10.0)
    yy, xx = np.mgrid[0:H, 0:W]
    sand = yy >= 85
    img[sand] = _texture(rng, (205, 180, 130), 8.0)[sand]
    disc = (yy - 40) ** 2 + (xx - 80) ** 2 <= 25**2
    leg = (xx >= 77) & (xx <= 83) & (yy >= 60) & (yy <= 92)
    hoof = (yy - 98) ** 2 + (xx - 80) ** 2 <= 7**2
    img[disc] = _texture(rng, (220, 130, 50), 10.0)[disc]
    img[leg | hoof] = _texture(rng, (90, 50, 30), 8.0)[leg | hoof]
    gt = disc | leg | hoof
    missed = gt & ~(disc | (leg & (yy < 75)))
    return np.clip(img, 0, 255).astype(np.uint8), gt, missed, sand & ~gt


def test_a_far_click_on_a_thin_part_is_cut_without_its_seed_disk() -> None:
    """The seed disk of a click 23 px from the previous mask has an 11 px radius and
    covers the sand around the 7 px hoof: with it, a quarter of the sand is taken. The
    overshoot check cuts again without the disk, which adds far less, and keeps that:
    the leg and the hoof, and no sand."""
    image, gt, missed, sand = _leg_scene()
    prompts = Prompts(
        clicks=[Click(80, 40, True), Click(20, 20, False), Click(80, 98, True)],
        mask=gt & ~missed,
    )
    mask = _predict_with(image, prompts)
    assert (mask & missed).sum() > 0.95 * missed.sum()
    assert (mask & sand).sum() < 0.01 * sand.sum()
    assert iou(gt, mask) > 0.95
    assert (_predict_with(image, prompts, overshoot_ratio=0.0) & sand).sum() > 0.1 * sand.sum()


def test_the_overshoot_check_keeps_the_disk_of_wide_parts_and_early_clicks(disc, cuts) -> None:
    """A click 20 px inside a wide missed part is checked (two cuts) and the part is
    added whole; the same click as a session's second click, and a click nearer than
    ``overshoot_distance`` to the previous mask, are not checked (one cut each)."""
    state, gt = disc
    engine = ClassicalEngine()
    yy, xx = np.mgrid[0:H, 0:W]
    missed = gt & (xx > 80)
    third = [Click(70, 60, True), Click(150, 110, False), Click(100, 60, True)]
    mask = engine.predict(state, Prompts(clicks=third, mask=gt & ~missed)).mask
    assert (mask & missed).sum() > 0.95 * missed.sum() and len(cuts) == 2
    second = [third[0], third[2]]
    engine.predict(state, Prompts(clicks=second, mask=gt & ~missed))
    assert len(cuts) == 3
    near = [*third[:2], Click(90, 60, True)]
    engine.predict(state, Prompts(clicks=near, mask=gt & ~missed))
    assert len(cuts) == 4


def test_a_negative_click_keeps_no_large_additions(disc) -> None:
    """A negative click 5 px inside the previous mask may re-decide a boundary (a few
    hundred pixels here) but not add a region: a result that adds more than 20 times
    5 px squared to the previous mask keeps none of its additions."""
    state, gt = disc
    engine = ClassicalEngine()
    prompts = Prompts(clicks=[Click(80, 60, True), Click(110, 60, False)], mask=gt)
    seeds = Seeds.from_prompts(prompts, state, 3, engine.negative_seed_scale)
    assert seeds.prev_dist == pytest.approx(5.0, abs=0.5)
    cleared = gt & ~(np.mgrid[0:H, 0:W][1] >= 106)  # what the click removed
    small, large = np.zeros_like(gt), np.zeros_like(gt)
    small[5:20, 5:25] = True  # 300 px
    large[5:45, 5:45] = True  # 1600 px
    for added, kept in ((small, True), (large, False)):
        out = Prediction(mask=cleared | added, score=0.5, low_res_logits=None)
        mask = engine._without_growth(prompts, seeds, out).mask
        assert np.array_equal(mask, cleared | added if kept else cleared)
    unchecked = ClassicalEngine(negative_growth_ratio=0.0)
    out = Prediction(mask=cleared | large, score=0.5, low_res_logits=None)
    assert np.array_equal(unchecked._without_growth(prompts, seeds, out).mask, cleared | large)


def test_score_estimates_how_good_the_mask_is(engine, disc) -> None:
    """The score is an IoU estimate from how clearly the evidence decides the
    superpixels along the cut: a clean disc scores high, a blob of background texture
    grown from a click on the background scores low, and a disc cut by a negative click
    in between."""
    state, gt = disc
    clean = engine.predict(state, Prompts(clicks=[Click(80, 60, True)]))
    guess = engine.predict(state, Prompts(clicks=[Click(20, 20, True)]))
    cut = engine.predict(state, Prompts(clicks=[Click(80, 60, True), Click(95, 60, False)]))
    assert iou(gt, clean.mask) > 0.9 and iou(gt, guess.mask) < 0.1
    assert 0.8 < clean.score <= 1.0
    assert 0.0 <= guess.score < 0.6
    assert guess.score < cut.score < clean.score
