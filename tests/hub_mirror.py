"""A tiny local Hugging Face Hub mirror (HTTP on 127.0.0.1) for the download tests.

It answers what ``huggingface_hub`` asks when downloading files:

* ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}``: the file, with the
  ``X-Repo-Commit`` and ``ETag`` headers the client needs;
* ``GET /api/models/{repo_id}/revision/{revision}``: the repository's file list
  (``snapshot_download``);

a repository it does not hold gets 404 with ``X-Error-Code: RepoNotFound``, a
missing file 404 with ``EntryNotFound``, and the repositories in
``failing`` HTTP 500.
"""

import hashlib
import http.server
import json
import threading
from pathlib import Path
from typing import Dict, Iterator, Set
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubMirror:
    """Serves ``repos`` (repo id -> {filename: path}) until ``close``.

    Arguments
    ---------
    repos : dict
        Repository id -> files (name -> local path).
    failing : set of str
        Repository ids answered with HTTP 500.
    """

    def __init__(self, repos: Dict[str, Dict[str, Path]], failing: Set[str] = frozenset()):
        self.repos = repos
        self.failing = set(failing)
        self.requests = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                mirror.answer(self, body=False)

            def do_GET(self):
                mirror.answer(self, body=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 5
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _send(self, handler, status: int, headers: dict, data: bytes, body: bool) -> None:
        handler.send_response(status)
        headers = {"X-Repo-Commit": COMMIT, "Content-Length": str(len(data)), **headers}
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    def answer(self, handler, body: bool) -> None:
        path = unquote(handler.path.split("?")[0])
        self.requests.append((handler.command, path))
        if path.startswith("/api/models/"):
            repo_id, _, _revision = path[len("/api/models/") :].partition("/revision/")
            files = None
        else:
            repo_id, _, rest = path.lstrip("/").partition("/resolve/")
            _revision, _, filename = rest.partition("/")
            files = filename
        if repo_id in self.failing:
            return self._send(handler, 500, {}, b"Internal Server Error", body)
        if repo_id not in self.repos:
            headers = {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}
            return self._send(handler, 404, headers, b"Repository not found", body)
        repo = self.repos[repo_id]
        if files is None:
            info = {
                "id": repo_id,
                "sha": COMMIT,
                "siblings": [{"rfilename": name} for name in sorted(repo)],
            }
            data = json.dumps(info).encode()
            return self._send(handler, 200, {"Content-Type": "application/json"}, data, body)
        if files not in repo:
            headers = {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"}
            return self._send(handler, 404, headers, b"Entry not found", body)
        data = Path(repo[files]).read_bytes()
        etag = hashlib.sha256(data).hexdigest()
        self._send(handler, 200, {"ETag": f'"{etag}"'}, data, body)


def serve(repos, failing=frozenset()) -> Iterator[HubMirror]:
    """Generator for a pytest fixture: a running mirror, closed afterwards."""
    mirror = HubMirror(repos, failing)
    try:
        yield mirror
    finally:
        mirror.close()
