"""Test peer for the `jwt` auth mode: a token endpoint and an API that
check JWTs with PyJWT, independently of Latchkey's Rust signing code.

At start it generates an RSA key, a P-256 key and an HMAC secret, writes
the private halves into --key-dir (rsa.pem, ec.pem, hmac.hex) for the test
to enter, and keeps the public halves to verify with.

It also writes the RSA key as a private JWK (rsa.jwk), and the base64
SHA-256 digest of the RSA public key's DER SubjectPublicKeyInfo (rsa.fp),
the fingerprint that Snowflake puts into the issuer claim.

Routes:
  POST /token          the JWT bearer grant (RFC 7523 section 2.1) with an
                       RS256 assertion, or the client credentials grant
                       with an RS256, PS256 or ES256 client assertion
                       (RFC 7523 section 2.2), replying like Google's
                       token endpoint. A rejected assertion's
                       `error_description` quotes the assertion, its
                       issuer and the RSA private key, to check that the
                       caller redacts them
  POST /PREFIX/oauth2/token
                       the same, for a token URL with a per-connection
                       path; the assertion's `aud` may name this URL
  GET  /api/step-token an endpoint that trades an access token from /token
                       (`Authorization: Bearer <token>`) for an API token
                       in `apiToken`, as the second request of a chain
  GET  /api/step-token-rejected
                       replies 403 and echoes the bearer token it got, to
                       check that the caller redacts it
  GET  /api/whoami     an API that takes `Authorization: Bearer <token>`:
                       a token issued by /token or /api/step-token, or a
                       JWT signed with one of the three keys (RS256, ES256,
                       HS256)
  GET  /stats          counts of token requests, by outcome
"""

import argparse
import base64
import hashlib
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
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUIRED_CLAIMS = ["iss", "aud", "iat", "exp"]


class State:
    def __init__(self, key_dir, audience, access_token_ttl, token_url):
        self.audience = audience
        # A client assertion may name the token endpoint as its audience.
        self.token_url = token_url
        self.access_token_ttl = access_token_ttl
        self.lock = threading.Lock()
        self.issued = {}
        self.stats = {"token_requests": 0, "tokens_issued": 0, "assertions_rejected": 0,
                      "step_tokens_issued": 0, "api_calls": 0, "api_rejected": 0}

        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        self.hmac_secret = secrets.token_bytes(32)
        self.public_keys = {
            "RS256": rsa_key.public_key(),
            "PS256": rsa_key.public_key(),
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
            if name == "rsa.pem":
                self.rsa_pem = pem.decode()
        (key_dir / "hmac.hex").write_text(self.hmac_secret.hex())
        (key_dir / "rsa.jwk").write_text(json.dumps(private_jwk(rsa_key)))
        spki = rsa_key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        (key_dir / "rsa.fp").write_text(base64.b64encode(hashlib.sha256(spki).digest()).decode())

    def count(self, name):
        with self.lock:
            self.stats[name] += 1

    def verify(self, token, algorithms, endpoint=None):
        """Verify a JWT's signature, expiry and audience with PyJWT. The
        audience may also be `endpoint`, the URL the JWT was posted to."""
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in algorithms:
            raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted here")
        audiences = [self.audience, self.token_url]
        if endpoint is not None:
            audiences.append(endpoint)
        return header, jwt.decode(
            token,
            self.public_keys[algorithm],
            algorithms=[algorithm],
            audience=audiences,
            options={"require": REQUIRED_CLAIMS},
        )


def unverified_issuer(assertion):
    """The `iss` claim of an assertion, without checking its signature."""
    try:
        return jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None


def private_jwk(key):
    """The RSA key as a private JWK (RFC 7518 section 6.3)."""
    numbers = key.private_numbers()

    def b64(number):
        data = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return {
        "kty": "RSA", "kid": "peer-rsa",
        "n": b64(numbers.public_numbers.n), "e": b64(numbers.public_numbers.e),
        "d": b64(numbers.d), "p": b64(numbers.p), "q": b64(numbers.q),
        "dp": b64(numbers.dmp1), "dq": b64(numbers.dmq1), "qi": b64(numbers.iqmp),
    }


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
        if path == "/api/step-token":
            return self.step_token()
        if path == "/api/step-token-rejected":
            return self.reply(403, {"error": "access_denied",
                                    "token_seen": self.headers.get("Authorization", "")})
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token" or path.endswith("/oauth2/token"):
            return self.token(path)
        self.reply(404, {"error": "not_found"})

    def token(self, path):
        self.state.count("token_requests")
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        form = urllib.parse.parse_qs(body)
        grant_type = form.get("grant_type", [""])[0]
        if grant_type == JWT_BEARER:
            assertion = form.get("assertion", [""])[0]
            algorithms = ["RS256"]
        elif grant_type == "client_credentials":
            if form.get("client_assertion_type", [""])[0] != CLIENT_ASSERTION_TYPE:
                self.state.count("assertions_rejected")
                return self.reply(400, {"error": "invalid_client",
                                        "error_description": "client_assertion_type is missing"})
            assertion = form.get("client_assertion", [""])[0]
            algorithms = ["RS256", "PS256", "ES256"]
        else:
            self.state.count("assertions_rejected")
            return self.reply(400, {"error": "unsupported_grant_type",
                                    "error_description": f"grant_type {grant_type!r}"})
        try:
            endpoint = f"http://127.0.0.1:{self.server.server_port}{path}"
            header, claims = self.state.verify(assertion, algorithms, endpoint)
        except jwt.PyJWTError as error:
            self.state.count("assertions_rejected")
            # Quote the request as some providers do: the assertion, its
            # issuer and the RSA key that the test enters, so the test can
            # check that Latchkey redacts them.
            issuer = unverified_issuer(assertion)
            description = (f"Invalid JWT: {error}. Assertion {assertion} from {issuer}, "
                           f"expected a signature by {self.state.rsa_pem}")
            return self.reply(400, {"error": "invalid_grant", "error_description": description})
        access_token = "ya29." + secrets.token_urlsafe(24)
        with self.state.lock:
            # The form without the JWT, in the order it was sent.
            params = [(name, value) for name, value in urllib.parse.parse_qsl(body)
                      if name not in ("assertion", "client_assertion")]
            self.state.issued[access_token] = {
                "expires_at": time.time() + self.state.access_token_ttl,
                "claims": claims,
                "header": header,
                "params": params,
                "path": path,
                "kind": "access_token",
            }
            self.state.stats["tokens_issued"] += 1
        self.reply(200, {"access_token": access_token, "token_type": "Bearer",
                         "expires_in": self.state.access_token_ttl})

    def step_token(self):
        """Trade a live access token from /token for an API token that
        carries what the first token was issued for."""
        authorization = self.headers.get("Authorization", "")
        first = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else ""
        with self.state.lock:
            issued = self.state.issued.get(first)
        if issued is None or issued["kind"] != "access_token" or issued["expires_at"] <= time.time():
            return self.reply(401, {"error": "invalid_token",
                                    "error_description": "a live access token from /token is required"})
        api_token = "api-" + secrets.token_urlsafe(24)
        query = urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)
        with self.state.lock:
            self.state.issued[api_token] = dict(
                issued,
                kind="step_token",
                expires_at=time.time() + self.state.access_token_ttl,
                step_query=query,
            )
            self.state.stats["step_tokens_issued"] += 1
        self.reply(200, {"apiToken": api_token, "expires_in": self.state.access_token_ttl})

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
            return self.reply(200, {"kind": issued["kind"], "claims": issued["claims"],
                                    "header": issued["header"], "params": issued["params"],
                                    "path": issued["path"],
                                    "step_query": issued.get("step_query")})
        try:
            header, claims = self.state.verify(token, ["RS256", "PS256", "ES256", "HS256"])
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
    token_url = f"http://127.0.0.1:{args.port}/token"
    Handler.state = State(args.key_dir, args.audience, args.access_token_ttl, token_url)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
