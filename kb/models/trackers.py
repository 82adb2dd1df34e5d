"""Issue trackers (GitHub, GitLab, Jira) that action items link to, and what each tracker
last said about an issue."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from kb.models.vocabulary import utcnow


class Tracker(SQLModel, table=True):
    """An issue tracker: action items whose URL starts with `web_url` follow its issues.

    `token_env` is the NAME of the environment variable holding the API token; the token
    itself is read when a request is made and never stored.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # github | gitlab | jira
    web_url: str = Field(max_length=300, unique=True)
    api_url: str = Field(max_length=300)
    token_env: str | None = Field(default=None, max_length=128)
    # where "Create in tracker" opens issues: owner/repo, group/project or a Jira project key
    project: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class TrackerIssue(SQLModel, table=True):
    """The last reading of one tracker issue, by the URL action items link it with.

    Kept by URL rather than on the action item: a postmortem's action items are written
    anew at every save, and the reading belongs to the issue, whichever items link to it.
    """

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=500, unique=True)
    tracker_id: int = Field(foreign_key="tracker.id", ondelete="CASCADE", index=True)
    said: str | None = Field(default=None, max_length=120)  # the status as the tracker says it
    status: str | None = Field(default=None, max_length=16)  # the action status it means
    read_at: datetime | None = None  # the last successful reading
    error: str | None = Field(default=None, max_length=300)  # the last reading's failure
    failed_at: datetime | None = None
