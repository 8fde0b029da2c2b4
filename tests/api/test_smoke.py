from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from tests.annotator.sample_images import box_mask, rle_of


@pytest.mark.django_db
def test_owner_uploads_and_annotates(
    team: dict[str, Any], client_for: Any, upload_image: Any
) -> None:
    response = upload_image(team["owner"], team["project"].pk)
    assert response.status_code == 201, response.content
    asset = response.json()
    assert asset["width"] == 64 and asset["height"] == 48 and asset["kind"] == "image"
    client = client_for(team["owner"])
    image = client.get(f"/api/assets/{asset['id']}/frames/0/image")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"

    # A 20x12 box at x 10..29, y 5..16, plus one lone pixel at (x 50, y 40).
    mask = box_mask(48, 64, 10, 5, 30, 17)
    mask[40, 50] = True
    rle = rle_of(mask)
    url = f"/api/assets/{asset['id']}/annotations/"
    created = client.post(
        url, {"frame": 0, "label": team["label"].pk, "mask": rle, "source": "manual"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["asset"], body["frame"], body["label"]) == (asset["id"], 0, team["label"].pk)
    assert body["mask"] == rle
    assert body["area"] == 20 * 12 + 1 == int(mask.sum())
    assert body["bbox"] == [10.0, 5.0, 41.0, 36.0]  # [x, y, w, h] around box and pixel
    assert (body["author"], body["version"], body["review_status"]) == ("owner", 1, "pending")

    listed = client_for(team["viewer"]).get(url, {"frame": 0})
    assert listed.status_code == 200, listed.content
    page = listed.json()
    assert page["count"] == 1
    (stored,) = page["results"]
    assert stored["id"] == body["id"]
    assert (stored["area"], stored["bbox"], stored["mask"]) == (241, [10.0, 5.0, 41.0, 36.0], rle)
    decoded = mask_utils.decode(
        {"size": stored["mask"]["size"], "counts": stored["mask"]["counts"]}
    )
    assert np.array_equal(decoded.astype(bool), mask)

    # The image has one frame: nothing is on any other.
    other_frame = client.get(url, {"frame": 1})
    assert other_frame.status_code == 200 and other_frame.json()["count"] == 0
