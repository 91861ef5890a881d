"""download_file / fetch_first against a loopback HTTP server."""

import hashlib

import pytest

from genlab.data.download import download_file, downloads_allowed, downloads_disabled, fetch_first
from genlab.errors import GenlabError

CONTENT = b"genlab test payload " * 1000
CONTENT_SHA256 = hashlib.sha256(CONTENT).hexdigest()


def test_download_checks_hash_and_leaves_only_the_file(tmp_path, http_folder):
    base_url, served = http_folder
    (served / "payload.bin").write_bytes(CONTENT)
    target = tmp_path / "out" / "payload.bin"
    assert download_file(base_url + "payload.bin", target, CONTENT_SHA256, progress=False) == target
    assert target.read_bytes() == CONTENT
    assert [path.name for path in target.parent.iterdir()] == ["payload.bin"]


def test_hash_mismatch_deletes_the_download(tmp_path, http_folder):
    base_url, served = http_folder
    (served / "payload.bin").write_bytes(CONTENT + b"tampered")
    target = tmp_path / "out" / "payload.bin"
    with pytest.raises(GenlabError, match="does not match the expected") as caught:
        download_file(base_url + "payload.bin", target, CONTENT_SHA256, progress=False)
    assert "\n" not in str(caught.value)
    assert list(target.parent.iterdir()) == []


def test_missing_url_and_closed_port_say_how_to_get_it(tmp_path, http_folder):
    base_url, _ = http_folder
    with pytest.raises(GenlabError, match="could not download .*by hand"):
        download_file(base_url + "absent.bin", tmp_path / "absent.bin", CONTENT_SHA256, progress=False)
    with pytest.raises(GenlabError, match="could not download"):
        download_file("http://127.0.0.1:9/absent.bin", tmp_path / "absent.bin", CONTENT_SHA256, progress=False)
    assert list(tmp_path.glob("*.part")) == [] and list(tmp_path.glob(".*")) == []


def test_fetch_first_falls_through_to_a_working_mirror(tmp_path, http_folder):
    base_url, served = http_folder
    (served / "good").mkdir()
    (served / "good" / "payload.bin").write_bytes(CONTENT)
    mirrors = [base_url + "missing/", base_url + "good"]
    target = fetch_first(mirrors, "payload.bin", tmp_path / "payload.bin", CONTENT_SHA256, progress=False)
    assert target.read_bytes() == CONTENT
    with pytest.raises(GenlabError, match="every mirror failed.*put it there yourself"):
        fetch_first([base_url + "nope/"], "payload.bin", tmp_path / "x", CONTENT_SHA256, hint="put it there yourself")


def test_offline_switches(monkeypatch):
    monkeypatch.setenv("GENLAB_OFFLINE", "0")
    assert downloads_allowed()
    with downloads_disabled():
        assert not downloads_allowed()
    assert downloads_allowed()
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    assert not downloads_allowed()
