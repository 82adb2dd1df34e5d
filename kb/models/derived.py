"""Derived data, rebuildable from postmortems: themes and similar incidents' terms."""

from datetime import datetime

from sqlalchemy import JSON, Column, Index, false
from sqlmodel import Field, SQLModel

from kb.models.vocabulary import utcnow


class ThemeRun(SQLModel, table=True):
    """One rebuild of the themes: a fingerprint of the published factors it saw, and counts."""

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, index=True)
    built_at: datetime = Field(default_factory=utcnow)
    postmortems: int = 0
    factors: int = 0
    themes: int = 0
    seconds: float = 0.0
    method: str = Field(default="", max_length=300)
    # Bumped when themes change between rebuilds (a postmortem published or unpublished, an
    # admin's edit): the in-memory caches of themes and similar incidents key on it.
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Terms the rebuild found spread across every kind of theme (what every write-up says,
    # the organisation's own names): discounted when labelling from what a reader may see.
    generic: list = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class Theme(SQLModel, table=True):
    """A recurring theme: a cluster of contributing factors with a label and its key terms."""

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=200)
    terms: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    size: int = 0
    rank: int = Field(default=0, index=True)
    # True when every member is restricted: the stored label then quotes restricted words,
    # so pages label the theme from the factors the reader may see instead.
    private_label: bool = False
    pinned: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The theme's centre as {term: weight} (unit length), for placing the factors of a
    # postmortem published after the rebuild in the nearest theme.
    centroid: dict = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class ThemeCuration(SQLModel, table=True):
    """An admin's edit of the themes (rename, merge, split), kept by the factors it concerned.

    Factors are named "postmortem id:position" (a factor's row id changes whenever its
    postmortem is saved), so a rebuild carries the edit to the new theme that holds most of
    them: `factors` are the theme's (for a merge, the theme merged away; for a split, those
    that stay) and `other` the merge's target or the factors split off.
    """

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    actor_email: str = Field(default="", max_length=254)
    kind: str = Field(max_length=16)  # rename, merge or split
    label: str = Field(default="", max_length=200)
    factors: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    other: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True


class ThemeFactor(SQLModel, table=True):
    """One factor's membership of a theme; `score` is its closeness to the theme's centre."""

    __table_args__ = (Index("ix_themefactor_theme_score", "theme_id", "score"),)

    id: int | None = Field(default=None, primary_key=True)
    theme_id: int = Field(foreign_key="theme.id", ondelete="CASCADE")
    factor_id: int = Field(foreign_key="factor.id", ondelete="CASCADE", unique=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    score: float = 0.0


class PostmortemTerm(SQLModel, table=True):
    """A weighted key term of a published postmortem, for similar incidents (an inverted index).

    Terms include `service:<name>` and `theme:<id>` entries so that sharing a service or a
    theme counts towards similarity. Read whole into memory (kb/insights/postings.py), never
    looked up by term, so there is no index on it.
    """

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    term: str = Field(max_length=80)
    weight: float = 0.0


class TermWeight(SQLModel, table=True):
    """The inverse document frequency of a term at the last rebuild (to weigh typed text)."""

    term: str = Field(max_length=80, primary_key=True)
    idf: float = 0.0
    label: str = Field(default="", max_length=120)  # the form people wrote most often


# --- the monthly digest (kb/digest): the send log that makes sending idempotent -----------
