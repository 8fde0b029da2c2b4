"""The predict request schema, checked before anything is queued."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from formats.prompts import (
    MAX_CLICKS,
    MAX_SCRIBBLE_POINTS,
    PromptError,
    validate_engine,
    validate_prompts,
)
from tests.annotator.sample_images import box_mask, rle_of

W, H = 64, 48


def refused(body: Any, code: str | None = None) -> PromptError:
    with pytest.raises(PromptError) as caught:
        validate_prompts(body, W, H)
    if code is not None:
        assert caught.value.code == code, caught.value.message
    assert caught.value.message
    return caught.value


def test_it_accepts_clicks() -> None:
    prompts = validate_prompts(
        {
            "clicks": [
                {"x": 120.5 / 4, "y": 20, "positive": True, "t": 5.0},
                {"x": 0, "y": 0, "positive": False},
            ]
        },
        W,
        H,
    )
    first, second = prompts["clicks"]
    assert first == {"x": 30.125, "y": 20.0, "positive": True, "t": 5.0}
    assert (second["x"], second["y"], second["positive"]) == (0.0, 0.0, False)
    assert isinstance(second["t"], float) and second["t"] > 1e9  # stamped with the time now
    assert prompts["box"] is None and prompts["scribbles"] == [] and prompts["mask"] is None


def test_a_click_is_positive_by_default() -> None:
    assert validate_prompts({"clicks": [{"x": 1, "y": 2}]}, W, H)["clicks"][0]["positive"] is True


def test_it_accepts_a_box() -> None:
    assert validate_prompts({"box": [0, 0, W, H]}, W, H)["box"] == [0.0, 0.0, 64.0, 48.0]
    assert validate_prompts({"box": [1, 2, 1, 2]}, W, H)["box"] == [1.0, 2.0, 1.0, 2.0]


def test_it_accepts_scribbles() -> None:
    prompts = validate_prompts(
        {"scribbles": [{"points": [[1, 2], [3.5, 4]], "positive": False}, {"points": [(5, 6)]}]},
        W,
        H,
    )
    first, second = prompts["scribbles"]
    assert first["points"] == [[1.0, 2.0], [3.5, 4.0]] and first["positive"] is False
    assert second["points"] == [[5.0, 6.0]] and second["positive"] is True


def test_it_accepts_a_mask() -> None:
    rle = rle_of(box_mask(H, W, 1, 1, 10, 10))
    assert validate_prompts({"mask": rle}, W, H)["mask"] == rle


def test_it_accepts_everything_together() -> None:
    body = {
        "frame": 0,
        "engine": "auto",
        "clicks": [{"x": 5, "y": 5}],
        "box": [1, 1, 20, 20],
        "scribbles": [{"points": [[2, 2]]}],
        "mask": rle_of(np.zeros((H, W), dtype=bool)),
    }
    prompts = validate_prompts(body, W, H)
    assert set(prompts) == {"clicks", "box", "scribbles", "mask"}


def test_it_accepts_the_most_clicks_and_points_allowed() -> None:
    clicks = [{"x": 1, "y": 1}] * MAX_CLICKS
    assert len(validate_prompts({"clicks": clicks}, W, H)["clicks"]) == MAX_CLICKS
    points = [[1, 1]] * MAX_SCRIBBLE_POINTS
    assert (
        len(validate_prompts({"scribbles": [{"points": points}]}, W, H)["scribbles"][0]["points"])
        == MAX_SCRIBBLE_POINTS
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"clicks": []},
        {"clicks": None, "box": None, "scribbles": [], "mask": None},
        {"frame": 0},
    ],
)
def test_it_needs_a_prompt(body: dict[str, Any]) -> None:
    refused(body, "no_prompt")


@pytest.mark.parametrize("body", [None, [], "click", 3])
def test_the_body_must_be_an_object(body: Any) -> None:
    refused(body, "invalid_prompt")


@pytest.mark.parametrize(
    "body",
    [
        {"clicks": [{"x": W, "y": 0}]},
        {"clicks": [{"x": 0, "y": H}]},
        {"clicks": [{"x": -0.1, "y": 0}]},
        {"clicks": [{"x": 5, "y": 5}, {"x": 1000, "y": 5}]},
        {"box": [-1, 0, 10, 10]},
        {"box": [0, 0, W + 1, 10]},
        {"box": [0, 0, 10, H + 0.5]},
        {"scribbles": [{"points": [[1, 1], [W, 1]]}]},
        {"scribbles": [{"points": [[1, -1]]}]},
    ],
)
def test_it_refuses_prompts_outside_the_image(body: dict[str, Any]) -> None:
    refused(body, "prompt_outside_image")


@pytest.mark.parametrize(
    "body",
    [
        {"clicks": {"x": 1, "y": 1}},
        {"clicks": [[1, 1]]},
        {"clicks": [{"x": 1}]},
        {"clicks": [{"x": "1", "y": 1}]},
        {"clicks": [{"x": 1, "y": 1, "positive": "yes"}]},
        {"clicks": [{"x": 1, "y": 1, "positive": 1}]},
        {"clicks": [{"x": 1, "y": 1, "t": "now"}]},
        {"clicks": [{"x": 1, "y": 1}] * (MAX_CLICKS + 1)},
        {"box": [1, 2, 3]},
        {"box": "0,0,10,10"},
        {"box": [10, 0, 5, 5]},
        {"box": [0, 10, 5, 5]},
        {"box": [0, 0, "5", 5]},
        {"scribbles": {"points": [[1, 1]]}},
        {"scribbles": [[1, 1]]},
        {"scribbles": [{"points": []}]},
        {"scribbles": [{"points": [1, 2]}]},
        {"scribbles": [{"points": [[1, 2, 3]]}]},
        {"scribbles": [{"points": [[1]]}]},
        {"scribbles": [{"points": "1,1"}]},
        {"scribbles": [{}]},
        {"scribbles": [{"points": [[1, 1]], "positive": "no"}]},
        {"scribbles": [{"points": [[1, 1]] * (MAX_SCRIBBLE_POINTS + 1)}]},
        {"scribbles": [{"points": [[1, 1]]}] * 51},
    ],
)
def test_it_refuses_malformed_prompts(body: dict[str, Any]) -> None:
    refused(body, "invalid_prompt")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", ["click", "box", "scribble", "t"])
def test_it_refuses_non_finite_numbers(bad: float, where: str) -> None:
    body = {
        "click": {"clicks": [{"x": bad, "y": 1}]},
        "box": {"box": [0, 0, bad, 5]},
        "scribble": {"scribbles": [{"points": [[1, bad]]}]},
        "t": {"clicks": [{"x": 1, "y": 1, "t": bad}]},
    }[where]
    refused(body, "invalid_prompt")


@pytest.mark.parametrize(
    "body",
    [
        {"clicks": [{"x": True, "y": 1}]},
        {"clicks": [{"x": 1, "y": False}]},
        {"box": [0, 0, True, 5]},
        {"scribbles": [{"points": [[True, 1]]}]},
        {"clicks": [{"x": 1, "y": 1, "t": True}]},
    ],
)
def test_booleans_are_not_numbers(body: dict[str, Any]) -> None:
    refused(body, "invalid_prompt")


@pytest.mark.parametrize(
    ("mask", "code"),
    [
        (rle_of(box_mask(H + 1, W, 1, 1, 5, 5)), "mask_size_mismatch"),
        (rle_of(box_mask(W, H, 1, 1, 5, 5)), "mask_size_mismatch"),
        ({"size": [H, W], "counts": "garbage!"}, "invalid_rle"),
        ({"size": [H, W]}, "invalid_mask"),
        ("mask", "invalid_mask"),
    ],
)
def test_it_refuses_bad_masks(mask: Any, code: str) -> None:
    error = refused({"mask": mask}, code)
    assert error.message.startswith("mask:")


@pytest.mark.parametrize("engine", [None, "auto", "sam", "classical"])
def test_validate_engine_accepts(engine: str | None) -> None:
    assert validate_engine(engine) == (engine or "auto")


@pytest.mark.parametrize("engine", ["", "SAM", "gpt", 1, True, ["sam"]])
def test_validate_engine_rejects(engine: Any) -> None:
    with pytest.raises(PromptError) as caught:
        validate_engine(engine)
    assert caught.value.code == "unknown_engine"
