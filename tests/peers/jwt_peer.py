"""Test peer for the `jwt` auth mode: a token endpoint and an API that
check JWTs with PyJWT, independently of Latchkey's Rust signing code.

At start it generates an RSA key, a P-256 key and an HMAC secret, writes
the private halves into --key-dir (rsa.pem, ec.pem, hmac.hex) for the test
to enter, and keeps the public halves to verify with.

Routes:
  POST /token          the JWT bearer grant (RFC 7523) with an RS256
                       assertion, replying like Google's token endpoint
  GET  /api/whoami     an API that takes `Authorization: Bearer <token>`:
                       a token issued by /token, or a JWT signed with one
                       of the three keys (RS256, ES256, HS256)
  GET  /stats          counts of token requests, by outcome
"""

import argparse
import json
import pathlib
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REQUIRED_CLAIMS = ["iss", "aud", "iat", "exp"]


class State:
    def __init__(self, key_dir, audience, access_token_ttl):
        self.audience = audience
        self.access_token_ttl = access_token_ttl
        self.lock = threading.Lock()
        self.issued = {}
        self.stats = {"token_requests": 0, "tokens_issued": 0, "assertions_rejected": 0,
                      "api_calls": 0, "api_rejected": 0}

        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        self.hmac_secret = secrets.token_bytes(32)
        self.public_keys = {
            "RS256": rsa_key.public_key(),
            "ES256": ec_key.public_key(),
            "HS256": self.hmac_secret,
        }
        key_dir = pathlib.Path(key_dir)
        key_dir.mkdir(parents=True, exist_ok=True)
        for name, key in (("rsa.pem", rsa_key), ("ec.pem", ec_key)):
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            (key_dir / name).write_bytes(pem)
        (key_dir / "hmac.hex").write_text(self.hmac_secret.hex())

    def count(self, name):
        with self.lock:
            self.stats[name] += 1

    def verify(self, token, algorithms):
        """Verify a JWT's signature, expiry and audience with PyJWT."""
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in algorithms:
            raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted here")
        return header, jwt.decode(
            token,
            self.public_keys[algorithm],
            algorithms=[algorithm],
            audience=self.audience,
            options={"require": REQUIRED_CLAIMS},
        )


class Handler(BaseHTTPRequestHandler):
    state = None

    def log_message(self, format, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/stats":
            with self.state.lock:
                return self.reply(200, dict(self.state.stats))
        if path == "/api/whoami":
            return self.whoami()
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token":
            return self.token()
        self.reply(404, {"error": "not_found"})

    def token(self):
        self.state.count("token_requests")
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        grant_type = form.get("grant_type", [""])[0]
        assertion = form.get("assertion", [""])[0]
        if grant_type != JWT_BEARER:
            self.state.count("assertions_rejected")
            return self.reply(400, {"error": "unsupported_grant_type",
                                    "error_description": f"grant_type {grant_type!r}"})
        try:
            _, claims = self.state.verify(assertion, ["RS256"])
        except jwt.PyJWTError as error:
            self.state.count("assertions_rejected")
            return self.reply(400, {"error": "invalid_grant",
                                    "error_description": f"Invalid JWT: {error}"})
        access_token = "ya29." + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.issued[access_token] = {
                "expires_at": time.time() + self.state.access_token_ttl,
                "claims": claims,
            }
            self.state.stats["tokens_issued"] += 1
        self.reply(200, {"access_token": access_token, "token_type": "Bearer",
                         "expires_in": self.state.access_token_ttl})

    def whoami(self):
        self.state.count("api_calls")
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            self.state.count("api_rejected")
            return self.reply(401, {"error": "missing bearer token"})
        token = authorization[len("Bearer "):]
        with self.state.lock:
            issued = self.state.issued.get(token)
        if issued is not None:
            if issued["expires_at"] <= time.time():
                self.state.count("api_rejected")
                return self.reply(401, {"error": "access token expired"})
            return self.reply(200, {"kind": "access_token", "claims": issued["claims"]})
        try:
            header, claims = self.state.verify(token, ["RS256", "ES256", "HS256"])
        except jwt.PyJWTError as error:
            self.state.count("api_rejected")
            return self.reply(401, {"error": f"invalid JWT: {error}"})
        self.reply(200, {"kind": "jwt", "header": header, "claims": claims})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key-dir", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--access-token-ttl", type=int, default=3600,
                        help="lifetime of issued access tokens, in seconds")
    args = parser.parse_args()
    Handler.state = State(args.key_dir, args.audience, args.access_token_ttl)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
