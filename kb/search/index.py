"""The Whoosh index on disk: one per app (KB_INDEX_DIR), one writer at a time, many readers.

Writers take an OS file lock (`flock`, non-blocking): whoever holds it applies everything that
is pending; the others carry on. Readers never lock: each process keeps a small pool of
searchers (one per concurrent search, each with its own open files) and refreshes one when
another process has committed, retrying the few opens that race a commit.
"""

import contextlib
import fcntl
import io
import json
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile
from whoosh.reading import EmptyReader, MultiReader, SegmentReader
from whoosh.searching import Searcher

from kb.search import schema
from kb.search import whoosh_internals as internals
from kb.search.segments import SegmentCaches

log = logging.getLogger(__name__)
INDEX_NAME = "MAIN"

OPEN_ATTEMPTS = 5
# Reading segments through mmap makes every index page a worker touches count in its
# resident memory (218 MiB of files at 50,000 postmortems); plain reads cost the same here.
USE_MMAP = False
# Searchers per process: as many searches can run at once (a gunicorn worker runs a few
# threads); each holds its own open files and readers of the index.
MAX_SEARCHERS = 4


class IndexUnavailable(Exception):
    """The index does not exist yet, or cannot be read: it is being (re)built."""


class SearchIndex:
    """One index folder: a small pool of searchers for this process, and the writer lock."""

    def __init__(self, path, max_searchers=MAX_SEARCHERS):
        self.path = Path(path)
        # Whoosh readers seek their own open files, so a searcher serves one thread at a time;
        # a pool of them lets that many searches run at once without sharing a file.
        self.max_searchers = max_searchers
        self._available = threading.Condition(threading.Lock())
        self._idle = []  # searchers not in use
        self._open = 0  # searchers of this pool, idle or in use
        self._generation = 0  # close() starts a new one: older searchers are not kept
        self.caches = SegmentCaches()
        self.pid = os.getpid()

    # --- reading ------------------------------------------------------------------------

    def exists(self):
        """True when the folder holds a Whoosh index (of table of contents at least)."""
        if not self.path.is_dir():
            return False
        prefix = f"_{INDEX_NAME}_"
        return any(p.name.startswith(prefix) and p.suffix == ".toc" for p in self.path.iterdir())

    def open(self):
        """The Whoosh index, retrying opens that race another process's commit."""
        if not self.exists():
            raise IndexUnavailable("there is no search index yet")
        for attempt in range(OPEN_ATTEMPTS):
            try:
                storage = FileStorage(str(self.path), supports_mmap=USE_MMAP)
                return storage.open_index(indexname=INDEX_NAME)
            except Exception as exc:  # noqa: BLE001 (a damaged table of contents raises anything)
                _close_files_of(exc)
                if attempt == OPEN_ATTEMPTS - 1:
                    raise IndexUnavailable(f"the search index cannot be opened: {exc}") from exc
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    @contextmanager
    def searcher(self):
        """A searcher of the pool, brought up to date, for this thread alone until the block
        ends; other threads search at the same time with the pool's other searchers."""
        searcher, generation = self._checkout()
        try:
            searcher = self._fresh_searcher(searcher)
            yield searcher
        except BaseException:
            self._checkin(searcher, generation, broken=True)
            raise
        self._checkin(searcher, generation)

    def _checkout(self):
        with self._available:
            while not self._idle and self._open >= self.max_searchers:
                self._available.wait()
            if self._idle:
                return self._idle.pop(), self._generation
            self._open += 1
            return None, self._generation

    def _checkin(self, searcher, generation, broken=False):
        with self._available:
            keep = searcher is not None and not broken and generation == self._generation
            if keep:
                self._idle.append(searcher)
            else:
                self._open -= 1
            self._available.notify()
        if not keep:
            _close_searcher(searcher)

    def _fresh_searcher(self, searcher):
        for attempt in range(OPEN_ATTEMPTS):
            try:
                if searcher is None:
                    ix = self.open()
                    self._check_schema(ix)
                    searcher = _open_searcher(ix, None)
                    self.caches.keep_only(searcher)
                elif not searcher.up_to_date():
                    searcher = _open_searcher(internals.index_of(searcher), searcher)
                    self.caches.keep_only(searcher)
                return searcher
            except IndexUnavailable:
                _close_searcher(searcher)
                raise
            except (FileNotFoundError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
                # A commit removed files between listing and opening (or Whoosh cannot
                # refresh a reader of an empty index): open again.
                _close_searcher(searcher)
                searcher = None
                if attempt == OPEN_ATTEMPTS - 1:
                    raise IndexUnavailable(f"the search index cannot be read: {exc}") from exc
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    def _check_schema(self, ix):
        if set(ix.schema.names()) != set(schema.make_schema().names()):
            raise IndexUnavailable("the search index was built by another version")

    def close(self):
        """Close the idle searchers (those in use close when their search ends); the next
        search opens a new one."""
        with self._available:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._generation += 1
            self._available.notify_all()
        for searcher in idle:
            _close_searcher(searcher)
        self.caches.clear()

    def __del__(self):
        # An app that is thrown away (tests make many) closes its index files with it.
        with contextlib.suppress(Exception):
            self.close()

    def state(self):
        """The sync state committed with the documents (see kb.search.applying), or None."""
        with self.searcher() as searcher:
            return read_state(searcher)

    # --- writing ------------------------------------------------------------------------

    @contextmanager
    def write_lock(self, wait=0.0):
        """Yield True when this process now holds the writer lock, False when another does.

        `wait` seconds: keep trying that long (the default is one non-blocking try).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / "sync.lock", "a+b")  # noqa: SIM115 (held for the block)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.02)
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def open_for_writing(self):
        """The index to write to (the caller holds the write lock), or None if unusable."""
        if not self.exists():
            return None
        try:
            ix = self.open()
            self._check_schema(ix)
            state = self.state()
            if state is None or state.get("schema") != schema.SCHEMA_VERSION:
                return None
            return ix
        except Exception:  # noqa: BLE001 (any damage means: rebuild from the database)
            log.warning("the search index at %s is unusable; it will be rebuilt", self.path)
            return None

    def open_for_rebuild(self):
        """The index to rebuild into, with this version's schema objects (the caller holds
        the lock and replaces every segment); a new empty one when there is none usable."""
        ix = self.open_for_writing()
        if ix is None:
            return self.create_empty()
        storage = FileStorage(str(self.path), supports_mmap=USE_MMAP)
        return storage.open_index(indexname=INDEX_NAME, schema=schema.make_schema())

    def create_empty(self):
        """Replace whatever is in the folder with an empty index (the caller holds the lock)."""
        self.path.mkdir(parents=True, exist_ok=True)
        for entry in self.path.iterdir():
            if entry.name == "sync.lock":
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        return whoosh_index.create_in(str(self.path), schema.make_schema(), indexname=INDEX_NAME)

    def size_bytes(self):
        """The size of the index files on disk."""
        if not self.path.exists():
            return 0
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())


def _close_searcher(searcher):
    if searcher is None:
        return
    try:
        searcher.close()
    except Exception:  # noqa: BLE001 (closing a broken reader must not fail)
        log.debug("closing the searcher failed", exc_info=True)


def _open_searcher(ix, previous):
    """A searcher of the index's latest generation, reusing the previous one's segment readers
    where the segment AND its deletions are unchanged.

    Whoosh's own Searcher.refresh() reuses a reader whenever the segment id matches (so it
    keeps showing documents deleted since) and adds back segments that a merge removed.
    """
    toc = internals.read_toc(ix)
    reusable = {}
    if previous is not None:
        for reader, _offset in previous.reader().leaf_readers():
            segment = reader.segment()
            if segment is not None:
                reusable[(segment.segment_id(), segment.deleted_count())] = reader
    readers = []
    try:
        for segment in toc.segments:
            key = (segment.segment_id(), segment.deleted_count())
            reader = reusable.pop(key, None)
            if reader is None:
                reader = SegmentReader(ix.storage, ix.schema, segment, generation=toc.generation)
            readers.append(reader)
    except BaseException:
        for reader in readers:
            if reader not in reusable.values():
                reader.close()
        raise
    for reader in reusable.values():  # segments merged away or changed: no longer needed
        with contextlib.suppress(Exception):
            reader.close()
    if not readers:
        top = EmptyReader(ix.schema)
    elif len(readers) == 1 and readers[0].generation() == toc.generation:
        top = readers[0]
    else:
        top = MultiReader(readers, generation=toc.generation)
    return Searcher(top, fromindex=ix)


def _close_files_of(exc):
    # Whoosh leaves the file of an unreadable table of contents open: close what the failed
    # frames still hold, so it does not linger until garbage collection.
    tb = exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, StructFile | io.IOBase):
                with contextlib.suppress(Exception):
                    value.close()
        tb = tb.tb_next


def read_state(searcher):
    """The stored sync state of a searcher's index, or None."""
    fields = searcher.document(pid=schema.STATE_ID)
    if not fields or not fields.get("state"):
        return None
    return json.loads(fields["state"])


def state_fields(state):
    """The special document that carries the sync state."""
    return {"pid": schema.STATE_ID, "state": json.dumps(state, separators=(",", ":"))}


def writer(ix, **options):
    """A Whoosh writer of `ix` (the caller holds the write lock); `options` as ix.writer's."""
    return ix.writer(codec=internals.WritingCodec(), **options)


def bulk_writer(ix, **options):
    """A writer for a full rebuild of `ix` (the caller holds the write lock): the same segment
    as writer()'s, written faster; commit it with mergetype=CLEAR. `options` as writer()'s,
    without procs."""
    return internals.BulkWriter(ix, **options)


def for_app(app):
    """The SearchIndex of an app in this process (a forked worker gets its own)."""
    current = app.extensions.get("kb_search_index")
    if current is None or current.pid != os.getpid():
        current = SearchIndex(os.path.abspath(app.config["INDEX_DIR"]))
        app.extensions["kb_search_index"] = current
    return current
