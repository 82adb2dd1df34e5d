"""Moving documents in and out: import from .json/.jsonl files, Markdown and HTML postmortems
(kb.importers) or folders of them, export to JSON or Markdown. Each imported record is written
whole or not at all (one savepoint per record)."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kb import attachments, postmortems, premortems
from kb.document import DocumentError, to_document, validate
from kb.export_markdown import to_markdown
from kb.models import Postmortem

MAX_RECORD_BYTES = 1024 * 1024
WRITTEN = (".md", ".markdown", ".html", ".htm")  # postmortems written by people, elsewhere
READABLE = (".json", ".jsonl", *WRITTEN)
TOO_DEEP = "nested too deeply to read (no document is more than a few levels deep)"


@dataclass
class Record:
    """One document read from a file, or the reason it could not be read."""

    source: str
    line: int | None
    data: object = None
    error: str | None = None
    mapping: list = field(default_factory=list)  # Markdown/HTML: (heading, field) pairs
    notes: list = field(default_factory=list)  # Markdown/HTML: what was not understood
    original: bytes | None = None  # Markdown/HTML: the file, kept as an attachment
    images: dict = field(default_factory=dict)  # Markdown: {source in the file: (name, bytes)}
    files: dict = field(default_factory=dict)  # attachments exported beside it: {name: bytes}

    @property
    def where(self):
        return f"{self.source}:{self.line}" if self.line is not None else self.source


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems


def read_records(path) -> Iterator[Record]:
    """Documents from a .json file (an object or an array), a .jsonl file, or a folder of them."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in READABLE)
        for file in files:
            yield from read_records(file)
        return
    if not path.exists():
        yield Record(str(path), None, error="no such file or folder")
        return
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                yield _parse(str(path), number, line)
    elif path.suffix == ".json":
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Record(str(path), exc.lineno, error=f"not valid JSON: {exc.msg}")
            return
        except RecursionError:  # the parser gives up on nesting deeper than about 1,000
            yield Record(str(path), None, error=TOO_DEEP)
            return
        if isinstance(data, list):
            for index, item in enumerate(data, start=1):
                yield Record(f"{path}[{index}]", None, data=item)
        else:
            yield Record(str(path), None, data=data, files=_files_beside(path))
    elif path.suffix.lower() in WRITTEN:
        record = _written(path)
        record.files = _files_beside(path)
        yield record
    else:
        yield Record(str(path), None, error=f"not a file Hindsight reads ({', '.join(READABLE)})")


def _files_beside(path):
    """{name: bytes} of the attachments `kb export` wrote beside a document, in
    `<file name without extension>.files/`."""
    folder = path.with_suffix(".files")
    if not folder.is_dir():
        return {}
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file()}


def _written(path):
    """A Markdown or HTML postmortem as a record (a draft unless its front matter says so),
    with the images it shows that sit beside it."""
    folder = path.parent.resolve()

    def beside(target):
        found = (folder / target).resolve()
        if found.is_relative_to(folder) and found.is_file() and found.stat().st_size:
            return found.read_bytes() if found.stat().st_size <= MAX_RECORD_BYTES * 10 else None
        return None

    return read_written(str(path), path.read_bytes(), beside)


def read_written(source, raw, beside=None):
    """A Markdown or HTML file's bytes as a record; `source` names it (and its type)."""
    from kb.importers.html import read_html
    from kb.importers.markdown import read_markdown

    if len(raw) > MAX_RECORD_BYTES:
        return Record(source, None, error="the file is larger than 1 MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Record(source, None, error="not UTF-8 text")
    reader = read_html if source.lower().endswith((".html", ".htm")) else read_markdown
    found = reader(text, name=Path(source).name)
    images = {}
    for target in found.images if beside else ():
        data = beside(target)
        if data is None:
            found.problems.append(f"image {target!r} is not beside the file: its link is kept")
        else:
            images[target] = (Path(target).name, data)
    return Record(
        source,
        None,
        data=found.document,
        mapping=found.mapping,
        notes=found.problems,
        original=raw,
        images=images,
    )


def read_upload(name, raw):
    """The records of one uploaded file (.json, .jsonl, Markdown or HTML), by its name."""
    suffix = Path(name).suffix.lower()
    if suffix in WRITTEN:
        return [read_written(name, raw)]
    if suffix not in (".json", ".jsonl"):
        return [Record(name, None, error=f"not a file Hindsight reads ({', '.join(READABLE)})")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [Record(name, None, error="not UTF-8 text")]
    if suffix == ".jsonl":
        return [
            _parse(name, number, line)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    record = _parse(name, None, text)
    if isinstance(record.data, list):
        return [Record(f"{name}[{i}]", None, data=item) for i, item in enumerate(record.data, 1)]
    return [record]


def _parse(source, line, text):
    if len(text.encode()) > MAX_RECORD_BYTES:
        return Record(source, line, error="the record is larger than 1 MiB")
    try:
        return Record(source, line, data=json.loads(text))
    except json.JSONDecodeError as exc:
        return Record(source, line, error=f"not valid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return Record(source, line, error=TOO_DEEP)


def import_records(session, records, actor=None, progress=None):
    """Validate and save each record in its own savepoint; report every invalid one."""
    report = ImportReport()
    taken = {}  # ref -> where this run imported it from
    for record in records:
        if progress:
            progress(record)
        if record.error:
            report.problems.append(f"{record.where}: {record.error}")
            continue
        if record.original and attachments.imported_before(session, record.original):
            report.unchanged += 1  # the same file, imported before: nothing new in it
            continue
        try:
            doc = validate(record.data)
        except DocumentError as exc:
            label = f"{record.where}: {exc.ref + ': ' if exc.ref else ''}"
            report.problems.extend(f"{label}{error}" for error in exc.errors)
            continue
        if doc["ref"] in taken:  # the later one would silently replace the earlier one
            report.problems.append(
                f"{record.where}: {doc['ref']}: not imported: {taken[doc['ref']]} holds the "
                f"same ref (keep one of the two)"
            )
            continue
        try:
            with session.begin_nested():
                pm, changed = postmortems.save_document(session, doc, actor, note="imported")
                created = changed and pm.version == 1
                if record.images:  # now that the ref is the postmortem's: links that name it
                    linked = _with_image_links(doc, pm.ref, record)
                    if linked != doc:
                        pm, _ = postmortems.save_document(
                            session, linked, actor, base_version=pm.version, note="imported"
                        )
                keep_original(session, pm, record, actor)
                for name, data in [*record.images.values(), *record.files.items()]:
                    if not attachments.kept(session, pm, data):
                        attachments.add(
                            session, pm, name, data, actor, max_bytes=MAX_RECORD_BYTES * 10
                        )
        except Exception as exc:  # a database refusal must not stop the other records
            report.problems.append(f"{record.where}: could not be saved: {exc}")
            continue
        taken[pm.ref] = record.where
        if created:
            report.created += 1
        elif changed:
            report.updated += 1
        else:
            report.unchanged += 1
    return report


def _with_image_links(doc, ref, record):
    """The document with its images pointing at the attachments they become, under `ref`.

    The links name the postmortem's ref, so they are written after its first save: a ref
    chosen beforehand could be taken meanwhile by a postmortem created elsewhere, and saving
    under it would then overwrite that one."""
    from kb.importers.markdown import relink

    urls = {
        target: f"/postmortems/{ref}/files/{attachments.safe_name(name)}"
        for target, (name, _data) in record.images.items()
    }
    return relink({**doc, "ref": ref}, urls)


def keep_original(session, pm, record, actor=None):
    """Attach the file a record was read from (Markdown, HTML) to its postmortem, once."""
    if record.original and not attachments.kept(session, pm, record.original):
        attachments.add(
            session,
            pm,
            Path(record.source).name,
            record.original,
            actor,
            max_bytes=MAX_RECORD_BYTES,
            origin="import",
        )


def export_documents(session, dest, fmt="json", user=None, progress=None, refusable=None):
    """Write every postmortem `user` may see (None: all) to `dest`; return how many.

    When `refusable` is a list, each .jsonl document that an import would refuse is named in
    it with the reasons (it is written all the same: the file holds what the database holds).
    """
    dest = Path(dest)
    query = postmortems.visible(session, user).order_by(Postmortem.ref)
    rows = session.exec(query).all()

    def document_of(pm):
        # As `user` may see it: no ref of a pre-mortem they may not read.
        doc = to_document(pm)
        return premortems.redacted(session, doc, user) if user is not None else doc

    if fmt == "json" and dest.suffix == ".jsonl":
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "w", encoding="utf-8") as handle:
            for pm in rows:
                doc = document_of(pm)
                handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
                if refusable is not None:
                    try:
                        validate(doc)
                    except DocumentError as exc:
                        refusable.append(f"{pm.ref}: {'; '.join(map(str, exc.errors))}")
                if progress:
                    progress(pm)
        return len(rows)
    dest.mkdir(parents=True, exist_ok=True)
    for pm in rows:
        if fmt == "json":
            text = json.dumps(document_of(pm), indent=2, ensure_ascii=False) + "\n"
            (dest / f"{pm.ref}.json").write_text(text, encoding="utf-8")
        else:
            (dest / f"{pm.ref}.md").write_text(to_markdown(pm, document_of(pm)), encoding="utf-8")
        _export_files(session, pm, dest / f"{pm.ref}.files")
        if progress:
            progress(pm)
    return len(rows)


def _export_files(session, pm, folder):
    """Write a postmortem's attachments into `folder` (made only when there are some)."""
    from sqlmodel import select

    from kb.models import Attachment

    rows = session.exec(
        select(Attachment).where(Attachment.postmortem_id == pm.id).order_by(Attachment.id)
    ).all()
    taken = set()
    for row in rows:
        name = row.name if row.name not in taken else f"{row.id}-{row.name}"
        taken.add(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(row.data)
