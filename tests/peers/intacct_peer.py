"""An XML gateway that answers like Sage Intacct's, for tests/xml_login.rs.

It parses every request body with the standard library's XML parser, so a
value that changed the document's structure would show in what it parsed.
It uses the standard library only.

Usage: python intacct_peer.py PORT SESSION_LIFETIME_SECONDS

POST /gateway   an XML request (Content-Type application/xml).
    A login is <request><control> with senderid, password, controlid,
    uniqueid, dtdversion and includewhitespace in that order, then
    <operation><authentication><login> with userid, companyid and password,
    and <content><function controlid="..."><getAPISession/>. A correct login
    gets HTTP 200 with a new session id and its absolute expiry in
    <sessiontimeout> (ISO 8601 with the offset -08:00).
    Wrong sender credentials get HTTP 200 with a control status of failure.
    The user ids ada and grace are accepted. Wrong user credentials get HTTP 200 with an authentication status of
    failure, and the error description repeats the entered user id and
    password, so that the test can check that Latchkey redacts an echo.
    For the user id echo-references, the description writes the
    password's XML-significant characters as decimal character references
    (`&#60;`) in place of `&lt;` and the like.
    A body that is not well-formed XML gets HTTP 400 with an XML error.
    An API call is <request><control>... <operation><authentication>
    <sessionid>ID</sessionid>; a live session gets HTTP 200 and a result
    that names whether an Authorization header came with the request.
GET /logins     JSON list of the login requests received: the body as text,
                the Content-Type and Accept headers, and the values the
                parser read.
"""

import datetime
import json
import secrets
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

SENDER_ID = "sender-7"
SENDER_PASSWORD = "sender<&>pw"
# Two accepted users, so that one test can pick out its own logins.
USER_IDS = ("ada", "grace")
COMPANY_ID = "company-42"
USER_PASSWORD = "user<pw>&'\""
# The user id whose failed login echoes the password with character references.
ECHO_REFERENCES_USER = "echo-references"

CONTROL_ORDER = [
    "senderid",
    "password",
    "controlid",
    "uniqueid",
    "dtdversion",
    "includewhitespace",
]
PACIFIC = datetime.timezone(datetime.timedelta(hours=-8))

LOCK = threading.Lock()
SESSIONS = {}  # session id -> expiry as time.monotonic()
LOGINS = []


def failure(where, description, description_xml=None):
    """Returns an Intacct-style failure document, with the failure in the
    control block or in the authentication block. `description_xml`, when
    given, is written unchanged in place of the escaped description."""
    if description_xml is None:
        description_xml = escape(description)
    error = (
        "<errormessage><error><errorno>XL03000006</errorno>"
        f"<description2>{description_xml}</description2>"
        "</error></errormessage>"
    )
    if where == "control":
        return (
            '<?xml version="1.0" encoding="UTF-8"?><response>'
            "<control><status>failure</status></control>"
            f"{error}</response>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><response>'
        "<control><status>success</status></control>"
        "<operation><authentication><status>failure</status></authentication>"
        f"{error}</operation></response>"
    )


def character_references(value):
    """Escapes `value` as XML text with decimal character references."""
    return "".join(f"&#{ord(c)};" if c in "<>&'\"" else c for c in value)


def text(root, path):
    element = root.find(path)
    return None if element is None else (element.text or "")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write(format % args + "\n")

    def reply(self, status, body, content_type="application/xml"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/logins":
            self.reply(404, "<response/>")
            return
        with LOCK:
            body = json.dumps(LOGINS)
        self.reply(200, body, "application/json")

    def do_POST(self):
        if self.path != "/gateway":
            self.reply(404, "<response/>")
            return
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            root = ElementTree.fromstring(raw)
        except ElementTree.ParseError as error:
            self.reply(400, failure("control", f"malformed XML: {error}"))
            return
        if root.find("operation/authentication/sessionid") is not None:
            self.api_call(root)
        else:
            self.login(root, raw)

    def login(self, root, raw):
        control = root.find("control")
        login = root.find("operation/authentication/login")
        function = root.find("operation/content/function")
        parsed = {
            "root": root.tag,
            "control_order": [child.tag for child in control] if control is not None else [],
            "senderid": text(root, "control/senderid"),
            "sender_password": text(root, "control/password"),
            "controlid": text(root, "control/controlid"),
            "userid": text(root, "operation/authentication/login/userid"),
            "companyid": text(root, "operation/authentication/login/companyid"),
            "user_password": text(root, "operation/authentication/login/password"),
            "function_controlid": None if function is None else function.get("controlid"),
            "function_children": [] if function is None else [child.tag for child in function],
        }
        with LOCK:
            LOGINS.append(
                {
                    "body": raw.decode("utf-8", "replace"),
                    "content_type": self.headers.get("Content-Type"),
                    "accept": self.headers.get("Accept"),
                    "parsed": parsed,
                }
            )
        if (
            parsed["control_order"] != CONTROL_ORDER
            or login is None
            or parsed["function_children"] != ["getAPISession"]
        ):
            self.reply(200, failure("control", "the request does not follow the DTD"))
            return
        if parsed["senderid"] != SENDER_ID or parsed["sender_password"] != SENDER_PASSWORD:
            self.reply(200, failure("control", "invalid Web Services sender credentials"))
            return
        if (
            parsed["userid"] not in USER_IDS
            or parsed["companyid"] != COMPANY_ID
            or parsed["user_password"] != USER_PASSWORD
        ):
            description = (
                f"Sign-in information is incorrect for user {parsed['userid']} "
                f"with password {parsed['user_password']}"
            )
            description_xml = None
            if parsed["userid"] == ECHO_REFERENCES_USER:
                description_xml = (
                    f"Sign-in information is incorrect for user {ECHO_REFERENCES_USER} "
                    f"with password {character_references(parsed['user_password'])}"
                )
            self.reply(200, failure("authentication", description, description_xml))
            return
        session = secrets.token_hex(12) + ".."
        with LOCK:
            SESSIONS[session] = time.monotonic() + LIFETIME
        timeout = (
            datetime.datetime.now(PACIFIC) + datetime.timedelta(seconds=LIFETIME)
        ).isoformat(timespec="seconds")
        self.reply(
            200,
            '<?xml version="1.0" encoding="UTF-8"?><response>'
            "<control><status>success</status>"
            f"<senderid>{escape(SENDER_ID)}</senderid>"
            f"<controlid>{escape(parsed['controlid'])}</controlid></control>"
            "<operation><authentication><status>success</status>"
            f"<userid>{escape(parsed['userid'])}</userid><companyid>{COMPANY_ID}</companyid>"
            f"<sessiontimeout>{timeout}</sessiontimeout></authentication>"
            "<result><status>success</status><function>getAPISession</function>"
            f"<controlid>{escape(parsed['function_controlid'] or '')}</controlid>"
            f"<data><api><sessionid>{session}</sessionid>"
            "<endpoint>https://example.invalid/ia/xml/xmlgw.phtml</endpoint>"
            "<locationid></locationid></api></data></result>"
            "</operation></response>",
        )

    def api_call(self, root):
        session = text(root, "operation/authentication/sessionid")
        with LOCK:
            expiry = SESSIONS.get(session)
        if expiry is None or time.monotonic() >= expiry:
            self.reply(200, failure("authentication", "invalid session"))
            return
        authorization = "present" if self.headers.get("Authorization") else "absent"
        self.reply(
            200,
            '<?xml version="1.0" encoding="UTF-8"?><response>'
            "<control><status>success</status></control>"
            "<operation><authentication><status>success</status></authentication>"
            f"<result><status>success</status><authorization>{authorization}</authorization>"
            "</result></operation></response>",
        )


if __name__ == "__main__":
    port = int(sys.argv[1])
    LIFETIME = int(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
