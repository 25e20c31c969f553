"""Token, login and API server for the two_step and session tests.

It checks the exact body and headers of each token or login request, issues
short-lived tokens, and serves an API that accepts only live tokens. It uses
the standard library only.

Usage: python two_step_server.py PORT TOKEN_LIFETIME_SECONDS

Token endpoints (the credentials they accept are the constants below):
  POST /json/login     JSON body {"user", "secret", "options": {"remember": true}}
                       and header X-Client-Id; replies {"data": {"jwt", "ttl"}}
                       with ttl in seconds.
  POST /form/token     form body grant_type=password&username&password and
                       Authorization: Basic base64(client_id:client_secret);
                       replies {"access_token", "expires_ms"}.
  POST /bill/login     JSON body {"username", "password", "organizationId",
                       "devKey"}; replies {"sessionId", "organizationId"}.
  POST /dated/login    JSON body {"user", "expirationDate"}, where the date is
                       the UTC date seven days ahead (YYYY-MM-DD), and header
                       X-Sent-At with the Unix time within 60 seconds of this
                       server's clock; replies {"token"}.
  GET /chain/info      step 1 of a login chain: no body; replies
                       {"IdentityServiceUrl": "<this server>/chain/identity"}.
                       With a query it names /chain/uncounted instead, whose
                       step 2 is alike but not counted in /stats, so that a
                       test can leave the counts of another test alone.
                       The query reply=missing leaves IdentityServiceUrl out,
                       and reply=plain-http names http://localhost:<port>,
                       another origin, as unusable replies.
  GET /chain/identity/.well-known/openid-configuration
                       step 2: replies {"token_endpoint": "<this server>/chain/token"}.
  POST /chain/token    step 3: form body grant_type=password&username&password
                       and the header X-Step-One: <IdentityServiceUrl of step 1>;
                       replies {"access_token", "expires_in"}.
  POST /cc/token       form body, exactly
                       client_id=client-7&client_secret=client-secret-7&grant_type=client_credentials&username=ada
                       (no session_id); replies {"access_token", "expires_in"}.
  POST /cookie/login   JSON body {"UserName", "Password"}; replies
                       {"SessionId"} and sets the cookies B1SESSION=<session>
                       and ROUTEID=.node1, each with attributes.
API:
  GET /api/...         needs Authorization: Bearer <live two-step or chain token>.
  GET /cookie/api/...  needs exactly Cookie: B1SESSION=<live session>; ROUTEID=.node1.
  GET /bill/api/...    needs headers sessionId (live) and devKey.
  GET /stats           the number of tokens issued per endpoint.
"""

import base64
import datetime
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

USERNAME = "ada"
PASSWORD = "pw-correct-horse"
CLIENT_ID = "client-7"
CLIENT_SECRET = "client-secret-7"
ORGANIZATION_ID = "org-00801"
DEV_KEY = "dev-key-42"

LOCK = threading.Lock()
TOKENS = {}  # token -> (endpoint, expiry as time.monotonic())
ISSUED = {"json": 0, "form": 0, "bill": 0, "dated": 0, "chain": 0, "cookie": 0, "cc": 0}
# Requests received by the first two steps of the login chain.
CHAIN_STEPS = {"info": 0, "identity": 0}


def issue(endpoint, lifetime):
    token = secrets.token_hex(16)
    with LOCK:
        TOKENS[token] = (endpoint, time.monotonic() + lifetime)
        ISSUED[endpoint] += 1
    return token


def live(token, endpoint):
    with LOCK:
        entry = TOKENS.get(token)
    return entry is not None and entry[0] == endpoint and time.monotonic() < entry[1]


class Handler(BaseHTTPRequestHandler):
    lifetime = 2

    def log_message(self, format, *args):
        sys.stderr.write("two_step_server: " + (format % args) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()

    def do_POST(self):
        if self.path == "/json/login":
            self.json_login()
        elif self.path == "/form/token":
            self.form_token()
        elif self.path == "/bill/login":
            self.bill_login()
        elif self.path == "/dated/login":
            self.dated_login()
        elif self.path == "/chain/token":
            self.chain_token()
        elif self.path == "/cc/token":
            self.cc_token()
        elif self.path == "/cookie/login":
            self.cookie_login()
        else:
            self.reply(404, {"message": f"no route {self.path}"})

    def json_login(self):
        if self.content_type() != "application/json":
            return self.reply(415, {"message": "Content-Type must be application/json"})
        if self.headers.get("X-Client-Id") != CLIENT_ID:
            return self.reply(400, {"message": "missing or wrong X-Client-Id header"})
        try:
            body = json.loads(self.body())
        except ValueError:
            return self.reply(400, {"message": "the body is not JSON"})
        expected = {"user": USERNAME, "secret": PASSWORD, "options": {"remember": True}}
        if set(body) != set(expected) or body["options"] != expected["options"]:
            return self.reply(400, {"message": f"unexpected body keys {sorted(body)}"})
        if body["user"] != USERNAME or body["secret"] != PASSWORD:
            return self.reply(401, {"message": "invalid user or secret"})
        token = issue("json", self.lifetime)
        self.reply(200, {"data": {"jwt": token, "ttl": self.lifetime}})

    def form_token(self):
        if self.content_type() != "application/x-www-form-urlencoded":
            return self.reply(415, {"message": "Content-Type must be form-encoded"})
        expected_basic = "Basic " + base64.b64encode(
            f"{CLIENT_ID}:{CLIENT_SECRET}".encode()
        ).decode()
        if self.headers.get("Authorization") != expected_basic:
            return self.reply(401, {"message": "wrong client authentication"})
        form = parse_qs(self.body().decode(), keep_blank_values=True)
        if sorted(form) != ["grant_type", "password", "username"]:
            return self.reply(400, {"message": f"unexpected form keys {sorted(form)}"})
        if form["grant_type"] != ["password"]:
            return self.reply(400, {"message": "grant_type must be password"})
        if form["username"] != [USERNAME] or form["password"] != [PASSWORD]:
            return self.reply(401, {"message": "invalid username or password"})
        token = issue("form", self.lifetime)
        self.reply(200, {"access_token": token, "expires_ms": self.lifetime * 1000})

    def cc_token(self):
        expected = (
            f"client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
            f"&grant_type=client_credentials&username={USERNAME}"
        )
        body = self.body().decode()
        if body != expected:
            return self.reply(401, {"message": f"unexpected body {body}"})
        token = issue("cc", self.lifetime)
        self.reply(200, {"access_token": token, "expires_in": self.lifetime})

    def bill_login(self):
        if self.content_type() != "application/json":
            return self.reply(415, {"message": "Content-Type must be application/json"})
        body = json.loads(self.body() or b"{}")
        expected = {
            "username": USERNAME,
            "password": PASSWORD,
            "organizationId": ORGANIZATION_ID,
            "devKey": DEV_KEY,
        }
        if body != expected:
            return self.reply(
                400,
                [{"error_code": "BDC_1109", "error_message": "Invalid login credentials"}],
            )
        session = issue("bill", self.lifetime)
        self.reply(200, {"sessionId": session, "organizationId": ORGANIZATION_ID})

    def dated_login(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        # The date a moment earlier too, in case the request crossed midnight.
        expected_dates = {
            (moment + datetime.timedelta(days=7)).strftime("%Y-%m-%d")
            for moment in (now, now - datetime.timedelta(seconds=5))
        }
        try:
            sent_at = int(self.headers.get("X-Sent-At", ""))
        except ValueError:
            return self.reply(400, {"message": "X-Sent-At is not a Unix time"})
        if abs(sent_at - now.timestamp()) > 60:
            return self.reply(400, {"message": f"X-Sent-At {sent_at} is not the current time"})
        body = json.loads(self.body() or b"{}")
        if body.get("user") != USERNAME:
            return self.reply(401, {"message": "invalid user"})
        if body.get("expirationDate") not in expected_dates:
            return self.reply(
                400,
                {"message": f"expirationDate {body.get('expirationDate')!r} is not "
                            f"one of {sorted(expected_dates)}"},
            )
        self.reply(200, {"token": issue("dated", self.lifetime)})

    def origin(self):
        return f"http://{self.headers.get('Host')}"

    def chain_step(self, name, body):
        if self.headers.get("Content-Length") not in (None, "0"):
            return self.reply(400, {"message": f"step {self.path} takes no body"})
        if name is not None:
            with LOCK:
                CHAIN_STEPS[name] += 1
        self.reply(200, body)

    def chain_token(self):
        if self.content_type() != "application/x-www-form-urlencoded":
            return self.reply(415, {"message": "Content-Type must be form-encoded"})
        services = (self.origin() + "/chain/identity", self.origin() + "/chain/uncounted")
        if self.headers.get("X-Step-One") not in services:
            return self.reply(400, {"message": "X-Step-One is not the URL that step 1 gave"})
        form = parse_qs(self.body().decode(), keep_blank_values=True)
        if sorted(form) != ["grant_type", "password", "username"]:
            return self.reply(400, {"message": f"unexpected form keys {sorted(form)}"})
        if form["grant_type"] != ["password"] or form["username"] != [USERNAME]:
            return self.reply(400, {"message": "grant_type or username is wrong"})
        if form["password"] != [PASSWORD]:
            # Echoes the password, as some providers do, so that the test can
            # check that Latchkey redacts it.
            return self.reply(401, {"message": f"wrong password {form['password'][0]}"})
        token = issue("chain", self.lifetime)
        self.reply(200, {"access_token": token, "expires_in": self.lifetime})

    def cookie_login(self):
        body = json.loads(self.body() or b"{}")
        if body != {"UserName": USERNAME, "Password": PASSWORD}:
            return self.reply(401, {"error": {"message": "invalid user name or password"}})
        session = issue("cookie", self.lifetime)
        data = json.dumps({"SessionId": session}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", f"B1SESSION={session}; path=/b1s/v1; Secure; HttpOnly")
        self.send_header("Set-Cookie", "ROUTEID=.node1; path=/b1s")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                return self.reply(200, {**ISSUED, **CHAIN_STEPS})
        if self.path.split("?")[0] == "/chain/info":
            # Only requests without a query are counted, so that a test that
            # adds one does not change the counts another test checks.
            counted = self.path == "/chain/info"
            service = "/chain/identity" if counted else "/chain/uncounted"
            query = self.path.partition("?")[2]
            if query == "reply=missing":
                return self.chain_step(None, {"ServiceName": "identity"})
            if query == "reply=plain-http":
                port = self.server.server_address[1]
                return self.chain_step(None, {"IdentityServiceUrl": f"http://localhost:{port}{service}"})
            return self.chain_step(
                "info" if counted else None, {"IdentityServiceUrl": self.origin() + service}
            )
        discovery = "/.well-known/openid-configuration"
        if self.path in ("/chain/identity" + discovery, "/chain/uncounted" + discovery):
            counted = self.path.startswith("/chain/identity")
            return self.chain_step(
                "identity" if counted else None, {"token_endpoint": self.origin() + "/chain/token"}
            )
        if self.path.startswith("/api/"):
            authorization = self.headers.get("Authorization") or ""
            token = authorization.removeprefix("Bearer ")
            if not authorization.startswith("Bearer ") or not (
                live(token, "json") or live(token, "form") or live(token, "chain")
            ):
                return self.reply(401, {"message": "missing, unknown or expired token"})
            return self.reply(200, {"path": self.path, "token": token})
        if self.path.startswith("/cookie/api/"):
            cookie = self.headers.get("Cookie") or ""
            session = cookie.removeprefix("B1SESSION=").removesuffix("; ROUTEID=.node1")
            if cookie != f"B1SESSION={session}; ROUTEID=.node1" or not live(session, "cookie"):
                return self.reply(401, {"message": f"unexpected Cookie header {cookie!r}"})
            return self.reply(200, {"path": self.path, "session": session})
        if self.path.startswith("/bill/api/"):
            if self.headers.get("devKey") != DEV_KEY:
                return self.reply(401, {"message": "missing or wrong devKey header"})
            session = self.headers.get("sessionId") or ""
            if not live(session, "bill"):
                return self.reply(401, {"message": "missing, unknown or expired session"})
            return self.reply(200, {"path": self.path, "sessionId": session})
        self.reply(404, {"message": f"no route {self.path}"})


def main():
    port = int(sys.argv[1])
    Handler.lifetime = int(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
