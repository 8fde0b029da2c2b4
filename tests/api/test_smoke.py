from typing import Any

import pytest


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
