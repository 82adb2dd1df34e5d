"""What each kind of tracker is: its issue links, the documented subset of its REST API that
Hindsight uses (read one issue, open one), and how its states map to action statuses."""

import base64
import re
from dataclasses import dataclass
from urllib.parse import quote

from kb.trackers.http import TrackerError

KINDS = ("github", "gitlab", "jira")
LABELS = {"github": "GitHub", "gitlab": "GitLab", "jira": "Jira"}
WONT_DO_RESOLUTIONS = {"won't do", "won't fix", "wont do", "wont fix"}

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}"  # an owner, repository, group or project
_GITHUB_LINK = re.compile(rf"^({_NAME})/({_NAME})/issues/(\d{{1,9}})/?$")
# GitLab's links are group/project/-/issues/N; older ones, without "-/", still lead there.
_GITLAB_LINK = re.compile(rf"^((?:{_NAME}/){{1,20}}{_NAME})/(?:-/)?issues/(\d{{1,9}})/?$")
_JIRA_LINK = re.compile(r"^browse/([A-Z][A-Z0-9_]{0,31}-\d{1,9})/?$")
_GITHUB_PROJECT = re.compile(rf"^{_NAME}/{_NAME}$")
_GITLAB_PROJECT = re.compile(rf"^(?:{_NAME}/){{1,20}}{_NAME}$")
_JIRA_PROJECT = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


@dataclass(frozen=True)
class Reading:
    """What a tracker says of an issue: `said` as it says it, `status` the action status it
    means, and `also` other statuses that agree with it (GitHub's "open" does not say
    whether work has started, so an item in progress stays in progress)."""

    said: str
    status: str
    also: tuple = ()

    def agrees(self, status):
        """Whether an item with `status` already says what the tracker says."""
        return status == self.status or status in self.also


def label(tracker):
    """The tracker's kind as people write it (GitHub, GitLab, Jira)."""
    return LABELS[tracker.kind]


def issue_key(tracker, url):
    """The issue an action item's URL names on this tracker, or None when it names none."""
    prefix = tracker.web_url + "/"
    if not url or not url.startswith(prefix):
        return None
    rest = url[len(prefix) :].split("#", 1)[0].split("?", 1)[0]
    if any(part in (".", "..") for part in rest.split("/")):
        return None
    pattern = {"github": _GITHUB_LINK, "gitlab": _GITLAB_LINK, "jira": _JIRA_LINK}[tracker.kind]
    match = pattern.match(rest)
    return match.groups() if match else None


def valid_project(kind, project):
    """Whether `project` names where this kind of tracker opens issues."""
    pattern = {"github": _GITHUB_PROJECT, "gitlab": _GITLAB_PROJECT, "jira": _JIRA_PROJECT}[kind]
    return bool(pattern.match(project)) and ".." not in project.split("/")


PROJECT_HELP = {
    "github": "owner/repository",
    "gitlab": "group/project (subgroups allowed)",
    "jira": "a project key such as OPS",
}


def headers(tracker, token):
    """The request headers carrying the token, as each API documents them."""
    if tracker.kind == "github":
        found = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        return found | ({"Authorization": f"Bearer {token}"} if token else {})
    if not token:
        return {}
    if tracker.kind == "gitlab":
        return {"PRIVATE-TOKEN": token}
    if ":" in token:  # Jira Cloud: e-mail:API token, as basic authentication
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": f"Bearer {token}"}  # Jira Data Center: a personal access token


def issue_api_url(tracker, key):
    """The REST address that reads the issue `key` (from issue_key)."""
    if tracker.kind == "github":
        owner, repo, number = key
        return f"{tracker.api_url}/repos/{owner}/{repo}/issues/{number}"
    if tracker.kind == "gitlab":
        path, iid = key
        return f"{tracker.api_url}/projects/{quote(path, safe='')}/issues/{iid}"
    (issue,) = key
    return f"{tracker.api_url}/rest/api/2/issue/{issue}?fields=status,resolution"


def reading(tracker, answer):
    """The Reading of an issue from the API's JSON answer; TrackerError if it is not one."""
    try:
        if tracker.kind == "github":
            return _github(answer)
        if tracker.kind == "gitlab":
            return _gitlab(answer)
        return _jira(answer)
    except (KeyError, TypeError, AttributeError):
        raise TrackerError(f"{label(tracker)}'s answer is not an issue", issue_only=True) from None


def _github(answer):
    state = answer["state"]
    if state == "open":
        return Reading("open", "open", ("in-progress",))
    if state == "closed":
        if answer.get("state_reason") == "not_planned":
            return Reading("closed (not planned)", "wont-do")
        return Reading("closed", "done")
    raise KeyError(state)


def _gitlab(answer):
    state = answer["state"]
    if state == "opened":
        return Reading("open", "open", ("in-progress",))
    if state == "closed":
        return Reading("closed", "done")
    raise KeyError(state)


def _jira(answer):
    fields = answer["fields"]
    status = fields["status"]
    name = str(status["name"])[:80]
    category = status["statusCategory"]["key"]
    if category == "done":
        resolution = (fields.get("resolution") or {}).get("name") or ""
        if resolution.replace("\u2019", "'").lower() in WONT_DO_RESOLUTIONS:
            return Reading(f"{name} ({resolution[:30]})", "wont-do")
        return Reading(name, "done")
    if category == "indeterminate":
        return Reading(name, "in-progress")
    return Reading(name, "open")


def create_request(tracker, title, description):
    """(REST address, JSON body) that open an issue in the tracker's project."""
    if tracker.kind == "github":
        body = {"title": title, "body": description}
        return f"{tracker.api_url}/repos/{tracker.project}/issues", body
    if tracker.kind == "gitlab":
        project = quote(tracker.project, safe="")
        return f"{tracker.api_url}/projects/{project}/issues", {
            "title": title,
            "description": description,
        }
    fields = {
        "project": {"key": tracker.project},
        "summary": title,
        "description": description,
        "issuetype": {"name": "Task"},
    }
    return f"{tracker.api_url}/rest/api/2/issue", {"fields": fields}


def created_url(tracker, answer):
    """The web address of the issue an API answer to create_request describes."""
    try:
        if tracker.kind == "github":
            url = answer["html_url"]
        elif tracker.kind == "gitlab":
            url = answer["web_url"]
        else:
            url = f"{tracker.web_url}/browse/{answer['key']}"
    except (KeyError, TypeError):
        raise TrackerError(f"{label(tracker)}'s answer does not name the new issue") from None
    if not isinstance(url, str) or issue_key(tracker, url) is None:
        raise TrackerError(
            f"{label(tracker)} opened the issue at {str(url)[:200]!r}, which does not start "
            f"with the tracker's WEB_URL {tracker.web_url}: link it by hand, and check the "
            f"tracker's settings (kb trackers list)"
        )
    return url
