"""Test peer for the `app` auth mode: it plays GitHub for a GitHub App, and
checks the app JWT with PyJWT, independently of Latchkey's Rust signing code.

At start it generates the app's RSA key and a second RSA key that the app
does not know, and writes both private keys into --key-dir (app.pem in
PKCS#1, the format of the keys GitHub issues, and other.pem).

Routes:
  GET  /apps/test-app/installations/new?state=S
                       the install page: installs the app under a new
                       installation id and redirects to --setup-url with
                       installation_id, setup_action=install, state, and
                       the `code` of the user's authorization during the
                       install
  POST /login/oauth/access_token
                       the OAuth code exchange of that authorization, with
                       the app's client id and secret in the form body
  POST /app/installations/{id}/access_tokens
                       GitHub's installation token endpoint: takes the app
                       JWT as a bearer token, replies with `token` and an
                       ISO 8601 `expires_at`
  GET  /installation/repositories
                       an API route that takes an installation token as
                       `Authorization: Bearer <token>` or `token <token>`
  GET  /user           an API route that takes a user token the same way
  GET  /stats          counts of token requests by outcome, and per
                       installation id the tokens issued and the header and
                       claims of the last verified app JWT
"""

import argparse
import datetime
import json
import pathlib
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_ROUTE = re.compile(r"^/app/installations/([^/]+)/access_tokens$")
# GitHub rejects an app JWT whose `exp` is more than 10 minutes ahead.
MAX_JWT_SECONDS_AHEAD = 600


class State:
    def __init__(self, key_dir, app_id, client_id, client_secret, setup_url, token_ttl):
        self.app_id = app_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.codes = set()
        self.user_tokens = set()
        self.setup_url = setup_url
        self.token_ttl = token_ttl
        self.lock = threading.Lock()
        self.installations = set()
        self.tokens = {}
        # Per installation id: tokens issued, and the last verified app JWT.
        self.issued_by_installation = {}
        self.jwt_by_installation = {}
        self.stats = {"token_requests": 0, "tokens_issued": 0, "jwt_rejected": 0,
                      "unknown_installation": 0, "api_calls": 0, "api_rejected": 0}

        app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = app_key.public_key()
        key_dir = pathlib.Path(key_dir)
        key_dir.mkdir(parents=True, exist_ok=True)
        for name, key, private_format in (
            ("app.pem", app_key, serialization.PrivateFormat.TraditionalOpenSSL),
            ("other.pem", other_key, serialization.PrivateFormat.PKCS8),
        ):
            pem = key.private_bytes(serialization.Encoding.PEM, private_format,
                                    serialization.NoEncryption())
            (key_dir / name).write_bytes(pem)

    def count(self, name):
        with self.lock:
            self.stats[name] += 1

    def verify(self, token):
        """Verify the app JWT as GitHub does: RS256 with the app's public key,
        `iss` equal to the app id, `exp` in the future but at most 10 minutes
        ahead, `iat` in the past."""
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            self.public_key,
            algorithms=["RS256"],
            issuer=self.app_id,
            options={"require": ["iss", "iat", "exp"]},
        )
        now = time.time()
        if claims["exp"] > now + MAX_JWT_SECONDS_AHEAD:
            raise jwt.InvalidTokenError("'exp' is more than 10 minutes in the future")
        if claims["iat"] > now:
            raise jwt.ImmatureSignatureError("'iat' is in the future")
        return header, claims


class Handler(BaseHTTPRequestHandler):
    state = None

    def log_message(self, format, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/stats":
            with self.state.lock:
                return self.reply(200, dict(
                    self.state.stats,
                    issued_by_installation=self.state.issued_by_installation,
                    jwt_by_installation=self.state.jwt_by_installation,
                ))
        if url.path == "/apps/test-app/installations/new":
            return self.install(urllib.parse.parse_qs(url.query))
        if url.path == "/installation/repositories":
            return self.repositories()
        if url.path == "/user":
            return self.user()
        self.reply(404, {"message": "route not found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/login/oauth/access_token":
            return self.user_access_token()
        match = TOKEN_ROUTE.match(path)
        if match:
            return self.access_token(match.group(1))
        self.reply(404, {"message": "route not found"})

    def install(self, query):
        installation_id = str(10_000_000 + secrets.randbelow(90_000_000))
        with self.state.lock:
            self.state.installations.add(installation_id)
        code = secrets.token_urlsafe(16)
        with self.state.lock:
            self.state.codes.add(code)
        params = {"installation_id": installation_id, "setup_action": "install", "code": code}
        if "state" in query:
            params["state"] = query["state"][0]
        location = self.state.setup_url + "?" + urllib.parse.urlencode(params)
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def access_token(self, installation_id):
        self.state.count("token_requests")
        if not self.headers.get("User-Agent"):
            return self.reply(403, {"message": "a User-Agent header is required"})
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            self.state.count("jwt_rejected")
            return self.reply(401, {"message": "the app JWT is missing"})
        try:
            header, claims = self.state.verify(authorization[len("Bearer "):])
        except jwt.PyJWTError as error:
            self.state.count("jwt_rejected")
            return self.reply(401, {"message": f"the app JWT failed verification: {error}"})
        with self.state.lock:
            known = installation_id in self.state.installations
            if known:
                self.state.jwt_by_installation[installation_id] = {"header": header,
                                                                   "claims": claims}
        if not known:
            self.state.count("unknown_installation")
            return self.reply(404, {"message": f"no installation {installation_id} of this app"})

        token = "ghs_" + secrets.token_urlsafe(27)
        expires_at = time.time() + self.state.token_ttl
        with self.state.lock:
            self.state.tokens[token] = {"installation_id": installation_id,
                                        "expires_at": expires_at}
            self.state.stats["tokens_issued"] += 1
            issued = self.state.issued_by_installation
            issued[installation_id] = issued.get(installation_id, 0) + 1
        stamp = datetime.datetime.fromtimestamp(expires_at, datetime.timezone.utc)
        self.reply(201, {
            "token": token,
            "expires_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": {"contents": "read"},
            "repository_selection": "all",
        })

    def user_access_token(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = {key: values[0] for key, values in
                urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        if (form.get("client_id") != self.state.client_id
                or form.get("client_secret") != self.state.client_secret):
            return self.reply(401, {"error": "incorrect_client_credentials",
                                    "error_description": "the client id or secret is wrong"})
        with self.state.lock:
            known = form.get("code") in self.state.codes
            self.state.codes.discard(form.get("code"))
        if not known:
            return self.reply(400, {"error": "bad_verification_code",
                                    "error_description": "the code is unknown or used"})
        token = "ghu_" + secrets.token_urlsafe(27)
        with self.state.lock:
            self.state.user_tokens.add(token)
        self.reply(200, {"access_token": token, "token_type": "bearer", "scope": "",
                         "expires_in": 28800, "refresh_token": "ghr_" + secrets.token_urlsafe(27)})

    def user(self):
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        with self.state.lock:
            known = scheme in ("Bearer", "token") and token in self.state.user_tokens
        if not known:
            return self.reply(401, {"message": "bad user token"})
        self.reply(200, {"login": "octo-user"})

    def repositories(self):
        self.state.count("api_calls")
        authorization = self.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        with self.state.lock:
            issued = self.state.tokens.get(token) if scheme in ("Bearer", "token") else None
        if issued is None or issued["expires_at"] <= time.time():
            self.state.count("api_rejected")
            return self.reply(401, {"message": "bad or expired installation token"})
        self.reply(200, {"total_count": 0, "repositories": [],
                         "installation_id": issued["installation_id"]})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key-dir", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--setup-url", required=True,
                        help="where the install page redirects, Latchkey's callback")
    parser.add_argument("--token-ttl", type=int, default=3600,
                        help="lifetime of issued installation tokens, in seconds")
    args = parser.parse_args()
    Handler.state = State(args.key_dir, args.app_id, args.client_id, args.client_secret,
                          args.setup_url, args.token_ttl)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
