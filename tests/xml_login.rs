//! A `two_step` login with an XML request and an XML reply, shaped like
//! Sage Intacct's `getAPISession`, end to end against
//! `tests/peers/intacct_peer.py`, which parses the XML it receives. The
//! tests check the exact request bytes, the session id and absolute expiry
//! read from the reply, a new login after expiry, the proxy adding no
//! credential (`caller_places_token`), and failed logins reported with the
//! redacted reply.

mod support;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::latchkey::{assert_error, send, CatalogDir, CatalogServer};
use support::peers::peers_dir;
use support::process::{free_port, ChildGuard};
use support::{credential, provider_file, random_hex};

/// Lifetime of every session the peer issues. Latchkey logs in again after
/// half of it, so the renewal test waits a little longer than that.
const SESSION_LIFETIME_SECONDS: u64 = 2;
const PAST_HALF_LIFETIME: Duration = Duration::from_millis(1300);

// The values intacct_peer.py accepts. The passwords hold XML markup, which
// must reach the peer as text.
const SENDER_ID: &str = "sender-7";
const SENDER_PASSWORD: &str = "sender<&>pw";
const USER_ID: &str = "ada";
/// The other user id the peer accepts, which only
/// `xml_login_request_bytes_exact` uses, to find its login among those of
/// the tests running beside it.
const BYTES_USER_ID: &str = "grace";
const COMPANY_ID: &str = "company-42";
const USER_PASSWORD: &str = "user<pw>&'\"";

/// `tests/peers/intacct_peer.py` on a free port.
struct IntacctPeer {
    base_url: String,
    _process: ChildGuard,
    _logs: TempDir,
}

impl IntacctPeer {
    fn start() -> IntacctPeer {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python venv is not installed: {} is missing. Run scripts/test.sh, which installs the test peers.",
            python.display()
        );
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("intacct_peer.py"))
            .arg(port.to_string())
            .arg(SESSION_LIFETIME_SECONDS.to_string())
            .stdout(Stdio::null());
        let mut process = ChildGuard::spawn("intacct_peer", command, &logs.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        IntacctPeer {
            base_url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _logs: logs,
        }
    }

    /// Returns the login requests the peer received, oldest first.
    async fn logins(&self) -> Vec<Value> {
        let logins: Value = reqwest::get(format!("{}/logins", self.base_url))
            .await
            .expect("GET /logins")
            .json()
            .await
            .expect("logins JSON");
        logins.as_array().expect("a list of logins").clone()
    }
}

struct Env {
    peer: IntacctPeer,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let peer = IntacctPeer::start();
        let catalog = CatalogDir::new();
        catalog.write("test-xml-login", &xml_provider(&peer.base_url));
        let latchkey = CatalogServer::start(catalog, &[]);
        Env { peer, latchkey }
    })
}

/// Returns a provider with the layout that the importer writes for Sage
/// Intacct, pointed at the peer.
fn xml_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    senderId: {{title: Sender ID}}
    senderPassword: {{title: Sender password, secret: true}}
    userId: {{title: User ID}}
    companyId: {{title: Company ID}}
    userPassword: {{title: User password, secret: true}}
  token_request:
    url: "{base}/gateway"
    body_format: xml
    params:
      request:
      - control:
        - senderid: "{{{{ senderId }}}}"
        - password: "{{{{ senderPassword }}}}"
        - controlid: "{{{{ now('%Y-%m-%dT%H:%M:%S%.3fZ') }}}}"
        - uniqueid: false
        - dtdversion: "3.0"
        - includewhitespace: false
      - operation:
        - authentication:
          - login:
            - userid: "{{{{ userId }}}}"
            - companyid: "{{{{ companyId }}}}"
            - password: "{{{{ userPassword }}}}"
        - content:
          - function:
            - "@controlid": "{{{{ random_token }}}}"
            - getAPISession: ""
    headers:
      content-type: application/xml
  token_response:
    body: xml
    access_token: response.operation.result.data.api.sessionid
    expires_at:
      path: response.operation.authentication.sessiontimeout
      format: auto
  caller_places_token: true"#
    );
    provider_file("test-xml-login", "XML login", &auth, base, "")
}

fn credentials(user_id: &str, user_password: &str) -> Value {
    json!({
        "type": "TWO_STEP",
        "senderId": SENDER_ID,
        "senderPassword": SENDER_PASSWORD,
        "userId": user_id,
        "companyId": COMPANY_ID,
        "userPassword": user_password,
    })
}

/// Returns the document a login must send, with the two generated ids.
fn expected_login(controlid: &str, function_controlid: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <request><control><senderid>sender-7</senderid>\
         <password>sender&lt;&amp;&gt;pw</password>\
         <controlid>{controlid}</controlid><uniqueid>false</uniqueid>\
         <dtdversion>3.0</dtdversion><includewhitespace>false</includewhitespace></control>\
         <operation><authentication><login><userid>grace</userid>\
         <companyid>company-42</companyid>\
         <password>user&lt;pw&gt;&amp;&apos;&quot;</password></login></authentication>\
         <content><function controlid=\"{function_controlid}\"><getAPISession></getAPISession>\
         </function></content></operation></request>"
    )
}

/// Creates a connection and returns the reply.
async fn connect(
    env: &Env,
    key: &str,
    id: &str,
    user_id: &str,
    user_password: &str,
) -> support::latchkey::Reply {
    env.latchkey
        .server
        .api()
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "connection_id": id,
                "credentials": credentials(user_id, user_password),
            }),
        )
        .await
}

/// Sends an Intacct API call through the proxy with `session` in its body.
async fn api_call(env: &Env, key: &str, id: &str, session: &str) -> support::latchkey::Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>{SENDER_ID}</senderid>\
         </control><operation><authentication><sessionid>{session}</sessionid></authentication>\
         <content><function controlid=\"c1\"><readByQuery/></function></content></operation></request>"
    );
    let api = env.latchkey.server.api();
    send(
        api.proxy(Method::POST, "/gateway", key, id)
            .header("Content-Type", "application/xml")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn xml_login_request_bytes_exact() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = api.integration_of("test-xml-login").await;
    let id = format!("conn-{}", random_hex(6));

    let reply = connect(env, &key, &id, BYTES_USER_ID, USER_PASSWORD).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let logins: Vec<Value> = env
        .peer
        .logins()
        .await
        .into_iter()
        .filter(|login| login["parsed"]["userid"] == BYTES_USER_ID)
        .collect();
    assert_eq!(logins.len(), 1, "{logins:?}");
    let login = &logins[0];
    assert_eq!(login["content_type"], "application/xml");
    assert_eq!(login["accept"], "application/xml");
    let parsed = &login["parsed"];
    // The peer's XML parser read the entered passwords back as text.
    assert_eq!(parsed["sender_password"], SENDER_PASSWORD);
    assert_eq!(parsed["user_password"], USER_PASSWORD);
    let controlid = parsed["controlid"].as_str().expect("a controlid");
    let iso_millis = Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    assert!(iso_millis.is_match(controlid), "{controlid}");
    let function_controlid = parsed["function_controlid"].as_str().expect("an attribute");
    let random = Regex::new(r"^[A-Za-z0-9_-]{16,}$").unwrap();
    assert!(random.is_match(function_controlid), "{function_controlid}");
    let body = login["body"].as_str().expect("the body as text");
    assert_eq!(body, expected_login(controlid, function_controlid));
}

#[tokio::test]
async fn xml_session_stored_and_renewed() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = api.integration_of("test-xml-login").await;
    let id = format!("conn-{}", random_hex(6));

    let reply = connect(env, &key, &id, USER_ID, USER_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let created = reply.json();
    let first_session = credential(&created, "token");
    assert!(first_session.ends_with(".."), "{first_session}");
    let expires_at = credential(&created, "expires_at");
    let expires_at = chrono::DateTime::parse_from_rfc3339(&expires_at).expect("RFC 3339");
    let lifetime = expires_at.signed_duration_since(chrono::Utc::now());
    assert!(
        lifetime.num_seconds() <= SESSION_LIFETIME_SECONDS as i64 && lifetime.num_seconds() >= -1,
        "expiry {expires_at} is not the peer's sessiontimeout"
    );

    // The caller reads the session id from the connection and writes it
    // into its own XML body; the proxy adds no credential of its own.
    let stored = api.connection(&key, &id, None).await;
    assert_eq!(credential(&stored, "token"), first_session);
    let reply = api_call(env, &key, &id, &first_session).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.text.contains("<authorization>absent</authorization>"),
        "{}",
        reply.text
    );

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let renewed = api.connection(&key, &id, None).await;
    let second_session = credential(&renewed, "token");
    assert_ne!(second_session, first_session);
    let reply = api_call(env, &key, &id, &second_session).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.text.contains("<status>success</status>"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn xml_login_failure_redacted() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = api.integration_of("test-xml-login").await;
    let id = format!("conn-{}", random_hex(6));
    // The peer echoes it escaped as XML text (`&`, `<` and `>` only), with
    // the quotes as written.
    let wrong_password = format!("wrong<{}>&'\"", random_hex(6));

    let reply = connect(env, &key, &id, USER_ID, &wrong_password).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "wrong user password",
    );
    let message = reply.error_message();
    assert!(message.contains("HTTP 200"), "{message}");
    assert!(
        message.contains("Sign-in information is incorrect"),
        "{message}"
    );
    assert!(message.contains("[redacted]"), "{message}");
    // The peer echoes the password XML-escaped, which is redacted too.
    let escaped = wrong_password
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    for form in [wrong_password.as_str(), escaped.as_str()] {
        assert!(!message.contains(form), "{message}");
    }
    // The message quotes only the start of the reply, so no part of the
    // password may show either.
    assert!(!message.contains("wrong"), "{message}");
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
    let logs = env.latchkey.server.logs();
    assert!(
        !logs.contains(&wrong_password),
        "the password reached the logs"
    );
}

#[tokio::test]
async fn character_reference_echo_redacted() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = api.integration_of("test-xml-login").await;
    let id = format!("conn-{}", random_hex(6));
    let wrong_password = format!("wrong<{}>&'\"", random_hex(6));

    // The peer echoes the password as `wrong&#60;...&#62;&#38;&#39;&#34;`.
    let reply = connect(env, &key, &id, "echo-references", &wrong_password).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "echo with character references",
    );
    let message = reply.error_message();
    assert!(
        message.contains("Sign-in information is incorrect"),
        "{message}"
    );
    assert!(message.contains("[redacted]"), "{message}");
    assert!(!message.contains("wrong"), "{message}");
    assert!(!message.contains("&#60;"), "{message}");
}
