"""A stand-in for Microsoft's admin consent endpoints, for
tests/admin_consent.rs. It uses the standard library only.

Usage: python admin_consent_peer.py PORT CLIENT_ID CLIENT_SECRET TOKEN_LIFETIME_SECONDS

GET /{tenant}/adminconsent?client_id&state&redirect_uri
    Records the query and redirects (302) to redirect_uri with
    tenant={tenant}&admin_consent=True&state={state}. Two tenants script
    other outcomes: `denied` redirects with error=access_denied and an
    error_description, and `other` redirects as if an administrator of
    tenant `ffffffff-0000-0000-0000-000000000000` had consented.
POST /{tenant}/oauth2/v2.0/token
    The client-credentials grant: a form body with grant_type,
    client_id, client_secret and scope. Records the exact body and
    replies {"access_token", "token_type", "expires_in"} for the right
    client, or HTTP 401 {"error": "invalid_client"}.
GET /api/me
    Needs Authorization: Bearer <live token>; replies {"tenant"}.
GET /requests
    JSON {"consent": [query strings], "token": [{"path", "body"}]}.
"""

import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

OTHER_TENANT = "ffffffff-0000-0000-0000-000000000000"

LOCK = threading.Lock()
TOKENS = {}  # token -> (tenant, expiry as time.monotonic())
CONSENT_QUERIES = []
TOKEN_REQUESTS = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write(format % args + "\n")

    def reply_json(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/requests":
            with LOCK:
                self.reply_json(200, {"consent": CONSENT_QUERIES, "token": TOKEN_REQUESTS})
            return
        if url.path == "/api/me":
            self.api_me()
            return
        if len(parts) == 2 and parts[1] == "adminconsent":
            self.consent(parts[0], url.query)
            return
        self.reply_json(404, {"error": "not_found"})

    def consent(self, tenant, query):
        with LOCK:
            CONSENT_QUERIES.append(query)
        params = {key: values[0] for key, values in parse_qs(query).items()}
        if params.get("client_id") != CLIENT_ID or "redirect_uri" not in params:
            self.reply_json(400, {"error": "invalid_request"})
            return
        if tenant == "denied":
            answer = {
                "error": "access_denied",
                "error_description": "The administrator declined to consent.",
                "state": params.get("state", ""),
            }
        else:
            answer = {
                "tenant": OTHER_TENANT if tenant == "other" else tenant,
                "admin_consent": "True",
                "state": params.get("state", ""),
            }
        self.send_response(302)
        self.send_header("Location", f"{params['redirect_uri']}?{urlencode(answer)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def api_me(self):
        header = self.headers.get("Authorization", "")
        token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        with LOCK:
            entry = TOKENS.get(token)
        if entry is None or time.monotonic() >= entry[1]:
            self.reply_json(401, {"error": "invalid_token"})
            return
        self.reply_json(200, {"tenant": entry[0]})

    def do_POST(self):
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            self.reply_json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        with LOCK:
            TOKEN_REQUESTS.append({"path": url.path, "body": body})
        form = {key: values[0] for key, values in parse_qs(body).items()}
        if form.get("grant_type") != "client_credentials":
            self.reply_json(400, {"error": "unsupported_grant_type"})
            return
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            self.reply_json(401, {"error": "invalid_client"})
            return
        token = secrets.token_hex(16)
        with LOCK:
            TOKENS[token] = (parts[0], time.monotonic() + LIFETIME)
        self.reply_json(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME}
        )


if __name__ == "__main__":
    port = int(sys.argv[1])
    CLIENT_ID = sys.argv[2]
    CLIENT_SECRET = sys.argv[3]
    LIFETIME = int(sys.argv[4])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
