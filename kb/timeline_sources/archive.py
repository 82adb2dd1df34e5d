"""The files of an upload or an export: one file, several files with their paths (a folder
chosen in the browser), a zip, or a folder on disk. Reading is bounded: at most
`Limits.files` files, and at most `Limits.unpacked` bytes read in all, whatever a zip's
directory claims (a zip bomb stops at the limit, never in memory)."""

import io
import posixpath
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from kb.timeline_sources.entries import SourceError

DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
)


@dataclass(frozen=True)
class Limits:
    """How much one import may read: the upload, the files in it, the bytes unpacked."""

    upload: int = 25 * 1024 * 1024
    unpacked: int = 50 * 1024 * 1024
    files: int = 5000


def _clean(name):
    """A member's path, relative and with '/' separators; None for one that climbs out."""
    name = name.replace("\\", "/").lstrip("/")
    normal = posixpath.normpath(name) if name else ""
    if not normal or normal == "." or normal.startswith("../") or normal == "..":
        return None
    return normal


class Export:
    """Named files, read one at a time within the limits."""

    def __init__(self, sizes, opener, limits, label):
        if len(sizes) > limits.files:
            raise SourceError(
                f"{label} holds {len(sizes):,} files; at most {limits.files:,} can be read"
            )
        self._sizes, self._open, self.limits, self.label = sizes, opener, limits, label
        self.read_bytes = 0

    @property
    def names(self):
        """Every file's path, sorted."""
        return sorted(self._sizes)

    def size(self, name):
        """A file's size as listed (a zip's directory says it; reading checks it)."""
        return self._sizes[name]

    def read(self, name):
        """The bytes of one file, counted against the unpacked limit."""
        left = self.limits.unpacked - self.read_bytes
        if self._sizes[name] > left:
            raise self._too_much()
        data = self._open(name, left + 1)
        if len(data) > left:  # a zip's directory may understate a member's size
            raise self._too_much()
        self.read_bytes += len(data)
        return data

    def _too_much(self):
        return SourceError(
            f"{self.label} unpacks to more than {self.limits.unpacked // (1024 * 1024):,} MiB"
            " for this window: export fewer channels or fewer days"
        )


def from_files(files, limits):
    """An Export of uploaded (name, bytes) pairs: a zip when it is one file that is a zip."""
    if len(files) == 1 and zipfile.is_zipfile(io.BytesIO(files[0][1])):
        return from_zip(files[0][1], limits, files[0][0])
    contents = {}
    for name, data in files:
        clean = _clean(name)
        if clean is not None:
            contents[clean] = data
    label = files[0][0] if len(files) == 1 else "the folder"
    return Export({n: len(d) for n, d in contents.items()}, _slicer(contents), limits, label)


def _slicer(contents):
    return lambda name, most: contents[name][:most]


def from_zip(data, limits, label="the zip"):
    """An Export of a zip's files (folders and unsafe paths left out)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except DAMAGED as exc:
        raise SourceError(f"{label} is not a readable zip ({exc})") from None
    if len(infos) > limits.files:
        raise SourceError(f"{label} holds {len(infos):,} files; at most {limits.files:,}")
    members = {}
    for info in infos:
        clean = _clean(info.filename)
        if clean is not None and not info.is_dir():
            members[clean] = info

    def opener(name, most):
        info = members[name]
        if info.flag_bits & 0x1:
            raise SourceError(f"{name} in {label} is encrypted")
        try:
            with archive.open(info) as member:
                return member.read(most)
        # A damaged or unsupported member fails in any of these ways inside zipfile (a negative
        # seek is a ValueError, a short header a struct.error): a refusal, never a server error.
        except DAMAGED:
            raise SourceError(f"{name} in {label} cannot be unpacked") from None

    sizes = {name: info.file_size for name, info in members.items()}
    return Export(sizes, opener, limits, label)


def from_folder(path, limits):
    """An Export of a folder on disk (or of the zip at `path`)."""
    path = Path(path)
    if path.is_file():
        return from_files([(path.name, path.read_bytes())], limits)
    files = [p for p in sorted(path.rglob("*")) if p.is_file()]
    if len(files) > limits.files:
        raise SourceError(f"{path} holds {len(files):,} files; at most {limits.files:,}")
    sizes = {p.relative_to(path).as_posix(): p.stat().st_size for p in files}

    def opener(name, most):
        with open(path / name, "rb") as handle:
            return handle.read(most)

    return Export(sizes, opener, limits, str(path))
