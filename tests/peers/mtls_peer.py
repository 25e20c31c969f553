"""A provider that requires a TLS client certificate (mutual TLS).

At start it creates a private certificate authority and writes PEM files
into --dir, all before the port opens:

- `ca.pem`: the authority, for Latchkey's --extra-ca-file.
- `client-cert.pem` and `client-key.pem`: a client certificate that the
  authority signed.
- `stranger-cert.pem` and `stranger-key.pem`: a self-signed client
  certificate that the authority did not sign.
- `other-key.pem`: a key that matches no certificate.

It then serves HTTPS on 127.0.0.1 with a server certificate for that
address, and the TLS handshake fails for a client without a certificate the
authority signed. `POST /token` runs the client-credentials grant for
--client-id and --client-secret (HTTP basic or form fields) and returns a
bearer token. Any other path needs that bearer token and returns JSON with
the common name of the client certificate, the method and the path.
"""

import argparse
import base64
import datetime
import ipaddress
import json
import os
import secrets
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_COMMON_NAME = "latchkey-mtls-client"


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(subject, key, issuer, issuer_key, *, ca=False, usage=None, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def pem_certificate(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def write(directory, file_name, data):
    path = os.path.join(directory, file_name)
    with open(path + ".tmp", "wb") as handle:
        handle.write(data)
    os.replace(path + ".tmp", path)
    return path


def create_files(directory):
    """Writes the PEM files and returns the server's certificate and key
    paths and the authority's path."""
    new_key = lambda: ec.generate_private_key(ec.SECP256R1())
    ca_key = new_key()
    ca_name = name("latchkey-test-ca")
    ca = certificate(ca_name, ca_key, ca_name, ca_key, ca=True)

    server_key = new_key()
    server = certificate(
        name("127.0.0.1"),
        server_key,
        ca_name,
        ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_key = new_key()
    client = certificate(
        name(CLIENT_COMMON_NAME),
        client_key,
        ca_name,
        ca_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    stranger_key = new_key()
    stranger_name = name("latchkey-stranger")
    stranger = certificate(
        stranger_name,
        stranger_key,
        stranger_name,
        stranger_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )

    write(directory, "client-cert.pem", pem_certificate(client))
    write(directory, "client-key.pem", pem_key(client_key))
    write(directory, "stranger-cert.pem", pem_certificate(stranger))
    write(directory, "stranger-key.pem", pem_key(stranger_key))
    write(directory, "other-key.pem", pem_key(new_key()))
    server_cert_path = write(directory, "server-cert.pem", pem_certificate(server))
    server_key_path = write(directory, "server-key.pem", pem_key(server_key))
    ca_path = write(directory, "ca.pem", pem_certificate(ca))
    return server_cert_path, server_key_path, ca_path


def make_handler(args):
    tokens = set()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *values):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def client_common_name(self):
            peer = self.connection.getpeercert()
            for entry in peer.get("subject", ()):
                for key, value in entry:
                    if key == "commonName":
                        return value
            return None

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if self.path != "/token":
                return self.handle_api()
            form = dict(parse_qsl(body))
            client_id = form.get("client_id")
            client_secret = form.get("client_secret")
            authorization = self.headers.get("Authorization", "")
            if authorization.startswith("Basic "):
                decoded = base64.b64decode(authorization[6:]).decode()
                client_id, _, client_secret = decoded.partition(":")
            if form.get("grant_type") != "client_credentials":
                return self.reply(400, {"error": "unsupported_grant_type"})
            if (client_id, client_secret) != (args.client_id, args.client_secret):
                return self.reply(401, {"error": "invalid_client"})
            token = "mtls-token-" + secrets.token_hex(8)
            tokens.add(token)
            self.reply(
                200,
                {"access_token": token, "token_type": "Bearer", "expires_in": 3600},
            )

        def do_GET(self):
            self.handle_api()

        def handle_api(self):
            authorization = self.headers.get("Authorization", "")
            token = authorization.removeprefix("Bearer ")
            if token not in tokens:
                return self.reply(401, {"error": "invalid_token"})
            self.reply(
                200,
                {
                    "client_common_name": self.client_common_name(),
                    "method": self.command,
                    "path": self.path,
                },
            )

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    args = parser.parse_args()

    server_cert, server_key, ca = create_files(args.dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert, server_key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED

    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
