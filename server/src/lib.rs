//! The Latchkey HTTP API: integrations, connections, the OAuth flow and the
//! proxy, over an encrypted sled store.
//!
//! [`Server::open`] builds the shared state from a data directory, the keys
//! and a [`ServerConfig`]; [`Server::router`] is the axum router and
//! [`Server::serve`] runs it until a shutdown signal.

mod connection_config;
mod crypto;
mod error;
mod extract;
pub mod keys;
mod logging;
mod pages;
mod records;
mod refresh;
mod routes;
mod store;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use latchkey_catalog::Provider;
use latchkey_engine::Engine;

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
    pub connect_session_ttl: Duration,
    pub oauth_state_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the store in {path}: {source}")]
    Store { path: String, source: StoreError },
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
        let store = Store::open(&store_path, cipher).map_err(|source| ServerError::Store {
            path: store_path.display().to_string(),
            source,
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
    let token_client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?;
    let proxy_client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .build()?;
    let catalog = config
        .providers
        .into_iter()
        .map(|provider| (provider.name.clone(), provider))
        .collect();
    let settings = Settings {
        public_url: config.public_url.trim_end_matches('/').to_owned(),
        connect_session_ttl: to_chrono(config.connect_session_ttl),
        oauth_state_ttl: to_chrono(config.oauth_state_ttl),
    };
    Ok(AppState {
        catalog: Arc::new(catalog),
        store: Arc::new(store),
        secret_key: Arc::new(secret_key),
        engine: Engine::new(token_client),
        proxy_client,
        refresh_locks: Arc::new(RefreshLocks::default()),
        settings: Arc::new(settings),
    })
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
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
        };
        build_state(store, SecretKey::new("test-secret"), config).unwrap()
    }
}
