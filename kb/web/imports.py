"""Importing postmortems in the browser: choose Markdown, HTML or JSON files, see how each
maps onto the template, and confirm to land them as drafts owned by the uploader."""

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from kb import editing, postmortems, template, workflow
from kb.attachments import AttachmentError
from kb.db import get_session
from kb.document import DocumentError, validate
from kb.models import SECTIONS
from kb.transfer import READABLE, Record, keep_original, read_upload

bp = Blueprint("imports", __name__)
MAX_FILES = 20
KEPT = ("status", "published_at")  # a person's import starts as a draft, like any new one


class _Taken(Exception):
    """The document names a ref another postmortem has."""


def _writer():
    if current_user.role not in ("author", "admin"):
        abort(403)


@bp.route("/import", methods=["GET", "POST"])
@login_required
def upload():
    """GET: the form; POST: the files read and checked, with a button to import them."""
    _writer()
    if request.method == "GET":
        return render_template("imports/upload.html", readable=READABLE, max_files=MAX_FILES)
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        flash("Choose one or more files to import.", "error")
        return redirect(url_for("imports.upload"))
    if len(files) > MAX_FILES:
        flash(f"Choose at most {MAX_FILES} files at a time (use `kb import` for more).", "error")
        return redirect(url_for("imports.upload"))
    checked = [_check(record) for f in files for record in read_upload(f.filename, f.read())]
    ready = [
        {"source": c["source"], "document": c["document"], "original": c["original"]}
        for c in checked
        if c["ok"]
    ]
    return render_template(
        "imports/preview.html",
        checked=checked,
        ready=ready,
        payload=json.dumps(ready),
        heading_of=template.heading,
    )


def _check(record):
    """What the page shows of one record: its mapping, and any reason it cannot be imported."""
    found = {
        "source": record.source.rsplit("/", 1)[-1],
        "mapping": record.mapping,
        "notes": record.notes,
        "errors": [],
        "document": None,
        "ok": False,
        "original": record.original.decode("utf-8-sig") if record.original else None,
    }
    if record.error:
        found["errors"] = [record.error]
        return found
    raw = _as_draft(record.data)
    try:
        doc = validate(raw)
    except DocumentError as exc:
        found["errors"] = [str(e) for e in exc.errors]
        return found
    found.update(document=raw, ok=True, title=doc["title"], counts=_counts(doc))
    return found


def _as_draft(data):
    raw = dict(data) if isinstance(data, dict) else data
    if isinstance(raw, dict):
        for key in KEPT:
            raw.pop(key, None)
        authors = [a for a in raw.get("authors") or [] if isinstance(a, str)]
        raw["authors"] = [current_user.email, *[a for a in authors if a != current_user.email]]
    return raw


def _counts(doc):
    return {
        "sections": sum(1 for key in SECTIONS if doc.get(key)),
        "timeline": len(doc["timeline"]),
        "contributing_factors": len(doc["contributing_factors"]),
        "action_items": len(doc["action_items"]),
    }


@bp.route("/import/confirm", methods=["POST"])
@login_required
def confirm():
    """Create each checked document as a draft; each one whole or not at all."""
    _writer()
    try:
        ready = json.loads(request.form.get("documents", ""))
    except ValueError:
        ready = None
    if not isinstance(ready, list) or not all(isinstance(r, dict) for r in ready):
        flash("The files to import were lost on the way: choose them again.", "error")
        return redirect(url_for("imports.upload"))
    db = get_session()
    done, refused = [], []
    for item in ready[: MAX_FILES * 50]:
        source = str(item.get("source", "a file"))[:200]
        raw = _as_draft(item.get("document"))
        try:
            with db.begin_nested():
                ref = raw.get("ref") if isinstance(raw, dict) else None
                if isinstance(ref, str) and postmortems.get(db, ref.strip(), None):
                    raise _Taken(f"{ref} exists already: leave its ref out to import a copy")
                pm, created = editing.create(db, raw, current_user, note="imported")
                if not created:
                    raise _Taken(f"{pm.ref} exists already: leave its ref out to import a copy")
                original = item.get("original")
                if isinstance(original, str) and original:
                    kept = Record(source, None, original=original.encode("utf-8"))
                    keep_original(db, pm, kept, current_user)
        except DocumentError as exc:
            refused.append((source, [str(e) for e in exc.errors]))
            continue
        except (workflow.WorkflowError, postmortems.Conflict, _Taken, AttachmentError) as exc:
            refused.append((source, [str(exc)]))
            continue
        done.append((source, pm))
    db.commit()
    return render_template("imports/done.html", done=done, refused=refused)
