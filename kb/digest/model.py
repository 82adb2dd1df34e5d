"""The digest's data: what kb.digest.compose builds for one reader and one month, and what
the e-mail, the preview page and the JSON API render."""

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from kb.insights.kpis import MonthFigures
from kb.insights.themes import TREND_MONTHS
from kb.months import month_key, next_month


@dataclass(frozen=True)
class Entry:
    """A postmortem as the digest shows it."""

    ref: str
    title: str
    kind: str
    severity: str | None
    restricted: bool
    summary: str
    lesson: str
    teams: tuple[str, ...]
    services: tuple[str, ...]
    published_at: datetime
    url: str


@dataclass(frozen=True)
class Foreseen:
    """An incident of the month that the pre-mortem of its change saw coming."""

    entry: Entry
    premortem_ref: str
    premortem_title: str
    premortem_url: str
    risks: tuple[str, ...]  # the pre-mortem's risks that materialised


@dataclass(frozen=True)
class Theme:
    """A recurring theme that is new or growing this month."""

    id: int
    label: str
    terms: tuple[str, ...]
    this_month: int
    monthly_average: float
    postmortems: int
    is_new: bool
    is_growing: bool
    refs: tuple[str, ...]
    url: str | None

    @property
    def trend(self):
        """The trend in words: new, or this month against the usual month before it."""
        factors = f"{self.this_month} contributing factor{'' if self.this_month == 1 else 's'}"
        if self.is_new:
            return f"New this month: {factors} across {self.postmortems} postmortems"
        if not self.monthly_average:
            return f"{factors} this month, none in the {TREND_MONTHS} months before"
        return (
            f"{factors} this month, against {self.monthly_average:.1f} a month "
            f"over the {TREND_MONTHS} months before"
        )

    @property
    def extra_terms(self):
        """Key terms not already in the label."""
        label = self.label.lower()
        return tuple(t for t in self.terms if t.lower() not in label)


@dataclass(frozen=True)
class Action:
    """An open action item that is overdue or due next month."""

    title: str
    owner: str | None
    due: date
    status: str
    overdue: bool
    ref: str
    url: str


@dataclass(frozen=True)
class TeamActions:
    """One team's overdue and soon-due action items (the first few named, the rest counted)."""

    team: str
    overdue: int
    due_next_month: int
    items: tuple[Action, ...]
    url: str | None = None

    @property
    def more(self):
        """How many items are counted but not named."""
        return self.overdue + self.due_next_month - len(self.items)


@dataclass(frozen=True)
class Figure:
    """One key figure of the month beside the month before; `better` is None when unchanged."""

    label: str
    this: float | int | None
    previous: float | int | None
    unit: str  # count | minutes | percent
    lower_is_better: bool = True

    @property
    def better(self):
        """True when the month improved on the one before, False when it got worse."""
        if self.this is None or self.previous is None or self.this == self.previous:
            return None
        return (self.this < self.previous) == self.lower_is_better

    @property
    def change(self):
        """Up, down or same (or None when either month has no value)."""
        if self.this is None or self.previous is None:
            return None
        return (
            "same" if self.this == self.previous else "up" if self.this > self.previous else "down"
        )


@dataclass(frozen=True)
class Recommendation:
    """The one postmortem worth reading this month, and why it was chosen."""

    entry: Entry
    reason: str
    rule: str  # earlier-in-rising-theme | most-severe-this-month
    factor: str = ""  # the earlier postmortem's factor that belongs to the theme


@dataclass(frozen=True)
class Digest:
    """The digest of one month as one reader (or the internal-only version) would get it."""

    month: date
    internal_only: bool
    incidents: tuple[Entry, ...]
    incidents_total: int
    practice: tuple[Entry, ...]
    practice_counts: dict  # {"near-miss": n, "game-day": n}, all of them, not only those listed
    themes: tuple[Theme, ...]
    actions: tuple[TeamActions, ...]
    actions_overdue: int
    actions_due_next_month: int
    figures: MonthFigures
    previous_figures: MonthFigures
    key_figures: tuple[Figure, ...]
    recommended: Recommendation | None
    links: dict = field(default_factory=dict)
    premortems: tuple[Entry, ...] = ()  # pre-mortems published this month (the first few)
    premortems_total: int = 0
    foreseen: tuple[Foreseen, ...] = ()

    @property
    def title(self):
        """The month in words: October 2026."""
        return f"{self.month:%B %Y}"

    @property
    def key(self):
        """The month as YYYY-MM."""
        return month_key(self.month)

    @property
    def next_month(self):
        """The first day of the month after this one (the action items' horizon)."""
        return next_month(self.month)

    @property
    def practice_total(self):
        """Near misses and game days published this month (listed or not)."""
        return sum(self.practice_counts.values())

    @property
    def has_restricted(self):
        """Whether anything restricted is named in this digest (a reason not to forward it)."""
        named = [*self.incidents, *self.practice, *self.premortems]
        named += [f.entry for f in self.foreseen]
        if self.recommended:
            named.append(self.recommended.entry)
        return any(e.restricted for e in named)

    @property
    def is_quiet(self):
        """Nothing was published and nothing is trending: a short digest."""
        return not (self.incidents or self.practice or self.themes or self.premortems)

    @property
    def anticipating(self):
        """Whether the month has an "anticipating failure" section: pre-mortems, game days,
        or an incident a pre-mortem foresaw."""
        return bool(self.premortems or self.foreseen or self.practice_counts.get("game-day"))

    def as_dict(self):
        """Plain data for the JSON API (dates as ISO strings)."""

        def plain(value):
            if isinstance(value, datetime | date):
                return value.isoformat()
            if isinstance(value, dict):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        data = plain(asdict(self))
        data["month"] = self.key
        data["practice_total"] = self.practice_total
        data["title"] = self.title
        data["themes"] = [
            {**t, "trend": theme.trend}
            for t, theme in zip(data["themes"], self.themes, strict=True)
        ]
        data["key_figures"] = [
            {**f, "change": fig.change, "better": fig.better}
            for f, fig in zip(data["key_figures"], self.key_figures, strict=True)
        ]
        for team, row in zip(data["actions"], self.actions, strict=True):
            team["more"] = row.more
        return data
