"""A header-collapsing backend for the proxy tests: a WSGI app on Python's stdlib wsgiref.

wsgiref turns `-` into `_` in header names, so `X-Auth-Request-User` and `X_Auth_Request_User`
land on one HTTP_X_AUTH_REQUEST_USER (comma-joined). CGI, PHP and nginx's $http_ variables
also map every other character that is not a letter or digit (`.`, `~`, ...) to `_`; this app
does that too, so every alias form of a header shows up under one name.

Every request is answered with JSON {"path", "seen": {NAME: [values]}} and appended to the
journal (one JSON line each), so a test can also check requests it did not see answered.

    python3 header_echo.py PORT JOURNAL
"""

import json
import re
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

PORT = int(sys.argv[1])
JOURNAL = sys.argv[2]
IDENTITY = ("HTTP_X_AUTH_REQUEST_", "HTTP_AUTHORIZATION")


def collapse(key):
    return re.sub(r"[^A-Z0-9]", "_", key.upper())


def app(environ, start_response):
    seen = {}
    for key, value in environ.items():
        name = collapse(key)
        if key.startswith("HTTP_") and name.startswith(IDENTITY):
            seen.setdefault(name, []).append(value)
    record = {"path": environ.get("PATH_INFO", ""), "seen": seen}
    with open(JOURNAL, "a", encoding="utf-8") as journal:
        journal.write(json.dumps(record) + "\n")
    body = json.dumps(record).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


make_server("127.0.0.1", PORT, app, server_class=Server, handler_class=Quiet).serve_forever()
