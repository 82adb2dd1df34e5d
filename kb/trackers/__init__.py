"""Issue trackers that action items follow: GitHub, GitLab and Jira.

`setup` adds, lists and removes trackers; `kinds` knows each tracker's links and REST API;
`http` makes the requests (bounded, the token read from the environment when needed and
never shown); `sync` reads the issues action items link to and moves the items' status
through the postmortem's write path; `creating` opens an issue for an action item.
"""
