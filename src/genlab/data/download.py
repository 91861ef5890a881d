"""Download a file with a SHA-256 check: stream to a temporary file, verify, then rename atomically."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from genlab.errors import GenlabError

TIMEOUT_SECONDS = 60.0  # per blocking network operation, not for the whole download
CHUNK_BYTES = 1 << 20
_downloads_blocked = contextvars.ContextVar("genlab_downloads_blocked", default=False)


def downloads_allowed() -> bool:
    """False when `GENLAB_OFFLINE` is set (to anything but 0/false) or inside `downloads_disabled()`."""
    offline = os.environ.get("GENLAB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")
    return not (offline or _downloads_blocked.get())


@contextlib.contextmanager
def downloads_disabled() -> Iterator[None]:
    """Within this block loaders never download (used when listing datasets)."""
    token = _downloads_blocked.set(True)
    try:
        yield
    finally:
        _downloads_blocked.reset(token)


def sha256_of(path: str | Path) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, destination: str | Path, sha256: str, progress: bool = True) -> Path:
    """Download `url` to the file `destination`, which appears only once its SHA-256 matches."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    temporary = Path(temporary_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as output:
            request = urllib.request.Request(url, headers={"User-Agent": "genlab"})
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    with tqdm(
                        total=total, unit="B", unit_scale=True, desc=destination.name, disable=not progress, leave=False
                    ) as bar:
                        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                            output.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
                if isinstance(error, urllib.error.HTTPError):
                    error.close()  # it holds the response's socket
                    reason = error  # "HTTP Error 404: Not Found"
                else:
                    reason = getattr(error, "reason", None) or error
                raise GenlabError(
                    f"could not download {url} ({reason}); check the network, or download it by hand to {destination}"
                ) from None
        if digest.hexdigest() != sha256.lower():
            raise GenlabError(
                f"{url}: SHA-256 {digest.hexdigest()} does not match the expected {sha256}; "
                f"the download was deleted, try again later or another mirror"
            )
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def fetch_first(
    mirrors: list[str], filename: str, destination: str | Path, sha256: str, progress: bool = True, hint: str = ""
) -> Path:
    """Download `filename` to the file `destination` from the first base URL in `mirrors` that serves it intact.

    `hint` (how to get the file by hand) is added to the error when every mirror fails.
    """
    if not mirrors:
        raise ValueError(f"no mirrors given for {filename}")
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            return download_file(url, destination, sha256, progress=progress)
        except GenlabError as error:
            failures.append(str(error).split("; ")[0])
    manual = hint or f"download {filename} by hand to {destination}"
    raise GenlabError(f"every mirror failed: {' | '.join(failures)}; {manual}")
