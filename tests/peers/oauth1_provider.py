"""An OAuth 1.0a provider and API for the tests, verified by oauthlib.

oauthlib's RequestTokenEndpoint, AuthorizationEndpoint, AccessTokenEndpoint
and ResourceEndpoint check every signature with their own implementation of
RFC 5849, so a request that Latchkey signs wrongly gets a 401 here.

Usage: python oauth1_provider.py CONFIG_JSON, where CONFIG_JSON is
  {"clients": {"<consumer key>": {"secret": "...", "rsa_public_key": "<PEM>",
                                  "realm": "<realm its API requests must carry>"}},
   "tokens": {"<token>": {"secret": "...", "client": "<consumer key>"}}}
"rsa_public_key" and "realm" are optional.
"tokens" are access tokens that exist from the start, as the token id and
secret of token-based authentication do. The server binds 127.0.0.1 on a
free port and prints one JSON line {"port": N, "issuer": "http://..."}.

Routes: POST /request_token, GET /authorize (approves at once and
redirects to the callback), POST /access_token, any method on /api/...
(a protected resource that echoes the verified request as JSON), and
GET /__stats (counts of requests per route and of rejected signatures).
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    AuthorizationEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from oauthlib.oauth1.rfc5849 import errors

LOCK = threading.Lock()


class Validator(RequestValidator):
    """Stores clients and tokens in memory; every check is exact."""

    def __init__(self, config):
        super().__init__()
        self.clients = config.get("clients", {})
        self.request_tokens = {}
        self.access_tokens = dict(config.get("tokens", {}))
        self.verifiers = {}
        self.nonces = set()

    enforce_ssl = False
    client_key_length = (8, 64)
    request_token_length = (8, 64)
    access_token_length = (8, 128)
    nonce_length = (16, 64)
    verifier_length = (8, 64)
    realms = ["api"]
    dummy_client = "dummy-client-key"
    dummy_request_token = "dummy-request-token"
    dummy_access_token = "dummy-access-token"

    def check_access_token(self, token):
        low, high = self.access_token_length
        return low <= len(token) <= high and all(c.isalnum() or c in "-_" for c in token)

    def get_client_secret(self, client_key, request):
        return self.clients.get(client_key, {}).get("secret", "dummy-secret")

    def get_rsa_key(self, client_key, request):
        return self.clients.get(client_key, {}).get("rsa_public_key", "")

    def validate_client_key(self, client_key, request):
        return client_key in self.clients

    def get_request_token_secret(self, client_key, token, request):
        return self.request_tokens.get(token, {}).get("secret", "dummy-secret")

    def get_access_token_secret(self, client_key, token, request):
        return self.access_tokens.get(token, {}).get("secret", "dummy-secret")

    def validate_request_token(self, client_key, token, request):
        return self.request_tokens.get(token, {}).get("client") == client_key

    def validate_access_token(self, client_key, token, request):
        return self.access_tokens.get(token, {}).get("client") == client_key

    def validate_timestamp_and_nonce(
        self, client_key, timestamp, nonce, request, request_token=None, access_token=None
    ):
        key = (client_key, timestamp, nonce, request_token or access_token)
        with LOCK:
            if key in self.nonces:
                return False
            self.nonces.add(key)
        return True

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        return redirect_uri.startswith("http://127.0.0.1:")

    def validate_requested_realms(self, client_key, realms, request):
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        expected = self.clients.get(client_key, {}).get("realm")
        return expected is None or request.realm == expected

    def validate_verifier(self, client_key, token, verifier, request):
        stored = self.verifiers.get(token)
        return stored is not None and stored == verifier

    def verify_request_token(self, token, request):
        return token in self.request_tokens

    def verify_realms(self, token, realms, request):
        return True

    def get_default_realms(self, client_key, request):
        return ["api"]

    def get_realms(self, token, request):
        return self.request_tokens.get(token, {}).get("realms", ["api"])

    def get_redirect_uri(self, token, request):
        return self.request_tokens[token]["callback"]

    def save_request_token(self, token, request):
        self.request_tokens[token["oauth_token"]] = {
            "secret": token["oauth_token_secret"],
            "client": request.client_key,
            "callback": request.redirect_uri,
            "realms": request.realms or ["api"],
        }

    def save_verifier(self, token, verifier, request):
        self.verifiers[token] = verifier["oauth_verifier"]

    def invalidate_request_token(self, client_key, request_token, request):
        self.request_tokens.pop(request_token, None)
        self.verifiers.pop(request_token, None)

    def save_access_token(self, token, request):
        self.access_tokens[token["oauth_token"]] = {
            "secret": token["oauth_token_secret"],
            "client": request.client_key,
        }


def make_handler(validator, stats):
    request_endpoint = RequestTokenEndpoint(validator)
    authorization_endpoint = AuthorizationEndpoint(validator)
    access_endpoint = AccessTokenEndpoint(validator)
    resource_endpoint = ResourceEndpoint(validator)

    def count(name):
        with LOCK:
            stats[name] = stats.get(name, 0) + 1

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            sys.stderr.write("oauth1_provider: " + (format % args) + "\n")

        def uri(self):
            return "http://" + self.headers["Host"] + self.path

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length).decode("utf-8") if length else ""

        def reply(self, status, headers, body):
            body = body.encode("utf-8") if isinstance(body, str) else (body or b"")
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            path = urlsplit(self.path).path
            body = self.body()
            headers = dict(self.headers)
            if path == "/__stats":
                with LOCK:
                    return self.reply(200, {"Content-Type": "application/json"}, json.dumps(stats))
            if path == "/request_token":
                count("request_token")
                h, b, s = request_endpoint.create_request_token_response(
                    self.uri(), self.command, body, headers
                )
                if s != 200:
                    count("rejected")
                return self.reply(s, h, b)
            if path == "/authorize":
                count("authorize")
                try:
                    h, b, s = authorization_endpoint.create_authorization_response(
                        self.uri(), self.command, body, headers, realms=["api"]
                    )
                except errors.OAuth1Error as error:
                    return self.reply(error.status_code, {}, error.urlencoded)
                return self.reply(s, h, b)
            if path == "/access_token":
                count("access_token")
                h, b, s = access_endpoint.create_access_token_response(
                    self.uri(), self.command, body, headers
                )
                if s != 200:
                    count("rejected")
                return self.reply(s, h, b)
            if path.startswith("/api/"):
                count("api")
                valid, request = resource_endpoint.validate_protected_resource_request(
                    self.uri(), self.command, body, headers, realms=["api"]
                )
                if not valid:
                    count("rejected")
                    log = getattr(request, "validator_log", {})
                    problem = {
                        "error": "invalid_request",
                        "checks": {name: bool(ok) for name, ok in log.items()},
                    }
                    return self.reply(401, {"Content-Type": "application/json"}, json.dumps(problem))
                echo = {
                    "method": self.command,
                    "path": path,
                    "query": parse_qsl(urlsplit(self.path).query, keep_blank_values=True),
                    "body": body,
                    "client_key": request.client_key,
                    "token": request.resource_owner_key,
                    "signature_method": request.signature_method,
                    "realm": request.realm,
                }
                return self.reply(200, {"Content-Type": "application/json"}, json.dumps(echo))
            return self.reply(404, {"Content-Type": "text/plain"}, "not found")

        do_GET = handle_any
        do_POST = handle_any
        do_PUT = handle_any
        do_DELETE = handle_any

    return Handler


def main():
    config = json.loads(sys.argv[1])
    stats = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Validator(config), stats))
    port = server.server_address[1]
    print(json.dumps({"port": port, "issuer": f"http://127.0.0.1:{port}"}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
