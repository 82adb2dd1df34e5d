"""A full rebuild's writing, spread over several processes.

The rebuild's process reads the postmortems; each helper process (forked, so it starts at
once and shares nothing it writes) makes the index fields of one contiguous range of
postmortem ids and indexes them into a segment of its own. The ranges are read side by side,
a batch from each in turn, so every helper has work from the start. The rebuild's writer then
commits the helpers' segments in id order, its own segment (the sync state document) last:
documents are numbered as a one-process rebuild numbers them, so searches rank ties alike.
"""

import contextlib
import multiprocessing
import queue
import traceback

from whoosh import writing

from kb.search.index import bulk_writer

BATCH = 50  # documents sent to a helper at a time
QUEUED = 8  # batches waiting per helper at most (bounds the memory of a rebuild)


class HelperFailed(Exception):
    """A helper process could not write its part of the index."""


def write_in_parallel(ix, ranges, *, convert=None, extra=(), progress=None):
    """Index every document of `ranges` (one iterable per helper process, in document order,
    of index fields, or of what `convert` turns into index fields in the helper) and then
    `extra` (index fields, in this process), and commit them all in one commit that replaces
    every segment of `ix`. Returns the number of documents from `ranges`."""
    context = multiprocessing.get_context("fork")
    writer = bulk_writer(ix)
    helpers = []
    try:
        for _ in ranges:
            jobs = context.Queue(QUEUED)
            results = context.Queue(1)
            process = context.Process(
                target=_helper, args=(ix, convert, jobs, results), daemon=True
            )
            process.start()
            helpers.append((process, jobs, results))
        count = _feed(ranges, helpers, progress)
        segments = [_result(process, results) for process, _jobs, results in helpers]
        for fields in extra:
            writer.add_document(**fields)
        writer.add_parts(segments)
        writer.commit(mergetype=writing.CLEAR)
    except BaseException:
        for process, _jobs, _results in helpers:
            if process.is_alive():
                process.kill()
        _abandon(writer)
        raise
    finally:
        for process, _jobs, _results in helpers:
            process.join()
    return count


def _abandon(writer):
    """Give up the writer, even one whose commit failed half-way, and free Whoosh's lock."""
    with contextlib.suppress(Exception):
        writer.cancel()
    with contextlib.suppress(Exception):
        writer.writelock.release()


def _feed(ranges, helpers, progress):
    iterators = [iter(r) for r in ranges]
    active = list(range(len(iterators)))
    count = 0
    while active:
        for k in list(active):
            batch = []
            for fields in iterators[k]:
                batch.append(fields)
                if len(batch) == BATCH:
                    break
            if batch:
                _put(helpers[k], batch)
                count += len(batch)
                if progress:
                    progress(len(batch))
            if len(batch) < BATCH:
                _put(helpers[k], None)
                active.remove(k)
    return count


def _put(helper, item):
    process, jobs, results = helper
    while True:
        try:
            jobs.put(item, timeout=1.0)
            return
        except queue.Full:
            if not process.is_alive():
                _result(process, results)  # raises the helper's error
                raise HelperFailed("an indexing process stopped early") from None


def _result(process, results):
    while True:
        try:
            kind, value = results.get(timeout=1.0)
        except queue.Empty:
            if not process.is_alive():
                raise HelperFailed(f"an indexing process ended (exit {process.exitcode})") from None
            continue
        if kind == "error":
            raise HelperFailed(value)
        return value


def _helper(ix, convert, jobs, results):
    """In a forked process: write the documents sent until None, return the segment."""
    try:
        writer = bulk_writer(ix, _lk=False)
        for batch in iter(jobs.get, None):
            for item in batch:
                writer.add_document(**(item if convert is None else convert(item)))
        results.put(("segment", writer.finish_part()))
    except BaseException:  # noqa: BLE001 (reported to the rebuild, which fails with it)
        results.put(("error", traceback.format_exc()))
