"""The worker side of prediction: prompt conversion and the logits kept for refinement."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from annotator.models import Asset
from formats.rle import encode_mask
from workers.runtime.predict import prompts_from_json, remember, remember_logits, run_prediction


def predict_for_asset(
    asset_id: int, frame: int, engine: str, prompts: dict[str, Any], checksum: str | None = None
) -> dict[str, Any]:
    """What the predict task does, without the reply list: run, then remember."""
    payload, memo = run_prediction(asset_id, frame, engine, prompts, checksum)
    remember(memo)
    return payload


def test_logits_are_found_again_only_for_the_same_asset_frame_and_engine() -> None:
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:10, 5:15] = True
    rle = encode_mask(mask)
    logits = np.full((1, 256, 256), 3.0, dtype=np.float32)
    remember_logits("7:0:sam-a", rle, logits)
    body = {"clicks": [{"x": 6.0, "y": 6.0, "positive": True}], "mask": rle}
    same = prompts_from_json(body, "7:0:sam-a")
    assert same.logits is logits
    assert np.array_equal(same.mask, mask)
    assert prompts_from_json(body, "8:0:sam-a").logits is None
    assert prompts_from_json(body, "7:0:classical-v1").logits is None


def test_prompts_keep_order_sign_box_and_scribbles() -> None:
    prompts = prompts_from_json(
        {
            "clicks": [{"x": 1.5, "y": 2.0, "positive": True}, {"x": 3, "y": 4, "positive": False}],
            "box": [0, 0, 10, 10],
            "scribbles": [{"points": [[1, 1], [2, 2]], "positive": False}],
        }
    )
    assert [(c.x, c.y, c.positive) for c in prompts.clicks] == [(1.5, 2.0, True), (3, 4, False)]
    assert prompts.box == (0, 0, 10, 10)
    assert prompts.scribbles[0].points.shape == (2, 2) and not prompts.scribbles[0].positive


@pytest.mark.django_db
def test_a_cached_state_is_found_by_checksum_without_a_query(
    team: dict[str, Any], upload_image: Any, django_assert_num_queries: Any
) -> None:
    response = upload_image(team["owner"], team["project"].pk)
    asset = Asset.objects.get(pk=response.json()["id"])
    body = {"clicks": [{"x": 5.0, "y": 5.0, "positive": True}]}
    first = predict_for_asset(asset.pk, 0, "classical", body, asset.checksum)
    with django_assert_num_queries(0):
        again = predict_for_asset(asset.pk, 0, "classical", body, asset.checksum)
    assert again["embedding"] == "memory" and again["mask"] == first["mask"]
    with django_assert_num_queries(1):  # without it, the worker reads the checksum
        predict_for_asset(asset.pk, 0, "classical", body)


@pytest.mark.django_db
def test_a_missing_asset_is_reported_even_with_a_checksum() -> None:
    with pytest.raises(Asset.DoesNotExist):
        predict_for_asset(987654321, 0, "classical", {"clicks": []}, "0" * 64)


@pytest.mark.django_db
def test_clicks_without_the_previous_mask_are_refined_from_the_remembered_one(
    team: dict[str, Any], upload_image: Any, redis_server: str
) -> None:
    response = upload_image(team["owner"], team["project"].pk)
    asset = Asset.objects.get(pk=response.json()["id"])
    first_click = {"x": 5.0, "y": 5.0, "positive": True, "t": 1.0}
    second_click = {"x": 30.0, "y": 20.0, "positive": False, "t": 2.0}

    def run(clicks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return predict_for_asset(asset.pk, 0, "classical", {"clicks": clicks, **extra})

    first = run([first_click])
    assert first["previous_mask"] == "none"
    # The same first click (another timestamp) plus a new one, no mask: the first result
    # is found again and refined, exactly as if the client had sent it.
    remembered = run([{**first_click, "t": 9.0}, second_click])
    assert remembered["previous_mask"] == "remembered"
    sent = run([first_click, second_click], mask=first["mask"])
    assert sent["previous_mask"] == "sent" and sent["mask"] == remembered["mask"]
    # Another first click: nothing to remember for that sequence.
    assert run([{"x": 50.0, "y": 5.0, "positive": True}, second_click])["previous_mask"] == "none"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "multimask"),
    [
        ({"clicks": [{"x": 64, "y": 48, "positive": True}]}, True),
        (
            {
                "clicks": [
                    {"x": 64, "y": 48, "positive": True},
                    {"x": 8, "y": 8, "positive": False},
                ],
                "box": [30, 20, 100, 80],
            },
            False,
        ),
    ],
    ids=["one-click", "clicks-and-box"],
)
def test_the_predict_path_gives_segment_anythings_own_mask(
    team: dict[str, Any],
    settings: Any,
    tiny_sam_checkpoint: Any,
    body: dict[str, Any],
    multimask: bool,
) -> None:
    """Through the whole worker-side path (the API's prompt schema, the engine pool, the
    embedding cache, the RLE answer), SAM's mask is exactly raw ``SamPredictor``'s on the
    same weights, image and prompts (one click: the best of its three masks)."""
    import io
    import uuid

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image
    from segment_anything import SamPredictor

    from annotator.services.assets import ingest_upload
    from formats.prompts import validate_prompts
    from formats.rle import decode_mask
    from workers.runtime import engine_pool

    settings.SAM_CHECKPOINT, settings.SAM_MODEL_TYPE = str(tiny_sam_checkpoint), "tiny"
    engine_pool._engines.clear()
    engine_pool._caches.clear()
    try:
        rng = np.random.default_rng(3)
        image = (rng.random((96, 128, 3)) * 60).astype(np.uint8)
        image[24:72, 32:96] += 150  # a bright object
        # A checksum of its own: no state stored (as float16) by an earlier run is found.
        image[0, :16] = np.frombuffer(uuid.uuid4().bytes, dtype=np.uint8)[:, None]
        png = io.BytesIO()
        Image.fromarray(image).save(png, format="PNG")
        asset = ingest_upload(
            team["project"], SimpleUploadedFile("o.png", png.getvalue()), team["owner"]
        )
        prompts = validate_prompts(body, 128, 96)
        answer = predict_for_asset(asset.pk, 0, "sam", prompts)

        predictor = SamPredictor(engine_pool.get_engine("sam").model)  # type: ignore[attr-defined]
        predictor.set_image(image)
        clicks = prompts["clicks"]
        masks, scores, _ = predictor.predict(
            point_coords=np.array([[c["x"], c["y"]] for c in clicks], dtype=np.float64),
            point_labels=np.array([int(c["positive"]) for c in clicks]),
            box=np.array(prompts["box"], dtype=np.float64) if prompts["box"] else None,
            multimask_output=multimask,
        )
        expected = masks[int(np.argmax(scores))]
        assert 0 < expected.sum() < expected.size  # SAM's own answer is not trivial
        assert answer["engine"] == "sam" and answer["embedding"] == "computed"
        np.testing.assert_array_equal(decode_mask(answer["mask"]), expected)
    finally:
        engine_pool._engines.clear()
        engine_pool._caches.clear()
