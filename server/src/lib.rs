//! The Latchkey HTTP API: integrations, connections, the OAuth flow and the
//! proxy, over an encrypted sled store.
//!
//! [`Server::open`] builds the shared state from a data directory, the keys
//! and a [`ServerConfig`]; [`Server::router`] is the axum router and
//! [`Server::serve`] runs it until a shutdown signal.

mod assume_role;
mod connection_config;
mod crypto;
mod error;
mod extract;
mod integration_config;
pub mod keys;
mod logging;
mod pages;
mod post_connection;
mod records;
mod refresh;
mod routes;
mod store;
mod two_step;
mod validate;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use latchkey_catalog::Provider;
use latchkey_engine::Engine;
pub use latchkey_engine::TlsSettings;

pub use crate::error::ApiError;
use crate::keys::{Keys, SecretKey};
use crate::refresh::RefreshLocks;
use crate::store::Store;
pub use crate::store::StoreError;

/// Name of the sled directory inside the data directory.
const STORE_DIR: &str = "store";
/// How often expired connect sessions and OAuth states are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Settings of one server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Every provider the server serves, built-in and from catalog directories.
    pub providers: Vec<Provider>,
    /// Base URL the end user's browser reaches the server at, without a
    /// trailing slash; the OAuth redirect URI is `<public_url>/oauth/callback`.
    pub public_url: String,
    /// Lifetime of a connect session token; [`TTL_RANGE_SECONDS`] bounds it.
    pub connect_session_ttl: Duration,
    /// Lifetime of an OAuth state; [`TTL_RANGE_SECONDS`] bounds it.
    pub oauth_state_ttl: Duration,
    /// Root certificates trusted besides the built-in web PKI roots, for
    /// token requests and proxied requests alike.
    pub tls: TlsSettings,
}

/// Allowed lifetimes of connect sessions and OAuth states, in seconds: one
/// second to 30 days.
pub const TTL_RANGE_SECONDS: std::ops::RangeInclusive<u64> = 1..=30 * 24 * 60 * 60;

/// Parses a `--public-url` value: an absolute http or https URL with a host
/// and without user info, query or fragment. Returns it without a trailing
/// slash, because paths such as `/oauth/callback` are appended to it.
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|error| {
        format!("`{text}` is not an absolute URL ({error}); pass one such as https://latchkey.example.com")
    })?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some("its scheme must be http or https")
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("it must name a host")
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("it must not contain user info")
    } else if url.query().is_some() {
        Some("it must not have a query string")
    } else if url.fragment().is_some() {
        Some("it must not have a fragment")
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(format!(
            "`{text}` is not a valid public URL: {problem}; pass one such as https://latchkey.example.com"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "data directory `{data_dir}` is in use by another Latchkey process (sled lock); \
         stop it or pass another --data-dir"
    )]
    StoreLocked { data_dir: String },
    #[error("cannot open the store in {path}: {source}")]
    Store { path: String, source: StoreError },
    #[error(
        "{name} is {seconds} seconds, outside the allowed range of {} to {} seconds",
        TTL_RANGE_SECONDS.start(),
        TTL_RANGE_SECONDS.end()
    )]
    InvalidTtl { name: &'static str, seconds: u64 },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// State shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub catalog: Arc<BTreeMap<String, Provider>>,
    pub store: Arc<Store>,
    pub secret_key: Arc<SecretKey>,
    pub engine: Engine,
    /// Client for proxied requests: no redirects, no decompression.
    pub proxy_client: reqwest::Client,
    /// The extra trusted roots, for the clients built per connection that
    /// present a TLS client certificate.
    pub tls: TlsSettings,
    pub refresh_locks: Arc<RefreshLocks>,
    pub settings: Arc<Settings>,
}

pub(crate) struct Settings {
    pub public_url: String,
    pub connect_session_ttl: chrono::Duration,
    pub oauth_state_ttl: chrono::Duration,
}

impl Settings {
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url)
    }

    /// Returns `now + ttl`, or a 500 when the sum overflows the date range.
    pub fn expiry(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        ttl: chrono::Duration,
    ) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
        now.checked_add_signed(ttl).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "invalid_ttl",
                format!(
                    "the lifetime of {} seconds is too large: restart the server with a smaller TTL",
                    ttl.num_seconds()
                ),
            )
        })
    }
}

impl AppState {
    pub fn provider(&self, name: &str) -> Result<&Provider, ApiError> {
        self.catalog
            .get(name)
            .ok_or_else(|| ApiError::unknown_provider(name))
    }
}

/// A ready server: store opened, clients built.
pub struct Server {
    state: AppState,
}

impl Server {
    /// Opens the store in `<data_dir>/store` with the encryption key of `keys`.
    pub fn open(data_dir: &Path, keys: &Keys, config: ServerConfig) -> Result<Server, ServerError> {
        let store_path = data_dir.join(STORE_DIR);
        let cipher = crypto::Cipher::new(keys.encryption_key.bytes());
        let store = Store::open(&store_path, cipher).map_err(|source| {
            if source.is_locked() {
                ServerError::StoreLocked {
                    data_dir: data_dir.display().to_string(),
                }
            } else {
                ServerError::Store {
                    path: store_path.display().to_string(),
                    source,
                }
            }
        })?;
        let state = build_state(store, keys.secret_key.clone(), config)?;
        Ok(Server { state })
    }

    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then lets open
    /// requests finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let store = self.state.store.clone();
        let purge = tokio::spawn(async move {
            let mut interval = tokio::time::interval(PURGE_INTERVAL);
            loop {
                interval.tick().await;
                match store.purge_expired(chrono::Utc::now()).await {
                    Ok(0) => {}
                    Ok(removed) => {
                        tracing::info!(removed, "deleted expired connect sessions and OAuth states")
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "deleting expired connect sessions and OAuth states failed")
                    }
                }
            }
        });
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        purge.abort();
        result
    }
}

fn build_state(
    store: Store,
    secret_key: SecretKey,
    config: ServerConfig,
) -> Result<AppState, ServerError> {
    let connect_session_ttl = checked_ttl("connect_session_ttl", config.connect_session_ttl)?;
    let oauth_state_ttl = checked_ttl("oauth_state_ttl", config.oauth_state_ttl)?;
    // Token, login, post-connection and discovery requests carry client
    // secrets, codes and entered passwords, and a redirect would resend
    // them to whatever host the `Location` names. None is followed.
    let token_client = config.tls.token_client_builder().build()?;
    let proxy_client = proxy_client_builder(&config.tls).build()?;
    let catalog = config
        .providers
        .into_iter()
        .map(|provider| (provider.name.clone(), provider))
        .collect();
    let settings = Settings {
        public_url: config.public_url.trim_end_matches('/').to_owned(),
        connect_session_ttl,
        oauth_state_ttl,
    };
    Ok(AppState {
        catalog: Arc::new(catalog),
        store: Arc::new(store),
        secret_key: Arc::new(secret_key),
        engine: Engine::with_tls(token_client, config.tls.clone()),
        proxy_client,
        tls: config.tls,
        refresh_locks: Arc::new(RefreshLocks::default()),
        settings: Arc::new(settings),
    })
}

/// Returns a builder of the proxy client: no redirects, no decompression,
/// and the extra trusted roots of `tls`.
pub(crate) fn proxy_client_builder(tls: &TlsSettings) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120));
    tls.apply(builder)
}

/// Converts a lifetime, rejecting one outside [`TTL_RANGE_SECONDS`].
fn checked_ttl(name: &'static str, ttl: Duration) -> Result<chrono::Duration, ServerError> {
    let seconds = ttl.as_secs();
    let invalid = || ServerError::InvalidTtl { name, seconds };
    if !TTL_RANGE_SECONDS.contains(&seconds) {
        return Err(invalid());
    }
    chrono::Duration::from_std(ttl).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_rules() {
        let valid = [
            ("http://127.0.0.1:3003", "http://127.0.0.1:3003"),
            (
                "https://latchkey.example.com/",
                "https://latchkey.example.com",
            ),
            (
                "https://example.com/latchkey/",
                "https://example.com/latchkey",
            ),
        ];
        for (input, expected) in valid {
            assert_eq!(parse_public_url(input).as_deref(), Ok(expected), "{input}");
        }
        let invalid = [
            ("latchkey.example.com", "not an absolute URL"),
            ("ftp://example.com", "http or https"),
            ("https://user:pw@example.com", "user info"),
            ("https://example.com/?a=1", "query string"),
            ("https://example.com/#top", "fragment"),
            ("file:///tmp", "http or https"),
        ];
        for (input, expected) in invalid {
            let error = parse_public_url(input).unwrap_err();
            assert!(error.contains(expected), "{input}: {error}");
        }
    }

    #[test]
    fn ttl_outside_range_is_rejected() {
        assert!(checked_ttl("oauth_state_ttl", Duration::from_secs(1)).is_ok());
        assert!(checked_ttl("oauth_state_ttl", Duration::from_secs(2_592_000)).is_ok());
        for seconds in [0, 2_592_001, u64::MAX] {
            let error = checked_ttl("oauth_state_ttl", Duration::from_secs(seconds)).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("oauth_state_ttl"), "{message}");
            assert!(message.contains("2592000"), "{message}");
        }
    }

    #[test]
    fn locked_data_dir_names_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys::load_or_generate(dir.path(), &keys::KeyOverrides::default()).unwrap();
        let config = || ServerConfig {
            providers: Vec::new(),
            public_url: "http://127.0.0.1:3003".to_owned(),
            connect_session_ttl: Duration::from_secs(1800),
            oauth_state_ttl: Duration::from_secs(600),
            tls: TlsSettings::default(),
        };
        let _first = Server::open(dir.path(), &keys, config()).unwrap();
        let Err(error) = Server::open(dir.path(), &keys, config()) else {
            panic!("a second server opened a locked data directory");
        };
        let message = error.to_string();
        assert!(
            matches!(error, ServerError::StoreLocked { .. }),
            "{message}"
        );
        assert!(
            message.contains("in use by another Latchkey process"),
            "{message}"
        );
        assert!(message.contains("--data-dir"), "{message}");
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Builds a state over a fresh store in `dir`, with secret key `test-secret`.
    pub fn state(dir: &Path, providers: Vec<Provider>, public_url: &str) -> AppState {
        let store = Store::open(&dir.join(STORE_DIR), crypto::Cipher::new(&[3u8; 32])).unwrap();
        let config = ServerConfig {
            providers,
            public_url: public_url.to_owned(),
            connect_session_ttl: Duration::from_secs(1800),
            oauth_state_ttl: Duration::from_secs(600),
            tls: TlsSettings::default(),
        };
        build_state(store, SecretKey::new("test-secret"), config).unwrap()
    }
}
