"""Markdown for postmortem sections: sanitised HTML for pages, plain text for indexing.

Python-Markdown is quadratic on some inputs (16 KB of nested brackets took 12 seconds), so
every render has a budget: text whose brackets would send the link parser over too many
characters is not rendered at all, and a render that spends more than RENDER_BUDGET seconds
of CPU is stopped. Either way the text is shown as typed (escaped), and `render_checked`
says why. Postmortem pages show HTML rendered once at save (kb.postmortems.section_html).
"""

import ctypes
import gc
import hashlib
import html
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import markdown as md
import nh3
from markdown.extensions.fenced_code import FencedCodeExtension
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension

RENDERER_VERSION = 1  # part of every stored render's fingerprint: raise it when output changes
RENDER_BUDGET = 0.25  # seconds of CPU one text may take (50 KB of ordinary Markdown: ~0.03)
SAVE_BUDGET = 0.4  # seconds of CPU the sections of one save may take together
MIN_BUDGET = 0.1  # what a section still gets once a save has spent its budget (a full
# garbage collection of a large process alone can take several hundredths of a second)
MAX_LINK_SCAN = 100_000  # characters the link parser may walk over looking for closing brackets
# (brackets that close without nesting cost at most the length of the text: they always pass)
# The code-fence search is one regular expression that, from every fence line, runs to the end
# of the text: a single C call the budget cannot stop. Fence lines times length is bounded.
MAX_FENCE_SCAN = 20_000_000
TOO_MANY_BRACKETS = (
    "Shown as typed: it has too many nested or unclosed brackets ([ ] or ( )) to format."
)
TOO_MANY_FENCES = "Shown as typed: it has too many code fences (``` or ~~~) to format."
TOO_SLOW = "Shown as typed: formatting it took too long."
_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
    "del", "sup", "sub", "dl", "dt", "dd", "img",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"[ \t]+")
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")
_BRACKET_RE = re.compile(r"(?<!\\)[\[\]()]")
_FENCE_RE = re.compile(r"^[ \t]*(?:`{3,}|~{3,})", re.MULTILINE)


@dataclass(frozen=True)
class Rendered:
    """Sanitised HTML, and why the text is shown as typed instead (None when formatted)."""

    html: str
    refused: str | None = None


def render(text):
    """Markdown to HTML that keeps no script, style, event handler or javascript: URL."""
    return render_checked(text).html


@lru_cache(maxsize=256)
def render_checked(text, budget=RENDER_BUDGET):
    """A Rendered: the text formatted within `budget` seconds of CPU, or shown as typed and
    why."""
    # Previews and fallback renders see the same texts again; the result depends on the text.
    # Pages show the HTML stored at save, so a small cache will do (an entry can be 100 KB).
    if not text:
        return Rendered("")
    if link_scan(text) > MAX_LINK_SCAN:
        return Rendered(_as_typed(text), TOO_MANY_BRACKETS)
    if len(_FENCE_RE.findall(text)) * len(text) > MAX_FENCE_SCAN:
        return Rendered(_as_typed(text), TOO_MANY_FENCES)
    raw = _within_budget(_markdown, text, budget)
    if raw is None:
        return Rendered(_as_typed(text), TOO_SLOW)
    return Rendered(
        nh3.clean(
            raw,
            tags=_TAGS,
            attributes=_ATTRIBUTES,
            url_schemes=_URL_SCHEMES,
            link_rel="noopener noreferrer nofollow",
        )
    )


def render_uncached(text):
    """render_checked(text) without remembering it: for text typed into a request (the
    editor's preview), which would otherwise fill the cache with request bodies."""
    return render_checked.__wrapped__(text)


def fingerprint(text):
    """What a stored render was made from: the text and the renderer's version."""
    return hashlib.sha256(f"{RENDERER_VERSION}\0{text}".encode()).hexdigest()


def link_scan(text):
    """About how many characters Python-Markdown's link parser walks over: from each [ or (
    to the bracket that closes it, or else to the end of its paragraph."""
    total = 0
    for block in _BLANK_LINE_RE.split(text):
        opened = {"[": [], "(": []}
        for match in _BRACKET_RE.finditer(block):
            char, at = match.group(), match.start()
            if char in opened:
                opened[char].append(at)
            else:
                stack = opened["[" if char == "]" else "("]
                if stack:
                    total += at - stack.pop()
        end = len(block)
        total += sum(end - at for stack in opened.values() for at in stack)
        if total > MAX_LINK_SCAN:
            break  # already too many: the rest need not be counted
    return total


def _markdown(text):
    extensions = [FencedCodeExtension(), TableExtension(), SaneListExtension()]
    return md.markdown(text, extensions=extensions, output_format="html")


def _as_typed(text):
    return f'<pre class="as-typed">{html.escape(text, quote=False)}</pre>'


class _OverBudget(Exception):
    """Raised inside a render that has spent its CPU budget."""


# Garbage collection during a budgeted render, per rendering thread: [the thread's CPU clock
# when a collection started (None between collections), CPU seconds spent collecting].
_COLLECTING = {}
_HOOKED = threading.Lock()


def _count_collections(phase, _info):
    spent = _COLLECTING.get(threading.get_ident())
    if spent is None:
        return
    if phase == "start":
        spent[0] = time.thread_time()
    elif spent[0] is not None:
        spent[1] += time.thread_time() - spent[0]
        spent[0] = None


def _hook_collections():
    with _HOOKED:
        if _count_collections not in gc.callbacks:
            gc.callbacks.append(_count_collections)


class _Watch:
    """One budgeted render: its thread, CPU clock, budget and garbage-collection time."""

    def __init__(self, budget):
        self.target = threading.get_ident()
        self.clock = time.pthread_getcpuclockid(self.target)
        self.budget = budget
        self.collecting = _COLLECTING[self.target] = [None, 0.0]
        self.started = time.clock_gettime(self.clock)
        self.fired = False

    def spent(self):
        return time.clock_gettime(self.clock) - self.started - self.collecting[1]


class _Watchdog:
    """One thread per process that watches every budgeted render in progress (starting a
    thread per render cost more than most renders)."""

    TICK = 0.01  # seconds between looks at the renders' CPU clocks

    def __init__(self):
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.active = {}  # thread id -> _Watch
        self.thread = None

    def begin(self, watch):
        with self.lock:
            self.active[watch.target] = watch
            if self.thread is None or not self.thread.is_alive():  # first use, or forked
                self.thread = threading.Thread(
                    target=self._run, name="markdown-budget", daemon=True
                )
                self.thread.start()
            self.wake.notify()

    def end(self, watch):
        """Stop watching; True when the budget ran out (its exception is withdrawn if it
        has not been delivered yet)."""
        with self.lock:
            self.active.pop(watch.target, None)
            if watch.fired:
                _raise_in(watch.target, None)
            _COLLECTING.pop(watch.target, None)
            return watch.fired

    def _run(self):
        while True:
            with self.lock:
                while not self.active:
                    self.wake.wait()
                for target, watch in list(self.active.items()):
                    if watch.collecting[0] is not None:
                        continue  # a collection runs in the render's thread: wait for its end
                    if watch.spent() >= watch.budget:
                        watch.fired = True
                        del self.active[target]
                        _raise_in(target, _OverBudget)
            time.sleep(self.TICK)


_WATCHDOG = _Watchdog()


def _within_budget(function, text, budget):
    """function(text), or None when it spends more than `budget` seconds of this thread's CPU.

    A watchdog thread reads this thread's CPU clock and, past the budget, raises _OverBudget
    in it (CPython's PyThreadState_SetAsyncExc): the render stops at its next Python line.
    CPU time, not wall time, so a busy machine does not turn a good text away; and not the
    time of a garbage collection that happens to run during the render (a full collection of a
    large process can take longer than the budget), nor while one runs, so the exception never
    lands in a collector's callback, where it would be swallowed.
    """
    _hook_collections()
    watch = _Watch(budget)
    _WATCHDOG.begin(watch)
    try:
        try:
            result = function(text)
        finally:
            fired = _WATCHDOG.end(watch)
    except _OverBudget:
        return None
    return None if fired else result


def _raise_in(thread_id, exception):
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )


def plain_text(text):
    """Markdown to plain text, for the search index and e-mail summaries."""
    if not text:
        return ""
    # A summary line in a digest is not worth a full budget: a slow text is used as typed.
    rendered = render_checked(text, MIN_BUDGET).html
    without_tags = _TAG_RE.sub(" ", rendered)
    lines = (_SPACE_RE.sub(" ", line).strip() for line in html.unescape(without_tags).splitlines())
    return "\n".join(line for line in lines if line)


def first_sentence(text, limit=240):
    """The first sentence of a section, shortened to `limit` characters."""
    opening = _BLANK_LINE_RE.split(text or "", maxsplit=1)[0][: limit * 8]
    plain = plain_text(opening).replace("\n", " ")
    match = re.search(r"(.+?[.!?])(\s|$)", plain)
    sentence = match.group(1) if match else plain
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"
