"""Files attached to postmortems: graphs, log excerpts, the original of an imported write-up.

Kept in the database, so every server of a deployment and every backup has them, and read
through the same visibility rule as their postmortem. The type is read from the content,
never from the name; only types a browser shows safely are kept.
"""

import hashlib
import re
import unicodedata

from sqlmodel import select

from kb.models import Attachment

# (magic bytes at the start, content type): the types Hindsight keeps.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")  # shown inline
TEXT = "text/plain; charset=utf-8"
MAX_NAME = 120


class AttachmentError(ValueError):
    """A file that cannot be attached; the message says why."""


def sniff(data):
    """The content type of `data` by its content, or None when it is not one Hindsight keeps
    (UTF-8 text without control characters is kept as plain text; HTML and SVG are not)."""
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text[:65536]):
        return None
    opening = text.lstrip()[:512].lower()
    if opening.startswith(("<!doctype", "<html", "<svg", "<?xml", "<script")):
        return None  # markup a browser would run: attach a screenshot or a text copy instead
    return TEXT


def _is_text(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def kept(session, pm, data):
    """Whether `pm` has an attachment with exactly these bytes already."""
    digest = hashlib.sha256(data).hexdigest()
    query = select(Attachment.id).where(
        Attachment.postmortem_id == pm.id, Attachment.sha256 == digest
    )
    return session.exec(query).first() is not None


def imported_before(session, data):
    """The id of the postmortem these exact bytes were imported into, or None: a file
    without a ref is recognised by its content when it is imported again."""
    digest = hashlib.sha256(data).hexdigest()
    query = select(Attachment.postmortem_id).where(
        Attachment.origin == "import", Attachment.sha256 == digest
    )
    return session.exec(query).first()


def safe_name(name):
    """A file name for URLs and downloads: its last path part, letters, digits, . _ -."""
    name = unicodedata.normalize("NFKC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.-]+", "-", name, flags=re.ASCII).strip(".-")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (
            (stem[: MAX_NAME - len(ext) - 1] + "." + ext)
            if dot and len(ext) < 10
            else name[:MAX_NAME]
        )
    return name or "file"


def add(session, pm, name, data, actor=None, *, max_bytes, origin="upload"):
    """Attach `data` to `pm` (flushed, not committed) or raise AttachmentError.

    The original of an import (origin "import") may be HTML: it is kept as plain text, which
    is only ever downloaded, never shown."""
    if not data:
        raise AttachmentError("the file is empty")
    if len(data) > max_bytes:
        raise AttachmentError(
            f"the file is {len(data) / 1048576:.1f} MiB; attachments may be at most "
            f"{max_bytes / 1048576:.0f} MiB"
        )
    kind = sniff(data)
    if kind is None and origin == "import" and _is_text(data):
        kind = TEXT
    if kind is None:
        raise AttachmentError(
            "only images (PNG, JPEG, GIF, WebP), PDF and plain text can be attached"
        )
    attachment = Attachment(
        postmortem_id=pm.id,
        name=safe_name(name),
        content_type=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        origin=origin,
        created_by_id=getattr(actor, "id", None),
    )
    session.add(attachment)
    session.flush()
    return attachment


def listing(session, pm):
    """The attachments of a postmortem, oldest first, without their data."""
    columns = [c for c in Attachment.__table__.c if c.name != "data"]
    query = select(*columns).where(Attachment.postmortem_id == pm.id).order_by(Attachment.id)
    return session.exec(query).all()


def markdown_link(attachment, url):
    """What to write in a section to show the file: an image, or a link."""
    label = attachment.name.rsplit(".", 1)[0].replace("-", " ").replace("_", " ")
    if attachment.content_type in IMAGES:
        return f"![{label}]({url})"
    return f"[{attachment.name}]({url})"
