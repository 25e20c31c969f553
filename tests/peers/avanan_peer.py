"""A token endpoint and API that check Avanan's request signatures.

Usage: python avanan_peer.py --port PORT --app-id ID --secret-key KEY

Every request carries `x-av-app-id`, a request id in `x-av-req-id` (a
version 4 UUID), the UTC time in `x-av-date` (`YYYY-MM-DDTHH:MM:SS`) and
`x-av-sig`, the lowercase hex SHA-256 of the standard base64 of the
concatenated signed values:

  GET /v1.0/auth   signs request id + app id + date + secret key, and
                   replies with a new token as the whole text body.
  any /v1.0/...    needs `x-av-token` with an issued token, and signs
                   request id + app id + date + request path + secret key.
  GET /stats       the number of tokens issued and of API calls verified.

A request id may be used once. A verified API call gets 200 with what was
signed; any other request gets 403 with a JSON `message` naming the failed
check. It uses the standard library only.
"""

import argparse
import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Largest clock difference accepted between the signer and this server.
MAX_SKEW_SECONDS = 300
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
# A version 4 UUID in lowercase hex, the form of request ids.
REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class Rejected(Exception):
    pass


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = set()
        self.request_ids = set()
        self.issued = 0
        self.verified = 0


def signature(*parts):
    encoded = base64.b64encode("".join(parts).encode()).decode()
    return hashlib.sha256(encoded.encode()).hexdigest()


def check_signed_headers(args, state, headers, signed_path):
    if headers.get("x-av-app-id") != args.app_id:
        raise Rejected(f"unknown x-av-app-id {headers.get('x-av-app-id')!r}")
    request_id = headers.get("x-av-req-id", "")
    if not REQUEST_ID.fullmatch(request_id):
        raise Rejected(f"x-av-req-id {request_id!r} is not a version 4 UUID")
    date = headers.get("x-av-date", "")
    try:
        signed_at = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise Rejected(f"x-av-date {date!r} is not YYYY-MM-DDTHH:MM:SS")
    if abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS:
        raise Rejected(f"x-av-date {date!r} is stale")
    expected = signature(request_id, args.app_id, date, signed_path, args.secret_key)
    if not hmac.compare_digest(expected, headers.get("x-av-sig", "")):
        raise Rejected(f"x-av-sig mismatch over the signed path {signed_path!r}")
    with state.lock:
        if request_id in state.request_ids:
            raise Rejected(f"x-av-req-id {request_id!r} was already used")
        state.request_ids.add(request_id)
    return request_id


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        args, state = self.server.args, self.server.state
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            if url.path == "/stats":
                with state.lock:
                    self.reply(200, {"issued": state.issued, "verified": state.verified})
                return
            if url.path == "/v1.0/auth":
                if self.command != "GET":
                    raise Rejected(f"the token request is a {self.command}, not a GET")
                check_signed_headers(args, state, headers, "")
                token = secrets.token_hex(16)
                with state.lock:
                    state.tokens.add(token)
                    state.issued += 1
                self.reply_text(token)
                return
            token = headers.get("x-av-token", "")
            with state.lock:
                known = token in state.tokens
            if not known:
                raise Rejected("x-av-token is missing or was not issued")
            request_id = check_signed_headers(args, state, headers, url.path)
            with state.lock:
                state.verified += 1
            self.reply(
                200,
                {
                    "verified": True,
                    "method": self.command,
                    "path": url.path,
                    "query": url.query,
                    "request_id": request_id,
                    "date": headers["x-av-date"],
                    "body": body.decode(errors="replace"),
                },
            )
        except Rejected as error:
            self.reply(403, {"message": str(error)})

    def reply(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reply_text(self, text):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--secret-key", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.args = args
    server.state = State()
    server.serve_forever()


if __name__ == "__main__":
    main()
