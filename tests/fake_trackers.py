"""A local HTTP server that speaks the documented subset of the GitHub, GitLab and Jira issue
APIs Hindsight uses: read one issue, open one, the token checked as each API documents it.

GitHub: GET/POST {prefix}/repos/{owner}/{repo}/issues[/{number}] with `Authorization: Bearer`.
GitLab: GET/POST {prefix}/projects/{url-encoded path}/issues[/{iid}] with `PRIVATE-TOKEN`.
Jira:   GET {prefix}/rest/api/2/issue/{KEY}?fields=... and POST {prefix}/rest/api/2/issue with
        `Authorization: Bearer` or `Basic` (e-mail:API token).
"""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class FakeTracker:
    """One fake tracker: `issues` maps a key (see route) to the issue's JSON; `requests`
    records (method, path, headers in lower case, body) of every request; `broken` makes it
    answer badly: an HTTP status code, "not-json", "echo" (a 500 whose reason repeats the
    Authorization header) or "slow" (answers after `slow_seconds`)."""

    def __init__(self, kind, *, token=None, web_url, prefix=""):
        self.kind, self.token, self.web_url, self.prefix = kind, token, web_url, prefix
        self.issues = {}
        self.requests = []
        self.broken = None
        self.slow_seconds = 2.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # -- what each API says -------------------------------------------------------------

    def authorised(self, headers):
        if self.token is None:
            return True
        if self.kind == "gitlab":
            return headers.get("PRIVATE-TOKEN") == self.token
        given = headers.get("Authorization", "")
        if self.kind == "jira" and given.startswith("Basic "):
            return base64.b64decode(given[6:]).decode() == self.token
        return given == f"Bearer {self.token}"

    def route(self, method, path, body):
        """(status, JSON) for a request to `path` (without the prefix)."""
        parts = path.split("/")[1:]
        if self.kind == "github" and parts[:1] == ["repos"] and len(parts) in (4, 5):
            owner, repo = parts[1], parts[2]
            if len(parts) == 5 and method == "GET":
                return self._found((owner, repo, parts[4]))
            if len(parts) == 4 and method == "POST":
                number = str(len(self.issues) + 100)
                self.issues[(owner, repo, number)] = {"number": int(number), "state": "open"}
                url = f"{self.web_url}/{owner}/{repo}/issues/{number}"
                return 201, {"number": int(number), "html_url": url, **body}
        if self.kind == "gitlab" and parts[:1] == ["projects"] and len(parts) in (3, 4):
            project = unquote(parts[1])
            if len(parts) == 4 and method == "GET":
                return self._found((project, parts[3]))
            if len(parts) == 3 and method == "POST":
                iid = str(len(self.issues) + 7)
                self.issues[(project, iid)] = {"iid": int(iid), "state": "opened"}
                url = f"{self.web_url}/{project}/-/issues/{iid}"
                return 201, {"iid": int(iid), "web_url": url, **body}
        if self.kind == "jira" and parts[:4] == ["rest", "api", "2", "issue"]:
            if len(parts) == 5 and method == "GET":
                return self._found((parts[4],))
            if len(parts) == 4 and method == "POST":
                fields = body["fields"]
                key = f"{fields['project']['key']}-{len(self.issues) + 40}"
                self.issues[(key,)] = {"key": key, "fields": fields}
                return 201, {"id": "10001", "key": key, "self": f"{self.api_url}/issue/{key}"}
        return 404, {"message": "Not Found"}

    def _found(self, key):
        issue = self.issues.get(key)
        return (200, issue) if issue is not None else (404, {"message": "Not Found"})

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                split = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append((method, self.path, headers, body))
                if fake.broken == "slow":
                    time.sleep(fake.slow_seconds)
                if not split.path.startswith(fake.prefix + "/"):
                    status, answer = 404, {"message": "Not Found"}
                elif not fake.authorised(self.headers):
                    status, answer = 401, {"message": "Bad credentials"}
                elif isinstance(fake.broken, int):
                    status, answer = fake.broken, {"message": "broken"}
                else:
                    status, answer = fake.route(method, split.path[len(fake.prefix) :], body)
                data = b"<html>oops" if fake.broken == "not-json" else json.dumps(answer).encode()
                if fake.broken == "echo":  # a server that repeats the credentials it was sent
                    status = 500
                    self.send_response(status, f"Bad {self.headers.get('Authorization')}")
                else:
                    self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

        return Handler
