"""Test peer for SAML 2.0 bearer assertions (RFC 7522) in the shape of SAP
SuccessFactors' token endpoint. It verifies each assertion with signxml
and lxml, independently of Latchkey's Rust signing code.

At start it generates an RSA key and a self-signed certificate for it. It
writes the key into --key-dir as PKCS#8 (key.pem) and as PKCS#1
(key-pkcs1.pem) for the test to enter, beside a second RSA key that the
certificate does not match (other.pem). It verifies signatures against the
certificate only.

Routes:
  POST /oauth/token  the SAML 2.0 bearer grant: a form with `grant_type`
                     urn:ietf:params:oauth:grant-type:saml2-bearer,
                     `client_id`, `company_id` and the base64 `assertion`.
                     The assertion must be in exclusive canonical form,
                     carry a valid enveloped RSA-SHA256 signature by the
                     certificate's key over its root, name this URL as the
                     bearer confirmation's `Recipient`, name --audience as
                     its audience, be within its validity interval, have a
                     non-empty NameID, and carry an `api_key` attribute
                     equal to `client_id`, as SuccessFactors requires. A
                     failed check replies 400 `invalid_grant` with the
                     reason.
  GET  /api/whoami   an API that takes `Authorization: Bearer <token>` and
                     replies with what the token's assertion carried
  GET  /stats        counts of token requests, by outcome
"""

import argparse
import base64
import datetime
import json
import pathlib
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import InvalidInput, XMLVerifier
from signxml.exceptions import InvalidSignature

SAML2_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer"
BEARER_METHOD = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NS = {
    "saml2": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
# Seconds of clock difference accepted on NotBefore.
CLOCK_SKEW = 5


class Rejected(Exception):
    """An assertion that fails a check. The message is the reply's reason."""


class State:
    def __init__(self, key_dir, audience, access_token_ttl):
        self.audience = audience
        self.access_token_ttl = access_token_ttl
        self.lock = threading.Lock()
        self.issued = {}
        self.stats = {"token_requests": 0, "tokens_issued": 0, "assertions_rejected": 0,
                      "api_calls": 0}
        # Token requests by `company_id`, so that a test counts only its own
        # while other tests share the peer.
        self.requests_by_company = {}

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "latchkey-saml-peer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()

        key_dir = pathlib.Path(key_dir)
        key_dir.mkdir(parents=True, exist_ok=True)
        files = (
            ("key.pem", key, serialization.PrivateFormat.PKCS8),
            ("key-pkcs1.pem", key, serialization.PrivateFormat.TraditionalOpenSSL),
            ("other.pem", other, serialization.PrivateFormat.PKCS8),
        )
        for file_name, private_key, private_format in files:
            pem = private_key.private_bytes(
                serialization.Encoding.PEM, private_format, serialization.NoEncryption()
            )
            (key_dir / file_name).write_bytes(pem)
        (key_dir / "cert.pem").write_text(self.certificate_pem)

    def count(self, name):
        with self.lock:
            self.stats[name] += 1

    def verify(self, encoded, recipient, client_id):
        """Check one base64 assertion and return what it carries."""
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError as error:
            raise Rejected(f"assertion is not base64: {error}")
        try:
            document = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError as error:
            raise Rejected(f"assertion is not XML: {error}")
        # Latchkey writes the assertion already canonical, so exclusive
        # c14n of the parsed document must give back the same bytes.
        canonical = etree.tostring(document, method="c14n", exclusive=True)
        if canonical != data:
            raise Rejected("assertion is not in exclusive canonical form")
        try:
            result = XMLVerifier().verify(data, x509_cert=self.certificate_pem)
        except (InvalidSignature, InvalidInput) as error:
            raise Rejected(f"signature verification failed: {error}")
        # Read only what the signature covers, the signed root itself.
        signed = result.signed_xml
        if signed.tag != f"{{{NS['saml2']}}}Assertion":
            raise Rejected(f"the signed element is {signed.tag}, not an Assertion")

        def text(path):
            return signed.findtext(path, namespaces=NS)

        confirmation = signed.find("saml2:Subject/saml2:SubjectConfirmation", NS)
        if confirmation is None or confirmation.get("Method") != BEARER_METHOD:
            raise Rejected("the subject confirmation is not a bearer confirmation")
        data_element = confirmation.find("saml2:SubjectConfirmationData", NS)
        if data_element is None or data_element.get("Recipient") != recipient:
            raise Rejected(f"Recipient is not {recipient}")
        audience = text("saml2:Conditions/saml2:AudienceRestriction/saml2:Audience")
        if audience != self.audience:
            raise Rejected(f"audience {audience!r} is not {self.audience!r}")
        conditions = signed.find("saml2:Conditions", NS)
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before = parse_time(conditions.get("NotBefore"))
        not_on_or_after = parse_time(conditions.get("NotOnOrAfter"))
        confirmation_expiry = parse_time(data_element.get("NotOnOrAfter"))
        if not_before > now + datetime.timedelta(seconds=CLOCK_SKEW):
            raise Rejected("the assertion is not valid yet (NotBefore)")
        if min(not_on_or_after, confirmation_expiry) <= now:
            raise Rejected("the assertion has expired (NotOnOrAfter)")
        name_id = text("saml2:Subject/saml2:NameID")
        if not name_id:
            raise Rejected("NameID is missing")
        attributes = {
            attribute.get("Name"): attribute.findtext("saml2:AttributeValue", namespaces=NS)
            for attribute in signed.findall("saml2:AttributeStatement/saml2:Attribute", NS)
        }
        if attributes.get("api_key") != client_id:
            raise Rejected("attribute api_key does not match client_id")
        statement = signed.find("saml2:AuthnStatement", NS)
        return {
            "id": signed.get("ID"),
            "issuer": text("saml2:Issuer"),
            "name_id": name_id,
            "audience": audience,
            "recipient": data_element.get("Recipient"),
            "attributes": attributes,
            "session_index": statement.get("SessionIndex") if statement is not None else None,
            "lifetime_seconds": int((not_on_or_after - not_before).total_seconds()),
        }


def parse_time(value):
    if not value:
        raise Rejected("a validity time is missing")
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc
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
                return self.reply(200, dict(self.state.stats,
                                            requests_by_company=dict(self.state.requests_by_company)))
        if path == "/api/whoami":
            return self.whoami()
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/oauth/token":
            return self.token(path)
        self.reply(404, {"error": "not_found"})

    def token(self, path):
        self.state.count("token_requests")
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        company = form.get("company_id", "")
        with self.state.lock:
            counts = self.state.requests_by_company
            counts[company] = counts.get(company, 0) + 1
        if form.get("grant_type") != SAML2_BEARER:
            self.state.count("assertions_rejected")
            return self.reply(400, {"error": "unsupported_grant_type",
                                    "error_description": f"grant_type {form.get('grant_type')!r}"})
        recipient = f"http://127.0.0.1:{self.server.server_port}{path}"
        try:
            assertion = self.state.verify(form.get("assertion", ""), recipient,
                                          form.get("client_id"))
        except Rejected as error:
            self.state.count("assertions_rejected")
            return self.reply(400, {"error": "invalid_grant", "error_description": str(error)})
        access_token = "sf-" + secrets.token_urlsafe(24)
        params = {name: value for name, value in form.items() if name != "assertion"}
        with self.state.lock:
            self.state.issued[access_token] = {
                "expires_at": time.time() + self.state.access_token_ttl,
                "assertion": assertion,
                "params": params,
            }
            self.state.stats["tokens_issued"] += 1
        self.reply(200, {"access_token": access_token, "token_type": "Bearer",
                         "expires_in": self.state.access_token_ttl})

    def whoami(self):
        self.state.count("api_calls")
        authorization = self.headers.get("Authorization", "")
        token = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else ""
        with self.state.lock:
            issued = self.state.issued.get(token)
        if issued is None or issued["expires_at"] <= time.time():
            return self.reply(401, {"error": "invalid_token"})
        self.reply(200, {"assertion": issued["assertion"], "params": issued["params"]})


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
