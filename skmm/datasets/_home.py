"""Where real data sets live (the data home) and how missing files are fetched."""

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path


def get_data_home(data_home=None):
    """Return the data home: ``data_home``, else ``$SKMM_DATA``, else ``~/skmm_data``.

    Examples
    --------
    >>> from skmm.datasets import get_data_home
    >>> str(get_data_home("/tmp/x"))
    '/tmp/x'
    """
    if data_home is None:
        data_home = os.environ.get("SKMM_DATA") or os.path.join("~", "skmm_data")
    return Path(os.path.expanduser(os.fspath(data_home)))


def sha256_of(paths):
    """sha256 of the concatenated bytes of ``paths`` (in the given order)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def fetch_file(url, target, sha256, what):
    """Download ``url`` to ``target`` atomically and verify its sha256.

    Raises OSError with the data home, the file and the URL when offline, and
    ValueError when the checksum differs (the partial file is removed).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    os.close(fd)
    try:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise OSError(
                f"Could not download {what} from {url} into '{target}' ({exc}). If this machine "
                f"is offline, copy the file there by hand, or point SKMM_DATA (or data_home=) "
                "at a folder that has it."
            ) from exc
        got = sha256_of([tmp])
        if sha256 is not None and got != sha256:
            raise ValueError(
                f"Checksum mismatch for {what} downloaded from {url}: expected sha256 {sha256}, "
                f"got {got}. The download is corrupt or the source changed; try again."
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def missing_data_error(what, folder, files, hint=""):
    """The error raised when files are absent and download_if_missing=False."""
    listed = ", ".join(str(f) for f in files[:3])
    return OSError(
        f"{what} not found in the data home '{folder}' (looked for {listed}). Pass "
        f"download_if_missing=True to fetch it, or set SKMM_DATA / data_home= to a folder that "
        f"holds it.{hint}"
    )
