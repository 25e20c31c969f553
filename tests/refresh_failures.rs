//! Refresh failures that happen before any reply: a token endpoint that
//! accepts the TCP connection and closes it at once. Such a failure is
//! temporary, so the connection stays, the failure is recorded, and the
//! provider is asked again only after the backoff.

mod support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use support::latchkey::{CatalogDir, CatalogServer};
use support::{provider_file, random_hex};

const PROVIDER: &str = "test-reset";

/// A listener on 127.0.0.1 that accepts every connection and drops it
/// without reading or replying.
struct DroppingListener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl DroppingListener {
    fn start() -> DroppingListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        DroppingListener { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn connection_reset_is_temporary() {
    let token_endpoint = DroppingListener::start();
    let base = format!("http://127.0.0.1:{}", token_endpoint.port);
    let catalog = CatalogDir::new();
    let auth = format!(
        r#"  mode: oauth2
  authorization_url: "{base}/authorize"
  token_url: "{base}/token""#
    );
    catalog.write(
        PROVIDER,
        &provider_file(PROVIDER, "Test reset", &auth, &base, ""),
    );
    let latchkey = CatalogServer::start(catalog, &[]);
    let api = latchkey.server.api();
    let key = format!("reset-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": PROVIDER,
        "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret"},
    }))
    .await;
    let user = format!("reset-user-{}", random_hex(4));
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": "expired",
        "end_user": {"id": user},
        "credentials": {"type": "OAUTH2", "access_token": "at-old", "refresh_token": "rt-old",
                        "expires_at": "2020-01-01T00:00:00Z"},
    }))
    .await;

    let failed = api.connection_reply(&key, "expired", Some(true)).await;

    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.text);
    assert_eq!(failed.error_code(), "refresh_temporarily_failed");
    let message = failed.error_message();
    assert!(message.contains(PROVIDER), "{message}");
    assert!(message.contains("retry later"), "{message}");
    assert!(!message.contains("rt-old"), "{message}");
    assert_eq!(token_endpoint.accepted(), 1);

    // Within the backoff, the recorded failure is returned without a new
    // attempt, and the connection is kept unchanged.
    let blocked = api.connection_reply(&key, "expired", Some(false)).await;
    assert_eq!(blocked.status, StatusCode::BAD_GATEWAY, "{}", blocked.text);
    assert_eq!(blocked.error_code(), "refresh_temporarily_failed");
    assert!(
        blocked
            .error_message()
            .contains("the next attempt is made 5 seconds after"),
        "{}",
        blocked.error_message()
    );
    assert_eq!(token_endpoint.accepted(), 1);
    let listed = api.connections_of(&user).await;
    assert_eq!(listed.len(), 1, "the failure deleted the connection");
    let errors = listed[0]["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.iter().any(|e| e["type"] == "refresh"),
        "no refresh error recorded: {}",
        listed[0]
    );

    // After the backoff, the next read sends a new token request.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let retried = api.connection_reply(&key, "expired", Some(false)).await;
    assert_eq!(retried.status, StatusCode::BAD_GATEWAY, "{}", retried.text);
    assert_eq!(token_endpoint.accepted(), 2);

    let listed = api.connections_of(&user).await;
    assert_eq!(listed.len(), 1, "the second failure deleted the connection");
}
