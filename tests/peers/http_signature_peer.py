"""An API that accepts only requests signed with HTTP Message Signatures.

Usage: python http_signature_peer.py --port PORT --key-id ID --private-key FILE

FILE is a PEM PKCS#8 Ed25519 private key; this server keeps only its public
half. Each request must carry:

  Authorization: Signature keyid="ID"
  Content-Type: application/json
  Content-Digest: sha-256=:BASE64:       the SHA-256 of the body (RFC 9530)
  Signature-Input: sig=("@method" "@target-uri" "content-digest"
                   "content-type");alg="ed25519";created=N;expires=M;keyid="ID"
  Signature: sig=:BASE64:                Ed25519 over the signature base

The server rebuilds the signature base of RFC 9421 section 2.5 from the
request as received (the target URI is http://HOST followed by the path and
query it received) and verifies the signature with the public key. `created`
must be within 300 seconds of this server's clock and `expires` must be
60 seconds after it and not yet past.

A verified request gets 200 with what was signed; any other gets 403 with a
JSON `message` naming the failed check.
"""

import argparse
import base64
import hashlib
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

MAX_SKEW_SECONDS = 300
LIFETIME_SECONDS = 60
COMPONENTS = '("@method" "@target-uri" "content-digest" "content-type")'
SIGNATURE_INPUT = re.compile(
    r'sig=(?P<components>\([^)]*\));alg="ed25519";created=(?P<created>\d+);'
    r'expires=(?P<expires>\d+);keyid="(?P<keyid>[^"]*)"'
)
BYTE_SEQUENCE = re.compile(r"sig=:(?P<value>[A-Za-z0-9+/=]+):")


class Rejected(Exception):
    pass


def verify(args, method, target, headers, body):
    key_id = args.key_id
    if headers.get("authorization") != f'Signature keyid="{key_id}"':
        raise Rejected(f"Authorization {headers.get('authorization')!r} names another key")
    if headers.get("content-type") != "application/json":
        raise Rejected(f"Content-Type {headers.get('content-type')!r} is not application/json")
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if headers.get("content-digest") != f"sha-256=:{digest}:":
        raise Rejected(f"Content-Digest {headers.get('content-digest')!r} is not the body's")

    signature_input = headers.get("signature-input", "")
    match = SIGNATURE_INPUT.fullmatch(signature_input)
    if not match:
        raise Rejected(f"Signature-Input {signature_input!r} is malformed")
    if match["components"] != COMPONENTS:
        raise Rejected(f"Signature-Input covers {match['components']}, not {COMPONENTS}")
    if match["keyid"] != key_id:
        raise Rejected(f"Signature-Input keyid {match['keyid']!r} is unknown")
    created, expires = int(match["created"]), int(match["expires"])
    now = time.time()
    if abs(now - created) > MAX_SKEW_SECONDS:
        raise Rejected(f"created={created} is not a current Unix time")
    if expires != created + LIFETIME_SECONDS or expires < now:
        raise Rejected(f"expires={expires} is not {LIFETIME_SECONDS} s after created={created}")

    base = "\n".join(
        [
            f'"@method": {method}',
            f'"@target-uri": {target}',
            f'"content-digest": {headers["content-digest"]}',
            f'"content-type": {headers["content-type"]}',
            '"@signature-params": ' + signature_input[len("sig="):],
        ]
    )
    signature = BYTE_SEQUENCE.fullmatch(headers.get("signature", ""))
    if not signature:
        raise Rejected(f"Signature {headers.get('signature')!r} is malformed")
    try:
        args.public_key.verify(base64.b64decode(signature["value"]), base.encode())
    except InvalidSignature:
        raise Rejected("Ed25519 signature mismatch; signature base: " + repr(base))
    return base


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        target = f"http://{headers.get('host', '')}{self.path}"
        try:
            base = verify(self.server.args, self.command, target, headers, body)
            status, reply = 200, {
                "verified": True,
                "method": self.command,
                "target_uri": target,
                "signature_base": base,
                "body": body.decode(errors="replace"),
            }
        except Rejected as error:
            status, reply = 403, {"message": str(error)}
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--private-key", required=True)
    args = parser.parse_args()
    with open(args.private_key, "rb") as file:
        private_key = load_pem_private_key(file.read(), password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        parser.error(f"{args.private_key} is not an Ed25519 private key")
    args.public_key = private_key.public_key()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.args = args
    server.serve_forever()


if __name__ == "__main__":
    main()
