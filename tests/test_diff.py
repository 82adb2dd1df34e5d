"""The word diff: exact on ordinary edits, linear beyond a size (no cubic matcher runs)."""

import difflib

import pytest

from kb import diff


@pytest.fixture
def matcher_runs(monkeypatch):
    """The sizes of every difflib matcher run (the real matcher, counted)."""
    runs = []
    real = difflib.SequenceMatcher

    def counting(isjunk=None, a="", b="", autojunk=True):
        runs.append((len(a), len(b)))
        return real(isjunk, a, b, autojunk)

    monkeypatch.setattr(diff.difflib, "SequenceMatcher", counting)
    return runs


def _ops(field_diff):
    return [(c.op, c.text) for c in field_diff.chunks]


def test_an_ordinary_edit_is_exact(matcher_runs):
    old = {"summary": "The pool was exhausted. We restarted it.\n\nThen we waited."}
    new = {"summary": "The pool was drained. We restarted it twice.\n\nThen we waited."}
    (change,) = diff.compare(old, new)
    assert change.exact
    assert _ops(change) == [
        ("equal", "The pool was "),
        ("delete", "exhausted."),
        ("insert", "drained."),
        ("equal", " We restarted "),
        ("delete", "it."),
        ("insert", "it twice."),
        ("equal", "\n\nThen we waited."),
    ]


def test_a_long_repetitive_text_goes_linear_beyond_the_size(matcher_runs):
    old, new = "a " * 999 + "a", "b " * 999 + "b"  # 1,999 words and spaces each
    (change,) = diff.compare({"summary": old}, {"summary": new})
    assert not change.exact
    assert _ops(change) == [("delete", old), ("insert", new)]
    assert matcher_runs == [(1, 1)]  # one line each: the words never reached the matcher


def test_one_edit_in_a_long_text_stays_exact(matcher_runs):
    old = "a " * 1000
    new = "a " * 500 + "b " + "a " * 500
    (change,) = diff.compare({"summary": old}, {"summary": new})
    assert change.exact and _ops(change) == [
        ("equal", "a " * 500),
        ("insert", "b "),
        ("equal", "a " * 500),
    ]
    assert all(a <= diff.MAX_TOKENS and b <= diff.MAX_TOKENS for a, b in matcher_runs)


def test_distant_edits_are_matched_line_by_line(matcher_runs):
    lines = [f"Line {n} of the response section." for n in range(150)]
    edited = [*lines]
    edited[3] = "Line 3 of the edited response section."
    edited[140] = "Line 140, rewritten."
    (change,) = diff.compare({"response": "\n".join(lines)}, {"response": "\n".join(edited)})
    assert change.exact
    inserted = " ".join(text for op, text in _ops(change) if op == "insert")
    deleted = " ".join(text for op, text in _ops(change) if op == "delete")
    assert "edited" in inserted and "rewritten." in inserted and "section." not in inserted
    assert "70" not in deleted + inserted  # the lines between the edits are unchanged
    assert (138, 138) in matcher_runs  # the 138 lines between the edits, matched as lines
    assert all(a <= diff.MAX_TOKENS and b <= diff.MAX_TOKENS for a, b in matcher_runs)


def test_one_comparison_spends_a_bounded_amount_of_matching(matcher_runs, monkeypatch):
    monkeypatch.setattr(diff, "MAX_WORK", 4 * diff.MAX_TOKENS**2)
    # Every section just under the size that is matched word by word.
    words = diff.MAX_TOKENS // 2 - 1
    old = {field: "a b " * (words // 2) for field in diff.SECTIONS}
    new = {field: "a c " * (words // 2) for field in diff.SECTIONS}
    changes = diff.compare(old, new)
    assert len(changes) == len(diff.SECTIONS)
    assert sum(a * b for a, b in matcher_runs) <= diff.MAX_WORK
    assert all(a <= diff.MAX_TOKENS and b <= diff.MAX_TOKENS for a, b in matcher_runs)
    # Once the budget is spent, the rest is shown whole.
    assert changes[0].exact and not changes[-1].exact
