"""An upstream API that accepts only correctly signed requests.

`/aws/...` checks AWS Signature Version 4 by recomputing it with botocore's
SigV4Auth over the request as received. `/hmac/...` checks the HMAC-SHA256
scheme of the test provider `signing-hmac-test` with Python's hmac module:
hex of HMAC(secret, METHOD \n PATH \n QUERY \n TIMESTAMP \n NONCE \n BODY),
sent in `X-Signature` beside `X-Key-Id`, `X-Timestamp` and `X-Nonce`.
`/duo/...` checks Duo's Admin API signature with the same key pair: hex
HMAC-SHA1 of the Date header, the method, the lowercase host, the path and
the sorted, RFC 3986 encoded query parameters on separate lines, sent as
`Authorization: Basic base64(key id:signature)`. `/wsse/...` checks
Emarsys's WSSE header `X-WSSE: UsernameToken Username="...",
PasswordDigest="...", Nonce="...", Created="..."`, whose digest is the
base64 of the hex SHA-1 of nonce, creation time and secret.

A verified request gets 200 with what was signed; any other gets 403 with
a JSON `message` naming the failed check.
"""

import argparse
import base64
import email.utils
import hashlib
import re
import hmac
import json
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# Largest clock difference accepted between the signer and this server.
MAX_SKEW_SECONDS = 300


class Rejected(Exception):
    pass


def verify_sigv4(args, method, raw_path, query, headers, body):
    authorization = headers.get("authorization", "")
    scheme, _, fields = authorization.partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        raise Rejected(f"Authorization scheme is {scheme!r}, not AWS4-HMAC-SHA256")
    parts = dict(
        item.strip().split("=", 1) for item in fields.split(",") if "=" in item
    )
    scope = parts.get("Credential", "").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise Rejected(f"malformed Credential {parts.get('Credential')!r}")
    access_key_id, date, region, service, _ = scope
    if access_key_id != args.access_key_id:
        raise Rejected(f"unknown access key id {access_key_id!r}")
    if (region, service) != (args.region, args.service):
        raise Rejected(f"scope {region}/{service} is not {args.region}/{args.service}")

    signed = parts.get("SignedHeaders", "").split(";")
    required = {"host", "x-amz-date", "x-amz-content-sha256"}
    if args.session_token:
        required.add("x-amz-security-token")
        if headers.get("x-amz-security-token") != args.session_token:
            raise Rejected("X-Amz-Security-Token is missing or wrong")
    if not required <= set(signed):
        raise Rejected(f"SignedHeaders {signed} lack {sorted(required - set(signed))}")
    if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
        raise Rejected("X-Amz-Content-Sha256 is not the SHA-256 of the body")
    amz_date = headers.get("x-amz-date", "")
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    if abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS or date != amz_date[:8]:
        raise Rejected(f"X-Amz-Date {amz_date!r} is stale or differs from the scope date")

    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{raw_path}",
        data=body,
        params=parse_qsl(query, keep_blank_values=True),
        headers={name: headers[name] for name in signed if name in headers},
    )
    request.context["timestamp"] = amz_date
    credentials = Credentials(args.access_key_id, args.secret_access_key, args.session_token)
    auth = SigV4Auth(credentials, service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        raise Rejected("SigV4 signature mismatch; botocore's canonical request: " + canonical)


def verify_hmac(args, method, raw_path, query, headers, body):
    if headers.get("x-key-id") != args.hmac_key_id:
        raise Rejected(f"unknown key id {headers.get('x-key-id')!r}")
    timestamp = headers.get("x-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Rejected(f"X-Timestamp {timestamp!r} is not a current Unix time")
    text = "\n".join(
        [method, raw_path, query, timestamp, headers.get("x-nonce", ""), body.decode()]
    )
    expected = hmac.new(args.hmac_secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("x-signature", "")):
        raise Rejected("HMAC signature mismatch")


def verify_duo(args, method, raw_path, query, headers, body):
    date = headers.get("date", "")
    try:
        signed_at = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise Rejected(f"Date {date!r} is not an RFC 2822 date")
    if abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS:
        raise Rejected(f"Date {date!r} is stale")
    params = sorted(parse_qsl(query, keep_blank_values=True))
    canonical_params = "&".join(
        f"{quote(name, safe='~')}={quote(value, safe='~')}" for name, value in params
    )
    text = "\n".join(
        [date, method.upper(), headers.get("host", "").lower(), raw_path, canonical_params]
    )
    signature = hmac.new(args.hmac_secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    expected = "Basic " + base64.b64encode(f"{args.hmac_key_id}:{signature}".encode()).decode()
    if not hmac.compare_digest(expected, headers.get("authorization", "")):
        raise Rejected("Duo signature mismatch; canonical text: " + repr(text))


def verify_wsse(args, method, raw_path, query, headers, body):
    header = headers.get("x-wsse", "")
    if not header.startswith("UsernameToken "):
        raise Rejected(f"X-WSSE {header!r} is not a UsernameToken")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
    if fields.get("Username") != args.hmac_key_id:
        raise Rejected(f"unknown Username {fields.get('Username')!r}")
    nonce, created = fields.get("Nonce", ""), fields.get("Created", "")
    if not re.fullmatch(r"[0-9a-f]{32}", nonce):
        raise Rejected(f"Nonce {nonce!r} is not 32 hex digits")
    try:
        signed_at = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise Rejected(f"Created {created!r} is not an ISO 8601 UTC time")
    if abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS:
        raise Rejected(f"Created {created!r} is stale")
    digest = hashlib.sha1((nonce + created + args.hmac_secret).encode()).hexdigest()
    expected = base64.b64encode(digest.encode()).decode()
    if not hmac.compare_digest(expected, fields.get("PasswordDigest", "")):
        raise Rejected("WSSE PasswordDigest mismatch")


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        if url.path.startswith("/aws/"):
            check = verify_sigv4
        elif url.path.startswith("/duo/"):
            check = verify_duo
        elif url.path.startswith("/wsse/"):
            check = verify_wsse
        else:
            check = verify_hmac
        try:
            check(self.server.args, self.command, url.path, url.query, headers, body)
            status, reply = 200, {
                "verified": check.__name__,
                "method": self.command,
                "path": url.path,
                "query": url.query,
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

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    parser.add_argument("--session-token", default=None)
    parser.add_argument("--service", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--hmac-key-id", required=True)
    parser.add_argument("--hmac-secret", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.args = args
    server.serve_forever()


if __name__ == "__main__":
    main()
