//! `proxy.follow_redirects`: the proxy follows an upstream redirect with the
//! credential header only to the base URL's host or a declared host, and
//! returns any other redirect to the caller without contacting its target.
//! The upstreams are recorders that keep the exact requests they receive.

mod support;

use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::json;

use support::latchkey::{send, Api, CatalogDir, CatalogServer};
use support::recorder::{CannedReply, Recorder};
use support::{provider_file, random_hex};

struct Env {
    /// The providers' API, on 127.0.0.1.
    upstream: Recorder,
    /// A second server reached as `localhost`, which only the provider that
    /// lists `localhost` may be redirected to.
    listed: Recorder,
    /// A server reached as `localhost` that no redirect may reach.
    unlisted: Recorder,
    latchkey: CatalogServer,
}

const API_KEY_AUTH: &str =
    "  mode: api_key\n  inject:\n    name: X-Api-Key\n    value: \"{{ api_key }}\"";

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let upstream = Recorder::start();
        let listed = Recorder::start();
        let unlisted = Recorder::start();
        let base = &upstream.base_url;
        let catalog = CatalogDir::new();
        let providers = [
            (
                "test-redirect-listed",
                "  follow_redirects:\n    hosts: [localhost]\n",
            ),
            ("test-redirect-same-host", "  follow_redirects: {}\n"),
            ("test-redirect-off", ""),
        ];
        for (name, extra) in providers {
            catalog.write(name, &provider_file(name, name, API_KEY_AUTH, base, extra));
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            upstream,
            listed,
            unlisted,
            latchkey,
        }
    })
}

/// Creates an integration and an API-key connection of `provider` and
/// returns its key, its connection id and the API key.
async fn connect(api: &Api, provider: &str) -> (String, String, String) {
    let key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({ "unique_key": key, "provider": provider }))
        .await;
    let id = format!("conn-{}", random_hex(6));
    let api_key = format!("key-{}", random_hex(8));
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": id,
        "credentials": {"type": "API_KEY", "api_key": api_key},
    }))
    .await;
    (key, id, api_key)
}

#[tokio::test]
async fn same_host_redirect_followed() {
    let env = env();
    let api = env.latchkey.server.api();
    let (key, id, api_key) = connect(&api, "test-redirect-same-host").await;
    env.upstream.set_reply(
        "/same/start",
        CannedReply::redirect(302, "/same/landing?page=2"),
    );

    let reply = send(api.proxy(Method::GET, "/same/start", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let landed = env.upstream.requests_to("/same/landing");
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].target, "/same/landing?page=2");
    assert_eq!(landed[0].method, "GET");
    assert_eq!(landed[0].header_values("X-Api-Key"), [api_key]);
}

#[tokio::test]
async fn listed_host_redirect_followed() {
    let env = env();
    let api = env.latchkey.server.api();
    let (key, id, api_key) = connect(&api, "test-redirect-listed").await;
    let target = format!("http://localhost:{}/listed/landing", env.listed.port);
    env.upstream
        .set_reply("/listed/start", CannedReply::redirect(307, &target));

    let reply = send(
        api.proxy(Method::POST, "/listed/start", &key, &id)
            .header("Content-Type", "application/json")
            .body(r#"{"n":1}"#),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let landed = env.listed.requests_to("/listed/landing");
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].method, "POST", "a 307 keeps the method");
    assert_eq!(landed[0].body, br#"{"n":1}"#, "a 307 keeps the body");
    assert_eq!(landed[0].header_values("X-Api-Key"), [api_key]);
}

#[tokio::test]
async fn see_other_turns_into_get() {
    let env = env();
    let api = env.latchkey.server.api();
    let (key, id, api_key) = connect(&api, "test-redirect-same-host").await;
    env.upstream
        .set_reply("/other/start", CannedReply::redirect(303, "/other/result"));

    let reply = send(
        api.proxy(Method::POST, "/other/start", &key, &id)
            .header("Content-Type", "application/json")
            .body(r#"{"n":2}"#),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let landed = env.upstream.requests_to("/other/result");
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].method, "GET");
    assert!(landed[0].body.is_empty());
    assert!(landed[0].header_values("Content-Type").is_empty());
    assert_eq!(landed[0].header_values("X-Api-Key"), [api_key]);
}

#[tokio::test]
async fn unlisted_host_redirect_returned() {
    let env = env();
    let api = env.latchkey.server.api();
    let port = env.unlisted.port;
    // (provider, request path, redirect target)
    let cases = [
        (
            "test-redirect-same-host",
            "/unlisted/start",
            format!("http://localhost:{port}/unlisted/landing"),
        ),
        (
            "test-redirect-listed",
            "/unlisted/other-host",
            format!("http://127.0.0.2:{port}/unlisted/landing"),
        ),
    ];

    for (provider, path, target) in cases {
        env.upstream
            .set_reply(path, CannedReply::redirect(302, &target));
        let (key, id, _) = connect(&api, provider).await;

        let reply = send(api.proxy(Method::GET, path, &key, &id)).await;

        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "{provider}: {}",
            reply.text
        );
        let location = reply.headers.get("location").unwrap().to_str().unwrap();
        assert_eq!(location, target, "{provider}");
    }
    assert!(env.unlisted.requests().is_empty());
}

#[tokio::test]
async fn redirect_off_returns_redirect() {
    let env = env();
    let api = env.latchkey.server.api();
    let (key, id, _) = connect(&api, "test-redirect-off").await;
    env.upstream
        .set_reply("/off/start", CannedReply::redirect(302, "/off/landing"));

    let reply = send(api.proxy(Method::GET, "/off/start", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text);
    assert_eq!(reply.headers.get("location").unwrap(), "/off/landing");
    assert!(env.upstream.requests_to("/off/landing").is_empty());
}
