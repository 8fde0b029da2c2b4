"""Checkpoint table, verification and download (offline: file:// URLs, fake openers)."""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from workers.engines import sam_checkpoints as ck
from workers.engines.sam_checkpoints import (
    OFFICIAL_CHECKPOINTS,
    ChecksumMismatch,
    DownloadError,
    OfficialCheckpoint,
    download_checkpoint,
    verify_checkpoint,
)

PAYLOAD = b"pretend these are SAM weights\n" * 100_000  # ~3 MB: several 1 MiB chunks


def test_official_table() -> None:
    assert set(OFFICIAL_CHECKPOINTS) == {"vit_b", "vit_l", "vit_h"}
    for model_type, entry in OFFICIAL_CHECKPOINTS.items():
        assert entry.model_type == model_type
        assert entry.filename == f"sam_{model_type}_{entry.md5_prefix}.pth"
        assert entry.url == f"https://dl.fbaipublicfiles.com/segment_anything/{entry.filename}"
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert re.fullmatch(r"[0-9a-f]{6}", entry.md5_prefix)


@pytest.fixture
def fake_official(monkeypatch: pytest.MonkeyPatch) -> OfficialCheckpoint:
    """Make "vit_b" an official checkpoint whose bytes are PAYLOAD."""
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    entry = OfficialCheckpoint(
        "vit_b",
        f"sam_vit_b_{md5[:6]}.pth",
        md5_prefix=md5[:6],
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
    )
    monkeypatch.setitem(OFFICIAL_CHECKPOINTS, "vit_b", entry)
    return entry


def test_verify_checkpoint(tmp_path: Path, fake_official: OfficialCheckpoint) -> None:
    good = tmp_path / "good.pth"
    good.write_bytes(PAYLOAD)
    assert verify_checkpoint(good, "vit_b") == fake_official.sha256
    bad = tmp_path / "bad.pth"
    bad.write_bytes(PAYLOAD[:-1])  # truncated
    with pytest.raises(ChecksumMismatch, match="not the official vit_b"):
        verify_checkpoint(bad, "vit_b")
    # Unknown/custom types are hashed, never rejected.
    assert verify_checkpoint(bad, "tiny") == hashlib.sha256(PAYLOAD[:-1]).hexdigest()
    with pytest.raises(FileNotFoundError):
        verify_checkpoint(tmp_path / "missing.pth", "tiny")


def test_real_official_digests_reject_other_bytes(tmp_path: Path) -> None:
    path = tmp_path / "sam_vit_h_4b8939.pth"
    path.write_bytes(b"definitely not vit_h")
    with pytest.raises(ChecksumMismatch):
        verify_checkpoint(path, "vit_h")


def _no_leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_download_from_file_url(tmp_path: Path, fake_official: OfficialCheckpoint) -> None:
    source = tmp_path / "mirror.pth"
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "weights"
    path = download_checkpoint("vit_b", dest, url=source.as_uri())
    assert path == dest / fake_official.filename
    assert path.read_bytes() == PAYLOAD
    assert _no_leftovers(dest) == [fake_official.filename]


def test_download_with_injected_opener(tmp_path: Path, fake_official: OfficialCheckpoint) -> None:
    requested: list[str] = []

    def opener(url: str, timeout: float) -> Any:
        requested.append(url)
        return io.BytesIO(PAYLOAD)

    path = download_checkpoint("vit_b", tmp_path, urlopen=opener)
    assert requested == [fake_official.url]
    assert path.read_bytes() == PAYLOAD
    # A second call finds the verified file and does not download again.
    assert download_checkpoint("vit_b", tmp_path, urlopen=opener) == path
    assert len(requested) == 1


def test_download_checksum_mismatch_leaves_nothing(
    tmp_path: Path, fake_official: OfficialCheckpoint
) -> None:
    with pytest.raises(ChecksumMismatch):
        download_checkpoint("vit_b", tmp_path, urlopen=lambda url, timeout: io.BytesIO(b"evil"))
    assert _no_leftovers(tmp_path) == []


def test_download_replaces_corrupt_existing_file(
    tmp_path: Path, fake_official: OfficialCheckpoint
) -> None:
    (tmp_path / fake_official.filename).write_bytes(b"half a file")
    path = download_checkpoint("vit_b", tmp_path, urlopen=lambda url, timeout: io.BytesIO(PAYLOAD))
    assert path.read_bytes() == PAYLOAD


def test_no_network_is_a_clear_error(tmp_path: Path) -> None:
    def offline(url: str, timeout: float) -> Any:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    with pytest.raises(DownloadError, match="SAM_CHECKPOINT"):
        download_checkpoint("vit_h", tmp_path, urlopen=offline)
    assert _no_leftovers(tmp_path) == []


def test_interrupted_download(tmp_path: Path, fake_official: OfficialCheckpoint) -> None:
    class Flaky(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("peer reset")
            return super().read(n)

    with pytest.raises(DownloadError, match="interrupted"):
        download_checkpoint("vit_b", tmp_path, urlopen=lambda url, timeout: Flaky(PAYLOAD))
    assert _no_leftovers(tmp_path) == []


def test_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no official checkpoint"):
        download_checkpoint("tiny", tmp_path)


def test_digests_single_pass(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(PAYLOAD)
    assert ck.checkpoint_digests(path) == (
        hashlib.sha256(PAYLOAD).hexdigest(),
        hashlib.md5(PAYLOAD).hexdigest(),
    )
