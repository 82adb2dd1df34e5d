"""The numpy search engine (kb.search.docsets) against Whoosh's own matchers, scorer and facets.

The engine reads Whoosh-Reloaded's private posting blocks (kb.search.whoosh_internals), so a
Whoosh release that changes them could silently change what a search finds. These properties
build small random indexes on disk with the project's schema, document fields and writer
(several segments, deletions, updates, restricted postmortems, the sync-state document) and
compare, for random queries of words, phrases, prefixes, fields and AND/OR/NOT/ANDNOT/ANDMAYBE:

- the engine's match mask (with the visibility mask of a Scope) with Whoosh's searcher and a
  filter query for the same Scope;
- its facet counts with Whoosh's `groupedby` counts;
- its BM25F scores with Whoosh's BM25F scores (with Lucene's IDF, kb.search.scoring.idf),
  for words of one field (title:, factor:, and the `exact` field of quoted words);
- its BM25F scores of plain words (`content`: title, factors and body, each part normalised
  by its own length, saturated once) with the formula computed here from the documents.

Intended differences, each tested as such: ranking statistics (IDF, mean field length) are
taken over the live internal postmortems only, so the scores are compared with Whoosh's on an
index holding just those documents; keyword fields and NOT never add to a score (Whoosh adds a
constant 1 per keyword term or NOT a document matches), so the Whoosh query used for the
comparison gives them no weight; scores are compared on the query as kb.search.query runs it,
with prefixes expanded to words (kb.search.expand; Whoosh scores an unexpanded prefix as a
constant).
"""

import math
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest
import whoosh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import query as wq
from whoosh import scoring as whoosh_scoring
from whoosh import sorting
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length, length_to_byte

from kb.accounts import Scope
from kb.search import analysis, docsets, expand, schema, scoring, whoosh_internals
from kb.search.index import SearchIndex, state_fields
from tests import search_documents
from tests.search_documents import PEOPLE, SERVICES, TAGS, TEAMS

ROOT = Path(__file__).resolve().parent.parent
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Few words, so that documents share them and phrases occur.
WORDS = ("disk", "queue", "cache", "timeout", "deploy", "alert", "pool", "proxy")
PREFIXES = ("d", "de", "di", "p", "po", "pr", "t", "ca", "zz")
KEYWORD_TERMS = (
    [("services", v) for v in SERVICES]
    + [("teams", v) for v in TEAMS]
    + [("tags", v) for v in TAGS]
    + [("severity", v) for v in ("sev1", "sev2", "none")]
    + [("kind", v) for v in ("incident", "near-miss")]
    + [("status", v) for v in ("published", "draft")]
    + [("year", v) for v in ("2025", "2026")]
)
EXACT_LENGTH = 10  # Whoosh keeps a document's field length exactly up to 10 words


# --- random indexes ---------------------------------------------------------------------------


documents = search_documents.documents(WORDS, visibility=("internal", "internal", "restricted"))
batches = st.lists(
    st.fixed_dictionaries(
        {
            "new": st.lists(documents, max_size=6),
            "updated": st.lists(st.tuples(st.integers(0, 99), documents), max_size=2),
            "deleted": st.lists(st.integers(0, 99), max_size=2),
        }
    ),
    min_size=1,
    max_size=4,
)


class Built:
    """A random index on disk, and what it should hold."""

    def __init__(self, path, plan, *, internal_only=False, state=True):
        self.idx = SearchIndex(path)
        self.live = {}  # pid -> document
        ix = self.idx.create_empty()
        next_pid = 1
        for round_number, batch in enumerate(plan):
            # As kb.search.applying applies a round: old versions and the old state document
            # deleted, new versions and a new state document added, one commit. merge=False
            # keeps every round in its own segment.
            writer = ix.writer()
            writer.delete_by_term("pid", schema.STATE_ID)
            for k in batch["deleted"]:
                if self.live:
                    pid = sorted(self.live)[k % len(self.live)]
                    writer.delete_by_term("pid", str(pid))
                    del self.live[pid]
            updated = set()  # a round holds one new version of a postmortem at most
            for k, doc in batch["updated"]:
                if self.live:
                    pid = sorted(self.live)[k % len(self.live)]
                    if pid not in updated:
                        updated.add(pid)
                        writer.delete_by_term("pid", str(pid))
                        self._add(writer, pid, doc, internal_only)
            for doc in batch["new"]:
                self._add(writer, next_pid, doc, internal_only)
                next_pid += 1
            if state:
                writer.add_document(**state_fields({"schema": 1, "upto": round_number}))
            writer.commit(merge=False)

    def _add(self, writer, pid, doc, internal_only):
        doc = {**doc, "ref": f"INC-2026-{pid:03d}"}
        if internal_only:
            doc["visibility"] = "internal"
        self.live[pid] = doc
        writer.add_document(**schema.fields_for(pid, doc))


def _built(plan, **kwargs):
    folder = tempfile.TemporaryDirectory(prefix="kb-contract-")
    return folder, Built(folder.name, plan, **kwargs)


# --- random queries ---------------------------------------------------------------------------

stems = st.sampled_from(WORDS).map(analysis.stem)
# The `exact` field holds words as written and no positions (no phrases there).
POSITIONAL = tuple(f for f in schema.TEXT_FIELDS if f != schema.EXACT_FIELD)
# Fields scored by Whoosh's formula as it is: all but `content` (BM25F over its parts).
ONE_FIELD = tuple(f for f in schema.TEXT_FIELDS if f != schema.DEFAULT_FIELD)


def _word_of(field):
    words = st.sampled_from(WORDS) if field == schema.EXACT_FIELD else stems
    return words.map(lambda word: wq.Term(field, word))


def _leaves(fields):
    text_fields = st.sampled_from(fields)
    positional = st.sampled_from([f for f in fields if f in POSITIONAL])
    return st.one_of(
        text_fields.flatmap(_word_of),
        text_fields.flatmap(_word_of),
        st.sampled_from(KEYWORD_TERMS).map(lambda ft: wq.Term(*ft)),
        st.builds(wq.Phrase, positional, st.lists(stems, min_size=2, max_size=3)),
        st.builds(wq.Prefix, text_fields, st.sampled_from(PREFIXES)),
    )


def _combined(children):
    """AND, OR, NOT, ANDNOT and ANDMAYBE of smaller queries."""
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(wq.And),
        st.lists(children, min_size=2, max_size=3).map(wq.Or),
        children.map(wq.Not),
        st.builds(wq.AndNot, children, children),
        st.builds(wq.AndMaybe, children, children),
    )


queries = st.recursive(_leaves(schema.TEXT_FIELDS), _combined, max_leaves=6).map(
    lambda q: q.normalize()  # as the query parser hands them over
)
one_field_queries = st.recursive(_leaves(ONE_FIELD), _combined, max_leaves=6).map(
    lambda q: q.normalize()
)
scopes = st.one_of(
    st.just(docsets.EVERYONE),
    st.just(Scope(everything=True)),
    st.just(Scope(nothing=True)),
    st.builds(
        lambda email, teams, unpublished, involved: Scope(
            email=email, teams=tuple(teams), unpublished=unpublished, involved=tuple(involved)
        ),
        st.sampled_from(PEOPLE),
        search_documents.subset(TEAMS),
        st.booleans(),  # KB_UNPUBLISHED_READERS=everyone, or drafts for those involved
        st.lists(st.integers(1, 12), max_size=3, unique=True),
    ),
)


def scope_query(scope):
    """Whoosh's query for what a Scope may see (accounts.Scope's rule, written again)."""
    if scope.nothing:
        return wq.Term("visibility", "nobody")
    if scope.everything:  # every postmortem; not the sync-state document
        return wq.Or([wq.Term("visibility", "internal"), wq.Term("visibility", "restricted")])
    allowed = [wq.Term("visibility", "internal"), wq.Term("acl", f"person:{scope.email}")]
    readable = wq.Or(allowed + [wq.Term("acl", f"team:{team}") for team in scope.teams])
    if scope.unpublished:
        return readable
    # Unpublished ones only for those involved: a team of theirs, or an id they are in.
    involved = [wq.Term("status", "published")]
    involved += [wq.Term("acl", f"team:{team}") for team in scope.teams]
    involved += [wq.Term("pid", str(pid)) for pid in scope.involved]
    return wq.And([readable, wq.Or(involved)])


def without_andnot(q):
    """`q` with every `a ANDNOT b` written `a AND NOT b`, which Whoosh matches correctly.

    Whoosh-Reloaded 2.7.5's AndNotMatcher keeps the first document of `a` when `b` starts
    before it, even if `b` matches that document too (`_find_first` only skips `b` forward
    when both start on the same document); the engine follows the definition
    (test_andnot_excludes_the_first_match_when_whoosh_does_not).
    """
    if isinstance(q, wq.AndNot):
        return wq.And([without_andnot(q.a), wq.Not(without_andnot(q.b))])
    return q.apply(without_andnot)


def facets():
    return [sorting.FieldFacet(f, allow_overlap=True, maptype=sorting.Count) for f in FIELDS]


FIELDS = schema.FACET_FIELDS


def engine(built, searcher, q, scope):
    """(matching docnums, {field: {value: count}}, segments) as kb.search.query._run has them."""
    matched, counts, segments = set(), {f: {} for f in FIELDS}, []
    for segreader, offset, subsearcher in docsets.leaves(searcher):
        data = built.idx.caches.data(segreader)
        allowed = built.idx.caches.allowed(segreader, scope)
        mask = docsets.match_mask(q, segreader, subsearcher, data) & allowed
        matched |= {int(d) + offset for d in np.flatnonzero(mask)}
        for field, values in docsets.facet_counts(segreader, data, mask).items():
            for value, count in values.items():
                counts[field][value] = counts[field].get(value, 0) + count
        segments.append((segreader, offset, data, mask, allowed))
    return matched, counts, segments


def whoosh_groups(results, field):
    groups = results.groups(field)
    return {
        (k.decode() if isinstance(k, bytes) else k): v for k, v in groups.items() if k is not None
    }


# --- the properties ---------------------------------------------------------------------------


@PROPERTY
@given(plan=batches, q=queries, scope=scopes)
def test_match_masks_and_facet_counts_equal_whoosh(plan, q, scope):
    folder, built = _built(plan)
    with folder, built.idx.searcher() as searcher:
        matched, counts, _segments = engine(built, searcher, q, scope)
        results = searcher.search(
            without_andnot(q), limit=None, filter=scope_query(scope), groupedby=facets()
        )
        expected = {hit.docnum for hit in results}
        assert matched == expected, (q, sorted(matched - expected), sorted(expected - matched))
        for field in FIELDS:
            assert counts[field] == whoosh_groups(results, field), (field, q)
        # The expanded form of the query (how kb.search.query runs prefixes) matches the same.
        expanded, expansion = expand.expand(q, searcher.reader())
        if not expansion.cut:
            assert engine(built, searcher, expanded, scope)[0] == matched, (q, expanded)


@PROPERTY
@given(plan=batches, scope=scopes)
def test_the_visibility_mask_equals_whoosh_filter(plan, scope):
    folder, built = _built(plan)
    with folder, built.idx.searcher() as searcher:
        expected = set(searcher.docs_for_query(scope_query(scope)))
        allowed = set()
        for segreader, offset, _sub in docsets.leaves(searcher):
            mask = built.idx.caches.allowed(segreader, scope)
            allowed |= {int(d) + offset for d in np.flatnonzero(mask)}
        assert allowed == expected
        visible_pids = {searcher.stored_fields(d)["pid"] for d in allowed}
        expected_pids = {
            str(pid)
            for pid, doc in built.live.items()
            if scope.allows(
                doc["visibility"],
                doc["teams"],
                [*doc["authors"], *doc["readers"]],
                status=doc["status"],
                pid=pid,
            )
        }
        assert visible_pids == expected_pids


class LuceneIdf(whoosh_scoring.BM25F):
    """Whoosh's BM25F with the IDF the engine takes (Lucene's), written again."""

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        df = parent.doc_frequency(fieldname, text)
        n = parent.doc_count_all()
        return math.log(1 + (n - df + 0.5) / (df + 0.5))


def whoosh_scored(searcher, q):
    """{pid: score} of Whoosh's own matchers and BM25F (with LuceneIdf) over `searcher`."""
    with Searcher(searcher.reader(), weighting=LuceneIdf(), closereader=False) as lucene:
        return {hit["pid"]: hit.score for hit in lucene.search(whoosh_weights(q), limit=None)}


def whoosh_weights(q):
    """The query Whoosh should score like the engine: keyword terms and NOT weigh nothing."""
    if isinstance(q, wq.Term) and q.fieldname not in schema.TEXT_FIELDS:
        return wq.Term(q.fieldname, q.text, boost=0.0)
    if isinstance(q, wq.AndNot):  # see without_andnot
        return wq.And([whoosh_weights(q.a), whoosh_weights(wq.Not(q.b))])
    if isinstance(q, wq.Not):
        # Every(boost=0) would score 1: Whoosh's ListMatcher reads a weight of 0 as "none".
        return wq.AndNot(wq.Every(boost=1e-9), q.query)
    return q.apply(whoosh_weights)


def _ranks(searcher, q):
    """True when kb.search.query would rank the matches of `q` by score (not by date)."""
    segments = docsets.leaves(searcher)
    return bool(segments) and scoring.ranks_by_words(q, segments[0][0])


def engine_scores(built, searcher, q):
    """{pid: BM25F score} of the internal postmortems matching `q`, as _ranked scores them."""
    _matched, _counts, segments = engine(built, searcher, q, docsets.EVERYONE)
    stats = scoring.common_statistics(q, built.idx.caches, segments, docsets.EVERYONE)
    out = {}
    for segreader, offset, data, mask, _allowed in segments:
        scores = scoring.bm25_scores(q, segreader, data, stats, mask)
        for d in np.flatnonzero(mask):
            out[searcher.stored_fields(int(d) + offset)["pid"]] = float(scores[d])
    return out


def quantised_others(built, searcher):
    """True when a deleted, restricted or state document has a text field longer than Whoosh
    keeps exactly, so the engine's mean lengths can only be close to Whoosh's, not equal."""
    internal = {str(p) for p, doc in built.live.items() if doc["visibility"] == "internal"}
    for segreader, _offset, _sub in docsets.leaves(searcher):
        for d in range(segreader.doc_count_all()):
            if not segreader.is_deleted(d) and segreader.stored_fields(d)["pid"] in internal:
                continue
            if any(
                (segreader.doc_field_length(d, f) or 0) > EXACT_LENGTH for f in schema.TEXT_FIELDS
            ):
                return True
    return False


@PROPERTY
@given(plan=batches, q=one_field_queries)
def test_bm25f_scores_equal_whoosh_over_the_live_internal_postmortems(plan, q):
    folder, built = _built(plan)
    reference = tempfile.TemporaryDirectory(prefix="kb-contract-ref-")
    with folder, reference, built.idx.searcher() as searcher:
        expanded, expansion = expand.expand(q, searcher.reader())  # as kb.search.query does
        if expansion.cut or not _ranks(searcher, expanded):
            return  # nothing to rank by: kb.search.query orders such matches by date
        # Whoosh's statistics count every document; the engine's, the live internal ones: an
        # index holding only those gives Whoosh the engine's statistics.
        ix = SearchIndex(reference.name).create_empty()
        writer = ix.writer()
        for pid, doc in built.live.items():
            if doc["visibility"] == "internal":
                writer.add_document(**schema.fields_for(pid, doc))
        writer.commit()
        with ix.searcher() as whoosh_searcher:
            expected = whoosh_scored(whoosh_searcher, expanded)
        ix.close()
        ours = engine_scores(built, searcher, expanded)
        # Whoosh leaves out some matches whose score is 0 (keyword terms only, weighed 0 here).
        assert expected.keys() <= ours.keys(), expanded
        tolerance = 0.05 if quantised_others(built, searcher) else 1e-5
        for pid, score in ours.items():
            wanted = expected.get(pid, 0.0)
            assert score == pytest.approx(wanted, rel=tolerance, abs=1e-5), (pid, expanded)


@PROPERTY
@given(plan=batches, q=one_field_queries)
def test_bm25f_scores_equal_whoosh_when_every_document_is_internal(plan, q):
    """Where the statistics cannot differ (no restricted postmortem, no deletion), the
    engine's scores are Whoosh's own on the very same index."""
    plan = [{**batch, "deleted": [], "updated": []} for batch in plan]
    # The sync-state documents are the only other documents Whoosh would count: none here.
    folder, built = _built(plan, internal_only=True, state=False)
    with folder, built.idx.searcher() as searcher:
        expanded, expansion = expand.expand(q, searcher.reader())
        if expansion.cut or not _ranks(searcher, expanded):
            return
        expected = whoosh_scored(searcher, expanded)
        ours = engine_scores(built, searcher, expanded)
        assert expected.keys() <= ours.keys(), expanded
        for pid, score in ours.items():
            wanted = expected.get(pid, 0.0)
            assert score == pytest.approx(wanted, rel=1e-5, abs=1e-5), (pid, expanded)


def _stored_length(tokens):
    """A field's length as the index keeps it (one byte, rounded from 11 words on)."""
    return byte_to_length(length_to_byte(len(tokens)))


def reference_bm25f(docs, words, require_all):
    """{pid: score} of plain words (`content`) by BM25F written out from the documents: per
    part (title, factors, body) the word's count over the part's length against its mean,
    weighted 3, 2, 1, summed, then saturated once; Lucene's IDF of `content`."""
    parts = {}
    for pid, doc in docs.items():
        fields = schema.fields_for(pid, doc)
        texts = (fields["title"], fields["factors"], fields["content"].split(schema.PART)[2])
        parts[str(pid)] = [[t.text for t in analysis.ANALYZER(text)] for text in texts]
    n = len(parts)
    if not n:
        return {}
    # The mean lengths are exact (the index keeps each field's total exactly); each document's
    # length is the one-byte one, the body's being content's less its title's and factors'.
    means = [sum(len(p[i]) for p in parts.values()) / n or 1.0 for i in range(3)]
    out = {}
    for pid, (title, factors, body) in parts.items():
        lengths = [_stored_length(title), _stored_length(factors)]
        lengths.append(max(_stored_length(title + factors + body) - sum(lengths), 0))
        held = [w for w in words if w in title + factors + body]
        if not held or (require_all and len(held) < len(words)):
            continue
        score = 0.0
        for word in held:
            df = sum(1 for p in parts.values() if word in p[0] + p[1] + p[2])
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))  # Lucene's BM25 IDF
            tf = 0.0
            for boost, part, length, mean in zip(
                schema.BOOSTS, (title, factors, body), lengths, means, strict=True
            ):
                b = scoring.PART_B["title"]  # the same B for every part
                tf += boost * part.count(word) / ((1 - b) + b * length / mean)
            score += idf * tf * (scoring.K1 + 1) / (tf + scoring.K1)
        out[pid] = score
    return out


@PROPERTY
@given(
    plan=batches,
    words=st.lists(stems, min_size=1, max_size=3, unique=True),
    require_all=st.booleans(),
)
def test_bm25f_of_plain_words_equals_the_formula(plan, words, require_all):
    """Plain words are scored by BM25F over the parts of `content` (kb.search.scoring)."""
    assert len(set(scoring.PART_B.values())) == 1, "the reference takes one B for every part"
    plan = [{**batch, "deleted": [], "updated": []} for batch in plan]
    folder, built = _built(plan, internal_only=True, state=False)
    with folder, built.idx.searcher() as searcher:
        terms = [wq.Term(schema.DEFAULT_FIELD, w) for w in words]
        q = wq.And(terms) if require_all else wq.Or(terms)
        ours = {pid: score for pid, score in engine_scores(built, searcher, q).items()}
        expected = reference_bm25f(built.live, words, require_all)
        assert ours.keys() == expected.keys(), q
        for pid, score in ours.items():
            assert score == pytest.approx(expected[pid], rel=1e-4, abs=1e-5), (pid, q)


def test_a_long_body_does_not_dilute_a_title_word(tmp_path):
    """BM25F normalises each part by its own length: the same title word in the same title
    scores the same whatever the length of the body (over the whole of `content`, the long
    write-up scored half as much), and still above a mention in a body."""
    filler = " ".join(["alert"] * 60)
    internal = {"visibility": "internal", "status": "published"}
    plan = [
        {
            "new": [
                {**internal, "title": "disk", "summary": filler},
                {**internal, "title": "disk", "summary": "queue"},
                {**internal, "title": "pool", "summary": "disk queue"},
                {**internal, "title": "proxy", "summary": "queue"},
            ],
            "updated": [],
            "deleted": [],
        }
    ]
    built = Built(tmp_path, plan, state=False)
    with built.idx.searcher() as searcher:
        scores = engine_scores(built, searcher, wq.Term(schema.DEFAULT_FIELD, "disk"))
        assert set(scores) == {"1", "2", "3"}
        assert scores["1"] == pytest.approx(scores["2"], rel=1e-6)
        assert scores["2"] > scores["3"]


def test_andnot_excludes_the_first_match_when_whoosh_does_not(tmp_path):
    """`a ANDNOT b` where `b` matches a document before the first one of `a`: Whoosh keeps
    the first document of `a` although `b` matches it; the engine does not."""
    internal = {"visibility": "internal", "summary": ""}
    plan = [
        {
            "new": [
                {**internal, "title": "queue"},  # b only
                {**internal, "title": "disk queue"},  # a and b: excluded
                {**internal, "title": "disk"},  # a only
            ],
            "updated": [],
            "deleted": [],
        }
    ]
    built = Built(tmp_path, plan, state=False)
    q = wq.AndNot(wq.Term("title", "disk"), wq.Term("title", "queue"))
    with built.idx.searcher() as searcher:
        matched = engine(built, searcher, q, docsets.EVERYONE)[0]
        pids = {searcher.stored_fields(d)["pid"] for d in matched}
        assert pids == {"3"}
        assert {searcher.stored_fields(d)["pid"] for d in searcher.docs_for_query(q)} == {
            "2",
            "3",
        }, "Whoosh's ANDNOT was fixed: without_andnot is no longer needed"
        rewritten = set(searcher.docs_for_query(without_andnot(q)))
        assert rewritten == matched


# --- the pin ----------------------------------------------------------------------------------


def test_the_installed_whoosh_is_the_version_the_engine_was_checked_against():
    """Raising the pin means checking kb/search/whoosh_internals/ against the new source."""
    assert whoosh.__version__[:2] == whoosh_internals.CHECKED_VERSION[:2]
    assert whoosh.__version__ >= whoosh_internals.CHECKED_VERSION
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("whoosh-reloaded")]
    major, minor, _patch = whoosh_internals.CHECKED_VERSION
    assert pins and pins[0].split("#")[0].strip().endswith(f",<{major}.{minor + 1}")
