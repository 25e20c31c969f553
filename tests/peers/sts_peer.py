"""AWS STS AssumeRole and an AWS API that accepts only its temporary keys.

`POST /sts` plays the STS Query API (Action=AssumeRole, Version=2011-06-15):
it checks the request's SigV4 signature for service `sts` with botocore's
SigV4Auth and the integration's keys given on the command line, then
returns an `AssumeRoleResponse` with new temporary keys that expire
`--lifetime` seconds later. A bad signature, an unknown access key or a
role other than `--role-arn` gets STS's XML `ErrorResponse` with HTTP 403.
The role `--expired-role-arn` gets keys whose `Expiration` is an hour ago,
as a reply that no request can use.

`/aws/...` checks SigV4 for `--service` with the temporary keys issued
last, including `X-Amz-Security-Token`, and rejects expired keys.
`GET /calls` returns the form parameters of every AssumeRole call as JSON.
"""

import argparse
import hashlib
import hmac
import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# Largest clock difference accepted between the signer and this server.
MAX_SKEW_SECONDS = 300
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


class Rejected(Exception):
    def __init__(self, code, message, status=403):
        super().__init__(message)
        self.code = code
        self.status = status


def verify_sigv4(method, raw_path, query, headers, body, keys_for, service, region):
    """Check the SigV4 signature; `keys_for(access_key_id)` returns
    (secret, session token) or None for an unknown key."""
    scheme, _, fields = headers.get("authorization", "").partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        raise Rejected("MissingAuthenticationToken", "the request is not signed with SigV4")
    parts = dict(item.strip().split("=", 1) for item in fields.split(",") if "=" in item)
    scope = parts.get("Credential", "").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise Rejected("IncompleteSignature", f"malformed Credential {parts.get('Credential')!r}")
    access_key_id, date, scope_region, scope_service, _ = scope
    keys = keys_for(access_key_id)
    if keys is None:
        raise Rejected("InvalidClientTokenId", "The security token included in the request is invalid.")
    secret, session_token = keys
    if (scope_region, scope_service) != (region, service):
        raise Rejected("SignatureDoesNotMatch", f"scope {scope_region}/{scope_service} is not {region}/{service}")
    signed = parts.get("SignedHeaders", "").split(";")
    required = {"host", "x-amz-date"}
    if session_token is not None:
        required.add("x-amz-security-token")
        if headers.get("x-amz-security-token") != session_token:
            raise Rejected("InvalidClientTokenId", "X-Amz-Security-Token is missing or wrong")
    if not required <= set(signed):
        raise Rejected("SignatureDoesNotMatch", f"SignedHeaders {signed} lack {sorted(required - set(signed))}")
    if "x-amz-content-sha256" in headers and headers["x-amz-content-sha256"] != hashlib.sha256(body).hexdigest():
        raise Rejected("SignatureDoesNotMatch", "X-Amz-Content-Sha256 is not the SHA-256 of the body")
    amz_date = headers.get("x-amz-date", "")
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    if abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS or date != amz_date[:8]:
        raise Rejected("SignatureDoesNotMatch", f"X-Amz-Date {amz_date!r} is stale or differs from the scope date")

    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{raw_path}",
        data=body,
        params=parse_qsl(query, keep_blank_values=True),
        headers={name: headers[name] for name in signed if name in headers},
    )
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(access_key_id, secret, session_token), service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        raise Rejected("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
    return access_key_id


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        # Temporary keys by access key id: (secret, session token, expiry).
        self.issued = {}
        self.calls = []

    def integration_keys(self, access_key_id):
        if access_key_id == self.args.access_key_id:
            return self.args.secret_access_key, None
        return None

    def temporary_keys(self, access_key_id):
        with self.lock:
            entry = self.issued.get(access_key_id)
        if entry is None:
            return None
        secret, token, expires = entry
        if time.time() >= expires.timestamp():
            raise Rejected("ExpiredToken", "The security token included in the request is expired")
        return secret, token

    def assume_role(self, params):
        if params.get("Action") != "AssumeRole" or params.get("Version") != "2011-06-15":
            raise Rejected("InvalidAction", f"unsupported Action/Version {params.get('Action')}/{params.get('Version')}", 400)
        expired = self.args.expired_role_arn is not None and params.get("RoleArn") == self.args.expired_role_arn
        if params.get("RoleArn") != self.args.role_arn and not expired:
            raise Rejected(
                "AccessDenied",
                f"User: arn:aws:iam::000000000000:user/latchkey is not authorized to perform: sts:AssumeRole on resource: {params.get('RoleArn')}",
            )
        duration = params.get("DurationSeconds")
        if duration is not None and not (duration.isdigit() and 900 <= int(duration) <= 43200):
            raise Rejected("ValidationError", f"DurationSeconds {duration!r} is out of range", 400)
        access_key_id = "ASIA" + secrets.token_hex(8).upper()
        secret = secrets.token_urlsafe(30)
        token = secrets.token_urlsafe(60)
        lifetime = -3600 if expired else self.args.lifetime
        expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=lifetime)
        with self.lock:
            self.issued[access_key_id] = (secret, token, expires)
            self.calls.append(params)
        return (
            f'<AssumeRoleResponse xmlns="{NAMESPACE}">\n'
            "  <AssumeRoleResult>\n"
            "    <AssumedRoleUser>\n"
            f"      <Arn>{escape(params['RoleArn'])}/{escape(params.get('RoleSessionName', ''))}</Arn>\n"
            "      <AssumedRoleId>AROATESTROLE:session</AssumedRoleId>\n"
            "    </AssumedRoleUser>\n"
            "    <Credentials>\n"
            f"      <AccessKeyId>{access_key_id}</AccessKeyId>\n"
            f"      <SecretAccessKey>{escape(secret)}</SecretAccessKey>\n"
            f"      <SessionToken>{escape(token)}</SessionToken>\n"
            f"      <Expiration>{expires.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration>\n"
            "    </Credentials>\n"
            "  </AssumeRoleResult>\n"
            "  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\n"
            "</AssumeRoleResponse>\n"
        )


def error_xml(error):
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}">\n'
        f"  <Error><Type>Sender</Type><Code>{escape(error.code)}</Code>"
        f"<Message>{escape(str(error))}</Message></Error>\n"
        "  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>\n"
        "</ErrorResponse>\n"
    )


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, content_type, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        state = self.server.state
        args = state.args
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        if url.path == "/calls":
            with state.lock:
                calls = list(state.calls)
            return self.reply(200, "application/json", json.dumps({"calls": calls}))
        if url.path == "/sts":
            try:
                if self.command != "POST":
                    raise Rejected("InvalidAction", "AssumeRole is a POST", 400)
                verify_sigv4(self.command, url.path, url.query, headers, body,
                             state.integration_keys, "sts", args.region)
                params = dict(parse_qsl(body.decode(), keep_blank_values=True))
                return self.reply(200, "text/xml", state.assume_role(params))
            except Rejected as error:
                return self.reply(error.status, "text/xml", error_xml(error))
        if url.path.startswith("/aws/"):
            try:
                access_key_id = verify_sigv4(self.command, url.path, url.query, headers, body,
                                             state.temporary_keys, args.service, args.region)
            except Rejected as error:
                return self.reply(403, "application/json",
                                  json.dumps({"code": error.code, "message": str(error)}))
            return self.reply(200, "application/json", json.dumps({
                "verified": True,
                "access_key_id": access_key_id,
                "path": url.path,
                "body": body.decode(errors="replace"),
            }))
        self.reply(404, "application/json", json.dumps({"message": f"no route {url.path}"}))

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-key-id", required=True, help="the integration's key that calls STS")
    parser.add_argument("--secret-access-key", required=True)
    parser.add_argument("--role-arn", required=True, help="the role AssumeRole grants")
    parser.add_argument("--expired-role-arn",
                        help="a role AssumeRole grants with keys that expired an hour ago")
    parser.add_argument("--region", required=True)
    parser.add_argument("--service", required=True, help="service of the /aws/ API")
    parser.add_argument("--lifetime", type=int, default=3600, help="seconds until issued keys expire")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.state = State(args)
    server.serve_forever()


if __name__ == "__main__":
    main()
