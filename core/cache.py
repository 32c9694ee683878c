"""One content key for every derived result, atomic file writes, and the user cache folder.

A result (latents, a map, an evaluation, a Streamlit cache entry) is keyed by what it depends
on: array bytes, a file's SHA-256, a folder's (relative path, size, mtime) listing, a built-in
dataset's name and version, a checkpoint's weights hash, and the parameters. Change any input
and the key changes, so nothing stale is ever served. Imports neither torch nor streamlit.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

import numpy as np

from core.errors import DatasetError, StorageError

# Latents of datasets other than a checkpoint's own go here, not into the (versioned) checkpoint folder.
USER_CACHE = Path(os.environ.get("LATENT_EXPLORER_CACHE", Path.home() / ".cache" / "latent-explorer"))
KEY_CHARS = 16  # hex digits of a key: 64 bits, plenty for one user's caches
# The one rule for a name that becomes a folder or a file-name part: never a path, never hidden, never odd bytes.
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_safe_name(name: object) -> bool:
    """Whether ``name`` obeys NAME_RULE: 1-64 ASCII letters, digits, '.', '_' or '-', led by a letter or digit."""
    return isinstance(name, str) and NAME_RULE.fullmatch(name) is not None


def safe_name(text: str, max_len: int = 64) -> str:
    """``text`` as a file-name part: every character outside NAME_RULE's ('.', '_', '-', ASCII letters and digits)
    becomes '-', cut to ``max_len``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:max_len]


def content_key(kind: str, version: int, **inputs) -> str:
    """A short hex key of ``kind``, its format ``version`` and every named input (order-free).

    Inputs may be arrays or tensors (their dtype, shape and bytes are hashed), bytes, or any
    JSON value (str, number, bool, None, and lists / dicts of them).
    """
    h = hashlib.sha256(json.dumps([kind, version]).encode())
    for name in sorted(inputs):
        h.update(b"\0" + name.encode() + b"\0")
        h.update(_digest(inputs[name]))
    return h.hexdigest()[:KEY_CHARS]


def _digest(value) -> bytes:
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        head = json.dumps([str(a.dtype), list(a.shape)]).encode()
        return hashlib.sha256(head + a.tobytes()).digest()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(value)).digest()
    if isinstance(value, os.PathLike):
        raise TypeError("content_key: hash a file by file_sha256() or folder_listing(), not by its path")
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=_json_scalar).encode()).digest()


def _json_scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"content_key cannot hash a {type(v).__name__}")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_LISTED = 500_000  # files in one listing: a bigger folder is refused, not walked to the end


def folder_listing(path: str | os.PathLike, max_files: int = MAX_LISTED) -> list[tuple[str, int, int]]:
    """Sorted (relative path, size, mtime in ns) of every file under a folder: changes when any file does.

    Symlinks are not followed (os.walk's default), so the walk stays inside the folder.
    """
    root = Path(path)
    out = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            try:
                st = p.stat(follow_symlinks=False)
            except OSError:
                continue
            out.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
            if len(out) > max_files:
                raise DatasetError(f"folder {root} holds more than {max_files:,} files: too many to read")
    return sorted(out)


def file_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """(size, mtime in ns) of a file: a cheap test of "changed since", not a content hash."""
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_reason(e: OSError, where: str | os.PathLike) -> str:
    """Why a write under ``where`` failed, in a few plain words: "no space left on device (1.2 MB free)"."""
    if isinstance(e, StorageError):
        return e.reason
    reason = e.strerror or str(e) or type(e).__name__
    reason = reason[:1].lower() + reason[1:]
    if e.errno == errno.ENOSPC:  # (a quota's limit is not the disk's free space: not shown)
        for folder in (Path(where), *Path(where).parents):  # the nearest folder that exists tells the free space
            try:
                return f"{reason} ({shutil.disk_usage(folder).free / 1e6:,.1f} MB free)"
            except OSError:
                continue
    return reason


def storage_error(what: str, e: OSError, where: str | os.PathLike) -> StorageError:
    """The one-line StorageError for a failed write: "could not save WHAT: REASON"."""
    if isinstance(e, StorageError):
        return e
    reason = storage_reason(e, where)
    return StorageError(f"could not save {what}: {reason}", reason, e.errno)


class _Writer:
    """A file's ``write`` that turns an OSError into StorageError (a source's own read error passes unchanged)."""

    def __init__(self, f: BinaryIO, what: str, where: Path):
        self._f, self._what, self._where = f, what, where

    def write(self, data: bytes) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            raise storage_error(self._what, e, self._where) from e


@contextmanager
def atomic_file(path: str | os.PathLike, what: str | None = None) -> Iterator[_Writer]:
    """Write a file (making its folder) through a temporary file renamed over it when the block ends, so readers
    see the old or the new content, never a mix. Every storage failure (full disk, quota, read-only or forbidden
    folder) raises StorageError "could not save WHAT: REASON" in one line, keeps the old file and leaves no
    temporary file. With ``write_bytes`` and ``append_bytes``, the way core writes files."""
    path = Path(path)
    what = what or path.name
    tmp = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as e:
            raise storage_error(what, e, path.parent) from e
        f = os.fdopen(fd, "wb")
        try:
            yield _Writer(f, what, path.parent)
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                raise storage_error(what, e, path.parent) from e
        finally:
            with suppress(OSError):  # after a failed write, closing tries the same write again: it was reported
                f.close()
        try:
            os.chmod(tmp, 0o644)  # mkstemp makes 0600: a cache file should be as readable as any file
            os.replace(tmp, path)
            tmp = None
            fsync_dir(path.parent)
        except OSError as e:
            raise storage_error(what, e, path.parent) from e
    finally:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, what: str | None = None) -> None:
    """Write ``data`` to ``path`` by ``atomic_file``: the old or the new content, never a mix; StorageError in one
    line when the disk is full or the folder read-only."""
    with atomic_file(path, what) as f:
        f.write(data)


def write_bytes(path: str | os.PathLike, data: bytes, what: str | None = None) -> None:
    """Write a file inside a temporary folder that is renamed whole once complete (so no temporary file of its
    own, no sync per file); StorageError in one line when the disk is full or the folder read-only."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        raise storage_error(what or path.name, e, path.parent) from e


def append_bytes(path: str | os.PathLike, data: bytes, what: str | None = None) -> None:
    """Append ``data`` to a log-like file in one write (making its folder); StorageError in one line on failure.

    A reader of such a file skips a cut last line, so an append need not be atomic."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(data)
    except OSError as e:
        raise storage_error(what or path.name, e, path.parent) from e
