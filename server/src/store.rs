//! The sled store. Every value is a JSON record sealed with AES-256-GCM
//! (see [`crate::crypto`]). Keys are ids that are not secret, or the SHA-256
//! of a value that is (connect session tokens, OAuth states).
//!
//! Every write runs in a sled transaction, so a change that touches several
//! records either lands whole or not at all. Changes whose transaction needs
//! a prefix scan first (an integration and its connections) also take
//! `structure_lock`, so no connection is added under an integration between
//! the scan and the transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{abort, ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use crate::crypto::{Cipher, CryptoError};
use crate::records::{ConnectSessionRecord, ConnectionRecord, IntegrationRecord, OAuthStateRecord};

const INTEGRATIONS: &str = "integrations";
const CONNECTIONS: &str = "connections";
const SESSIONS: &str = "connect_sessions";
const STATES: &str = "oauth_states";
const META: &str = "meta";
const KEY_CHECK: &[u8] = b"encryption_key_check";
const KEY_CHECK_VALUE: &[u8] = b"latchkey";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sled::Error),
    #[error("cannot decrypt a record in `{tree}`: {source}")]
    Crypto {
        tree: &'static str,
        source: CryptoError,
    },
    #[error("cannot decode a record in `{tree}`: {source}")]
    Decode {
        tree: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot encode a record for `{tree}`: {source}")]
    Encode {
        tree: &'static str,
        source: serde_json::Error,
    },
    #[error(
        "the encryption key does not match the one this data directory was written with; \
         set LATCHKEY_ENCRYPTION_KEY to the original key or use another --data-dir"
    )]
    WrongEncryptionKey,
    #[error("write rejected by the test fault hook")]
    InjectedFailure,
}

impl StoreError {
    /// Returns whether sled could not lock its directory because another
    /// process has it open.
    pub fn is_locked(&self) -> bool {
        // NOTE: sled 0.34 reports a held lock only as an `Other` I/O error
        // whose message starts with "could not acquire lock", so the message
        // is the only sign of it.
        match self {
            StoreError::Database(sled::Error::Io(error)) => {
                error.to_string().starts_with("could not acquire lock")
            }
            _ => false,
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(error: TransactionError<StoreError>) -> StoreError {
        match error {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(inner) => StoreError::Database(inner),
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Outcome of [`Store::create_connection`] and [`Store::complete_authorization`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateConnection {
    Created,
    Duplicate,
    UnknownIntegration,
    /// The OAuth state was consumed by someone else (completion only).
    StateGone,
    /// The connect session already created a connection for this
    /// integration.
    SessionUsed,
}

/// Outcome of [`Store::update_integration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateIntegration {
    Updated,
    NotFound,
    /// The new unique key is taken by another integration.
    Duplicate,
}

/// Outcome of [`Store::claim_state`].
#[derive(Debug)]
pub enum ClaimState {
    Claimed(Box<OAuthStateRecord>),
    /// Unknown, already claimed, or expired (an expired state is removed).
    Invalid,
}

/// Encrypted sled trees for every record kind.
pub struct Store {
    db: sled::Db,
    integrations: Tree,
    connections: Tree,
    sessions: Tree,
    states: Tree,
    cipher: Cipher,
    structure_lock: Mutex<()>,
    fault: Arc<AtomicBool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Key of a connection: `<provider_config_key>\0<connection_id>`.
pub fn connection_key(provider_config_key: &str, connection_id: &str) -> Vec<u8> {
    let mut key = integration_prefix(provider_config_key);
    key.extend_from_slice(connection_id.as_bytes());
    key
}

fn integration_prefix(provider_config_key: &str) -> Vec<u8> {
    let mut key = provider_config_key.as_bytes().to_vec();
    key.push(0);
    key
}

impl Store {
    /// Opens (or creates) the store in `path` and checks that `cipher` is the
    /// key the existing records were written with.
    pub fn open(path: &std::path::Path, cipher: Cipher) -> Result<Store, StoreError> {
        let db = sled::open(path)?;
        let store = Store {
            integrations: db.open_tree(INTEGRATIONS)?,
            connections: db.open_tree(CONNECTIONS)?,
            sessions: db.open_tree(SESSIONS)?,
            states: db.open_tree(STATES)?,
            db,
            cipher,
            structure_lock: Mutex::new(()),
            fault: Arc::new(AtomicBool::new(false)),
        };
        store.check_encryption_key()?;
        Ok(store)
    }

    fn check_encryption_key(&self) -> Result<(), StoreError> {
        let meta = self.db.open_tree(META)?;
        match meta.get(KEY_CHECK)? {
            Some(sealed) => match self.cipher.open(META, KEY_CHECK, &sealed) {
                Ok(value) if value == KEY_CHECK_VALUE => Ok(()),
                _ => Err(StoreError::WrongEncryptionKey),
            },
            None => {
                let sealed = self
                    .cipher
                    .seal(META, KEY_CHECK, KEY_CHECK_VALUE)
                    .map_err(|source| StoreError::Crypto { tree: META, source })?;
                meta.insert(KEY_CHECK, sealed)?;
                meta.flush()?;
                Ok(())
            }
        }
    }

    /// Makes every later write fail inside its transaction, after the
    /// transaction's own writes, so tests can check the rollback.
    #[cfg(test)]
    pub(crate) fn fail_writes(&self, fail: bool) {
        self.fault.store(fail, Ordering::SeqCst);
    }

    fn check_fault(&self) -> TxResult<()> {
        if self.fault.load(Ordering::SeqCst) {
            return abort(StoreError::InjectedFailure);
        }
        Ok(())
    }

    fn lock_structure(&self) -> MutexGuard<'_, ()> {
        // A poisoned lock guards no data, so it is safe to keep using it.
        self.structure_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Returns a new numeric id, unique in this store.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        // sled's ids start at 0; Nango's numeric ids start at 1.
        Ok(self.db.generate_id()? + 1)
    }

    fn seal<T: Serialize>(
        &self,
        tree: &'static str,
        key: &[u8],
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        let json =
            serde_json::to_vec(value).map_err(|source| StoreError::Encode { tree, source })?;
        self.cipher
            .seal(tree, key, &json)
            .map_err(|source| StoreError::Crypto { tree, source })
    }

    fn unseal<T: DeserializeOwned>(
        &self,
        tree: &'static str,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<T, StoreError> {
        let json = self
            .cipher
            .open(tree, key, sealed)
            .map_err(|source| StoreError::Crypto { tree, source })?;
        serde_json::from_slice(&json).map_err(|source| StoreError::Decode { tree, source })
    }

    fn get<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        name: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            Some(sealed) => Ok(Some(self.unseal(name, key, &sealed)?)),
            None => Ok(None),
        }
    }

    fn tx_insert<T: Serialize>(
        &self,
        tree: &TransactionalTree,
        name: &'static str,
        key: &[u8],
        value: &T,
    ) -> TxResult<()> {
        let sealed = self
            .seal(name, key, value)
            .map_err(ConflictableTransactionError::Abort)?;
        tree.insert(key, sealed)?;
        Ok(())
    }

    fn tx_get<T: DeserializeOwned>(
        &self,
        tree: &TransactionalTree,
        name: &'static str,
        key: &[u8],
    ) -> TxResult<Option<T>> {
        match tree.get(key)? {
            Some(sealed) => self
                .unseal(name, key, &sealed)
                .map(Some)
                .map_err(ConflictableTransactionError::Abort),
            None => Ok(None),
        }
    }

    // Integrations

    /// Inserts a new integration; `false` when its unique key is taken.
    pub async fn create_integration(&self, record: &IntegrationRecord) -> Result<bool, StoreError> {
        let key = record.unique_key.as_bytes();
        let created = self.integrations.transaction(|tree| {
            if tree.get(key)?.is_some() {
                return Ok(false);
            }
            self.tx_insert(tree, INTEGRATIONS, key, record)?;
            self.check_fault()?;
            Ok(true)
        })?;
        self.flush().await?;
        Ok(created)
    }

    pub fn get_integration(
        &self,
        unique_key: &str,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        self.get(&self.integrations, INTEGRATIONS, unique_key.as_bytes())
    }

    /// Lists all integrations, ordered by unique key.
    pub fn list_integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        let mut records = Vec::new();
        for entry in self.integrations.iter() {
            let (key, sealed) = entry?;
            records.push(self.unseal(INTEGRATIONS, &key, &sealed)?);
        }
        Ok(records)
    }

    /// Replaces the integration stored under `old_key` with `record`. When
    /// the unique key changes, its connections move to the new key in the
    /// same transaction.
    pub async fn update_integration(
        &self,
        old_key: &str,
        record: &IntegrationRecord,
    ) -> Result<UpdateIntegration, StoreError> {
        let outcome = {
            let _guard = self.lock_structure();
            let renamed = old_key != record.unique_key;
            let moved = if renamed {
                self.connection_keys(old_key)?
            } else {
                Vec::new()
            };
            (&self.integrations, &self.connections).transaction(|(integrations, connections)| {
                if integrations.get(old_key.as_bytes())?.is_none() {
                    return Ok(UpdateIntegration::NotFound);
                }
                if renamed {
                    if integrations.get(record.unique_key.as_bytes())?.is_some() {
                        return Ok(UpdateIntegration::Duplicate);
                    }
                    integrations.remove(old_key.as_bytes())?;
                    for key in &moved {
                        self.tx_move_connection(connections, key, &record.unique_key)?;
                    }
                }
                self.tx_insert(
                    integrations,
                    INTEGRATIONS,
                    record.unique_key.as_bytes(),
                    record,
                )?;
                self.check_fault()?;
                Ok(UpdateIntegration::Updated)
            })?
        };
        self.flush().await?;
        Ok(outcome)
    }

    fn tx_move_connection(
        &self,
        connections: &TransactionalTree,
        key: &[u8],
        new_integration: &str,
    ) -> TxResult<()> {
        let Some(mut connection) =
            self.tx_get::<ConnectionRecord>(connections, CONNECTIONS, key)?
        else {
            return Ok(());
        };
        connections.remove(key)?;
        connection.provider_config_key = new_integration.to_owned();
        let new_key = connection_key(new_integration, &connection.connection_id);
        self.tx_insert(connections, CONNECTIONS, &new_key, &connection)
    }

    /// Deletes an integration and all its connections; `false` when unknown.
    pub async fn delete_integration(&self, unique_key: &str) -> Result<bool, StoreError> {
        let deleted = {
            let _guard = self.lock_structure();
            let keys = self.connection_keys(unique_key)?;
            (&self.integrations, &self.connections).transaction(|(integrations, connections)| {
                if integrations.remove(unique_key.as_bytes())?.is_none() {
                    return Ok(false);
                }
                for key in &keys {
                    connections.remove(key.as_slice())?;
                }
                self.check_fault()?;
                Ok(true)
            })?
        };
        self.flush().await?;
        Ok(deleted)
    }

    fn connection_keys(&self, integration: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut keys = Vec::new();
        for entry in self
            .connections
            .scan_prefix(integration_prefix(integration))
        {
            keys.push(entry?.0.to_vec());
        }
        Ok(keys)
    }

    // Connections

    /// Inserts a new connection under an existing integration.
    pub async fn create_connection(
        &self,
        record: &ConnectionRecord,
    ) -> Result<CreateConnection, StoreError> {
        let outcome = {
            let _guard = self.lock_structure();
            (&self.integrations, &self.connections).transaction(|(integrations, connections)| {
                let outcome = self.tx_create_connection(integrations, connections, record)?;
                self.check_fault()?;
                Ok(outcome)
            })?
        };
        self.flush().await?;
        Ok(outcome)
    }

    /// Inserts a new connection created through the connect session with
    /// this token hash, and records the integration on the session in the
    /// same transaction, so concurrent requests create one connection.
    pub async fn create_session_connection(
        &self,
        token_hash: &str,
        record: &ConnectionRecord,
    ) -> Result<CreateConnection, StoreError> {
        let outcome = {
            let _guard = self.lock_structure();
            (&self.sessions, &self.integrations, &self.connections).transaction(
                |(sessions, integrations, connections)| {
                    let outcome = self.tx_create_session_connection(
                        sessions,
                        integrations,
                        connections,
                        token_hash,
                        record,
                    )?;
                    self.check_fault()?;
                    Ok(outcome)
                },
            )?
        };
        self.flush().await?;
        Ok(outcome)
    }

    /// Inserts the connection unless the session already connected its
    /// integration. A session that is gone (purged after expiry) records
    /// nothing, because it can create no further connection anyway.
    fn tx_create_session_connection(
        &self,
        sessions: &TransactionalTree,
        integrations: &TransactionalTree,
        connections: &TransactionalTree,
        token_hash: &str,
        record: &ConnectionRecord,
    ) -> TxResult<CreateConnection> {
        let session: Option<ConnectSessionRecord> =
            self.tx_get(sessions, SESSIONS, token_hash.as_bytes())?;
        let integration = &record.provider_config_key;
        if session
            .as_ref()
            .is_some_and(|s| s.has_connected(integration))
        {
            return Ok(CreateConnection::SessionUsed);
        }
        let outcome = self.tx_create_connection(integrations, connections, record)?;
        if let (CreateConnection::Created, Some(mut session)) = (outcome, session) {
            session.connected_integrations.push(integration.clone());
            self.tx_insert(sessions, SESSIONS, token_hash.as_bytes(), &session)?;
        }
        Ok(outcome)
    }

    fn tx_create_connection(
        &self,
        integrations: &TransactionalTree,
        connections: &TransactionalTree,
        record: &ConnectionRecord,
    ) -> TxResult<CreateConnection> {
        if integrations
            .get(record.provider_config_key.as_bytes())?
            .is_none()
        {
            return Ok(CreateConnection::UnknownIntegration);
        }
        let key = connection_key(&record.provider_config_key, &record.connection_id);
        if connections.get(&key)?.is_some() {
            return Ok(CreateConnection::Duplicate);
        }
        self.tx_insert(connections, CONNECTIONS, &key, record)?;
        Ok(CreateConnection::Created)
    }

    pub fn get_connection(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let key = connection_key(provider_config_key, connection_id);
        self.get(&self.connections, CONNECTIONS, &key)
    }

    /// Lists all connections, ordered by integration key, then connection id.
    pub fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let mut records = Vec::new();
        for entry in self.connections.iter() {
            let (key, sealed) = entry?;
            records.push(self.unseal(CONNECTIONS, &key, &sealed)?);
        }
        Ok(records)
    }

    /// Overwrites an existing connection; `false` (and nothing written) when
    /// it was deleted meanwhile, so a late refresh never brings it back.
    pub async fn update_connection(&self, record: &ConnectionRecord) -> Result<bool, StoreError> {
        let key = connection_key(&record.provider_config_key, &record.connection_id);
        let updated = self.connections.transaction(|tree| {
            if tree.get(&key)?.is_none() {
                return Ok(false);
            }
            self.tx_insert(tree, CONNECTIONS, &key, record)?;
            self.check_fault()?;
            Ok(true)
        })?;
        self.flush().await?;
        Ok(updated)
    }

    pub async fn delete_connection(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError> {
        let key = connection_key(provider_config_key, connection_id);
        let deleted = self.connections.transaction(|tree| {
            let existed = tree.remove(key.as_slice())?.is_some();
            self.check_fault()?;
            Ok(existed)
        })?;
        self.flush().await?;
        Ok(deleted)
    }

    // Connect sessions and OAuth states

    /// Stores a connect session under the hash of its token.
    pub async fn create_session(
        &self,
        token_hash: &str,
        record: &ConnectSessionRecord,
    ) -> Result<(), StoreError> {
        self.sessions.transaction(|tree| {
            self.tx_insert(tree, SESSIONS, token_hash.as_bytes(), record)?;
            self.check_fault()
        })?;
        self.flush().await
    }

    /// Returns the session with this token hash, unless unknown or expired at `now`.
    pub fn get_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConnectSessionRecord>, StoreError> {
        let session: Option<ConnectSessionRecord> =
            self.get(&self.sessions, SESSIONS, token_hash.as_bytes())?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    /// Stores a pending OAuth state under the hash of its value.
    pub async fn create_state(
        &self,
        state_hash: &str,
        record: &OAuthStateRecord,
    ) -> Result<(), StoreError> {
        self.states.transaction(|tree| {
            self.tx_insert(tree, STATES, state_hash.as_bytes(), record)?;
            self.check_fault()
        })?;
        self.flush().await
    }

    /// Marks a state as used. Only the first caller gets it: the flag is set
    /// with a compare-and-swap on the exact stored bytes.
    pub fn claim_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimState, StoreError> {
        let key = state_hash.as_bytes();
        let Some(sealed) = self.states.get(key)? else {
            return Ok(ClaimState::Invalid);
        };
        let mut record: OAuthStateRecord = self.unseal(STATES, key, &sealed)?;
        if record.claimed {
            return Ok(ClaimState::Invalid);
        }
        if record.expires_at <= now {
            let _already_changed =
                self.states
                    .compare_and_swap(key, Some(&sealed), None as Option<&[u8]>)?;
            return Ok(ClaimState::Invalid);
        }

        record.claimed = true;
        let claimed = self.seal(STATES, key, &record)?;
        match self
            .states
            .compare_and_swap(key, Some(&sealed), Some(claimed))?
        {
            Ok(()) => Ok(ClaimState::Claimed(Box::new(record))),
            Err(_) => Ok(ClaimState::Invalid),
        }
    }

    /// Removes a state that failed (provider error, failed exchange).
    pub async fn discard_state(&self, state_hash: &str) -> Result<(), StoreError> {
        self.states.remove(state_hash.as_bytes())?;
        self.flush().await
    }

    /// Consumes a claimed state and stores the connection it produced, in
    /// one transaction.
    pub async fn complete_authorization(
        &self,
        state_hash: &str,
        record: &ConnectionRecord,
    ) -> Result<CreateConnection, StoreError> {
        let outcome = {
            let _guard = self.lock_structure();
            (
                &self.states,
                &self.sessions,
                &self.integrations,
                &self.connections,
            )
                .transaction(|(states, sessions, integrations, connections)| {
                    let state: Option<OAuthStateRecord> =
                        self.tx_get(states, STATES, state_hash.as_bytes())?;
                    let Some(state) = state.filter(|s| s.claimed) else {
                        return Ok(CreateConnection::StateGone);
                    };
                    states.remove(state_hash.as_bytes())?;
                    // The state stays consumed even when the connection cannot
                    // be created: a state is single-use whatever the outcome.
                    let outcome = match &state.session_token_hash {
                        Some(token_hash) => self.tx_create_session_connection(
                            sessions,
                            integrations,
                            connections,
                            token_hash,
                            record,
                        )?,
                        None => self.tx_create_connection(integrations, connections, record)?,
                    };
                    self.check_fault()?;
                    Ok(outcome)
                })?
        };
        self.flush().await?;
        Ok(outcome)
    }

    /// Deletes expired connect sessions and OAuth states; returns how many.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in self.sessions.iter() {
            let (key, sealed) = entry?;
            let session: ConnectSessionRecord = self.unseal(SESSIONS, &key, &sealed)?;
            if session.expires_at <= now {
                self.sessions.remove(&key)?;
                removed += 1;
            }
        }
        for entry in self.states.iter() {
            let (key, sealed) = entry?;
            let state: OAuthStateRecord = self.unseal(STATES, &key, &sealed)?;
            if state.expires_at <= now {
                self.states.remove(&key)?;
                removed += 1;
            }
        }
        self.flush().await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use latchkey_engine::{Credentials, Secret};

    use super::*;
    use crate::records::EndUser;

    fn open(dir: &std::path::Path) -> Store {
        Store::open(&dir.join("store"), Cipher::new(&[5u8; 32])).unwrap()
    }

    fn integration(key: &str) -> IntegrationRecord {
        IntegrationRecord {
            unique_key: key.to_owned(),
            provider: "stripe".to_owned(),
            display_name: None,
            credentials: None,
            integration_config: Default::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn connection(integration: &str, id: &str) -> ConnectionRecord {
        ConnectionRecord {
            id: 1,
            connection_id: id.to_owned(),
            provider_config_key: integration.to_owned(),
            provider: "stripe".to_owned(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            metadata: serde_json::Map::new(),
            connection_config: serde_json::Map::new(),
            credentials: Credentials::ApiKey {
                api_key: Secret::new("sk_test_plaintext_marker"),
            },
            end_user: None,
            errors: Vec::new(),
        }
    }

    fn pending_state(integration: &str, expires_in: Duration) -> OAuthStateRecord {
        OAuthStateRecord {
            oauth1_request_token: None,
            integration: integration.to_owned(),
            provider: "github".to_owned(),
            end_user: EndUser {
                id: "u1".to_owned(),
                email: None,
                display_name: None,
            },
            connection_config: serde_json::Map::new(),
            pkce_verifier: Some(Secret::new("verifier")),
            redirect_uri: "http://127.0.0.1/oauth/callback".to_owned(),
            created_at: Utc::now(),
            expires_at: Utc::now() + expires_in,
            session_token_hash: None,
            claimed: false,
            mcp: None,
        }
    }

    #[tokio::test]
    async fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            assert!(store.create_integration(&integration("a")).await.unwrap());
            let created = store
                .create_connection(&connection("a", "c1"))
                .await
                .unwrap();
            assert_eq!(created, CreateConnection::Created);
        }
        let store = open(dir.path());
        assert!(store.get_integration("a").unwrap().is_some());
        assert!(store.get_connection("a", "c1").unwrap().is_some());
    }

    #[tokio::test]
    async fn files_hold_no_plaintext_secret() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.create_integration(&integration("a")).await.unwrap();
            store
                .create_connection(&connection("a", "c1"))
                .await
                .unwrap();
        }
        for entry in std::fs::read_dir(dir.path().join("store")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let found = bytes.windows(24).any(|w| w == b"sk_test_plaintext_marker");
                assert!(!found, "{} contains the API key", path.display());
            }
        }
    }

    #[tokio::test]
    async fn wrong_encryption_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let error = Store::open(&dir.path().join("store"), Cipher::new(&[6u8; 32])).unwrap_err();
        assert!(matches!(error, StoreError::WrongEncryptionKey));
    }

    #[tokio::test]
    async fn duplicates_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert!(store.create_integration(&integration("a")).await.unwrap());
        assert!(!store.create_integration(&integration("a")).await.unwrap());
        store
            .create_connection(&connection("a", "c1"))
            .await
            .unwrap();
        let again = store
            .create_connection(&connection("a", "c1"))
            .await
            .unwrap();
        assert_eq!(again, CreateConnection::Duplicate);
        let orphan = store
            .create_connection(&connection("missing", "c1"))
            .await
            .unwrap();
        assert_eq!(orphan, CreateConnection::UnknownIntegration);
    }

    #[tokio::test]
    async fn delete_integration_removes_connections() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store.create_integration(&integration("ab")).await.unwrap();
        store
            .create_connection(&connection("a", "c1"))
            .await
            .unwrap();
        store
            .create_connection(&connection("a", "c2"))
            .await
            .unwrap();
        store
            .create_connection(&connection("ab", "c3"))
            .await
            .unwrap();

        assert!(store.delete_integration("a").await.unwrap());
        let left: Vec<String> = store
            .list_connections()
            .unwrap()
            .into_iter()
            .map(|c| c.connection_id)
            .collect();
        assert_eq!(left, ["c3"]);
        assert!(!store.delete_integration("a").await.unwrap());
    }

    #[tokio::test]
    async fn failed_delete_leaves_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store
            .create_connection(&connection("a", "c1"))
            .await
            .unwrap();
        store
            .create_connection(&connection("a", "c2"))
            .await
            .unwrap();

        store.fail_writes(true);
        let error = store.delete_integration("a").await.unwrap_err();
        assert!(matches!(error, StoreError::InjectedFailure));
        store.fail_writes(false);

        assert!(store.get_integration("a").unwrap().is_some());
        assert_eq!(store.list_connections().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn failed_rename_leaves_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store
            .create_connection(&connection("a", "c1"))
            .await
            .unwrap();

        store.fail_writes(true);
        assert!(store
            .update_integration("a", &integration("b"))
            .await
            .is_err());
        store.fail_writes(false);
        assert!(store.get_integration("a").unwrap().is_some());
        assert!(store.get_integration("b").unwrap().is_none());
        assert!(store.get_connection("a", "c1").unwrap().is_some());

        let outcome = store
            .update_integration("a", &integration("b"))
            .await
            .unwrap();
        assert_eq!(outcome, UpdateIntegration::Updated);
        assert!(store.get_integration("a").unwrap().is_none());
        let moved = store.get_connection("b", "c1").unwrap().unwrap();
        assert_eq!(moved.provider_config_key, "b");
        assert!(store.get_connection("a", "c1").unwrap().is_none());
    }

    #[tokio::test]
    async fn rename_onto_existing_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store.create_integration(&integration("b")).await.unwrap();
        let outcome = store
            .update_integration("a", &integration("b"))
            .await
            .unwrap();
        assert_eq!(outcome, UpdateIntegration::Duplicate);
        assert!(store.get_integration("a").unwrap().is_some());
    }

    #[tokio::test]
    async fn state_is_claimed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .create_state("h", &pending_state("a", Duration::minutes(10)))
            .await
            .unwrap();

        let first = store.claim_state("h", Utc::now()).unwrap();
        assert!(matches!(first, ClaimState::Claimed(_)));
        let second = store.claim_state("h", Utc::now()).unwrap();
        assert!(matches!(second, ClaimState::Invalid));
        let unknown = store.claim_state("other", Utc::now()).unwrap();
        assert!(matches!(unknown, ClaimState::Invalid));
    }

    #[tokio::test]
    async fn expired_state_is_invalid_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .create_state("h", &pending_state("a", Duration::seconds(-1)))
            .await
            .unwrap();
        assert!(matches!(
            store.claim_state("h", Utc::now()).unwrap(),
            ClaimState::Invalid
        ));
        assert!(store.states.get("h").unwrap().is_none());
    }

    #[tokio::test]
    async fn completion_consumes_state_and_stores_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store
            .create_state("h", &pending_state("a", Duration::minutes(10)))
            .await
            .unwrap();
        store.claim_state("h", Utc::now()).unwrap();

        let outcome = store
            .complete_authorization("h", &connection("a", "c1"))
            .await
            .unwrap();
        assert_eq!(outcome, CreateConnection::Created);
        assert!(store.states.get("h").unwrap().is_none());
        assert!(store.get_connection("a", "c1").unwrap().is_some());

        let replay = store
            .complete_authorization("h", &connection("a", "c2"))
            .await
            .unwrap();
        assert_eq!(replay, CreateConnection::StateGone);
        assert!(store.get_connection("a", "c2").unwrap().is_none());
    }

    #[tokio::test]
    async fn failed_completion_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store
            .create_state("h", &pending_state("a", Duration::minutes(10)))
            .await
            .unwrap();
        store.claim_state("h", Utc::now()).unwrap();

        store.fail_writes(true);
        let error = store
            .complete_authorization("h", &connection("a", "c1"))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::InjectedFailure));
        store.fail_writes(false);

        assert!(
            store.states.get("h").unwrap().is_some(),
            "state removal was rolled back"
        );
        assert!(store.get_connection("a", "c1").unwrap().is_none());
    }

    #[tokio::test]
    async fn update_of_deleted_connection_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store
            .create_connection(&connection("a", "c1"))
            .await
            .unwrap();
        assert!(store.delete_connection("a", "c1").await.unwrap());
        assert!(!store
            .update_connection(&connection("a", "c1"))
            .await
            .unwrap());
        assert!(store.get_connection("a", "c1").unwrap().is_none());
    }

    #[tokio::test]
    async fn sealed_record_cannot_move_between_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.create_integration(&integration("a")).await.unwrap();
        store
            .create_connection(&connection("a", "c1"))
            .await
            .unwrap();
        let sealed = store
            .connections
            .get(connection_key("a", "c1"))
            .unwrap()
            .unwrap();
        store
            .connections
            .insert(connection_key("a", "c2"), sealed)
            .unwrap();
        let error = store.get_connection("a", "c2").unwrap_err();
        assert!(matches!(error, StoreError::Crypto { .. }));
    }

    #[tokio::test]
    async fn purge_removes_only_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .create_state("old", &pending_state("a", Duration::seconds(-5)))
            .await
            .unwrap();
        store
            .create_state("new", &pending_state("a", Duration::minutes(5)))
            .await
            .unwrap();
        assert_eq!(store.purge_expired(Utc::now()).await.unwrap(), 1);
        assert!(store.states.get("new").unwrap().is_some());
    }
}
