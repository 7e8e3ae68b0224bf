//! `FieldStore`: the phone's local store of record documents.
//!
//! One SQLite file in WAL mode with `synchronous=FULL`, one writer connection and one reader.
//! Every write loads the record's Automerge document, applies the edit, checks the result,
//! and then in one transaction appends the new change chunk and rewrites the record's SQL
//! projection. When a call returns `Ok` the transaction has committed and been synced to disk,
//! so a crash at any later instant keeps it; a crash before leaves the previous state.

mod catalogues;
mod changes;
mod docs;
mod documents;
pub(crate) use docs::{doc_kind, load_doc};
mod exchange;
mod lease;
mod lock;
mod migrations;
mod ops;
pub(crate) mod projection;
mod queries;
mod reviews;
mod sync_state;

pub use catalogues::META_CATALOGUE_CURRENT;
pub use changes::{ChangeObserver, ChangeOrigin, RecordChange};
pub use documents::{DocumentRequest, META_ROSTER_DIGEST, RosterEntry};
pub use exchange::{ChangeBundle, DocChanges, ImportReport};
pub use lease::{LockState, WipeMode, WipeReport};
pub use migrations::CURRENT_VERSION as SCHEMA_VERSION;
pub use ops::*;
pub use projection::china_day;
pub use queries::*;
pub use reviews::PendingReview;
pub use sync_state::{DirtyDoc, RejectedDoc, SyncApply};

use crate::catalogue::{Catalogue, CatalogueSet};
use crate::pii::PiiKey;
use crate::{CoreError, Result};
use automerge::ActorId;
use docs::DocCache;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// How a store is opened.
#[derive(Clone)]
pub struct StoreConfig {
    /// This device's id before enrolment, kept from the first open on; empty (the usual
    /// case) for a new UUID made by the store. Enrolment proposes it to the server and the
    /// store adopts the id the server confirms, so an app never reopens under another id;
    /// once enrolled a different value here is ignored. See [`FieldStore::device_id`].
    pub device_id: String,
    /// The bureau's key for matching parties by identity number across phones. Before
    /// enrolment a random per-store key is generated, so matching works within the device.
    pub party_match_key: Option<[u8; 32]>,
    /// The bureau's key for personal data of the public, given at enrolment to roles entitled
    /// to it. Before enrolment a local key is generated; every key ever held is kept so
    /// parties sealed earlier stay readable.
    pub pii_key: Option<[u8; 32]>,
    /// The catalogue to apply; the built-in one when `None`.
    pub catalogue: Option<Catalogue>,
    /// Folder of evidence files; `<db file>.blobs/` beside the database when `None`.
    pub blob_dir: Option<PathBuf>,
    /// The 32-byte key of the encrypted database (SQLCipher), which the app keeps in the
    /// platform keystore. Required, unless `plain_store_for_tests` is set.
    pub db_key: Option<[u8; 32]>,
    /// Open a plain, unencrypted SQLite file when `db_key` is `None`: tests and tools only,
    /// never a phone. Without it a missing key is refused. Ignored when `db_key` is given.
    pub plain_store_for_tests: bool,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("device_id", &self.device_id)
            .field("blob_dir", &self.blob_dir)
            .field(
                "party_match_key",
                &self.party_match_key.map(|_| "<redacted>"),
            )
            .field("pii_key", &self.pii_key.map(|_| "<redacted>"))
            .field("db_key", &self.db_key.map(|_| "<redacted>"))
            .field("plain_store_for_tests", &self.plain_store_for_tests)
            .finish_non_exhaustive()
    }
}

impl StoreConfig {
    /// A config for an encrypted store under `db_key` (from the platform keystore), with the
    /// built-in catalogue and no bureau key yet.
    pub fn new(device_id: impl Into<String>, db_key: [u8; 32]) -> Self {
        StoreConfig {
            device_id: device_id.into(),
            party_match_key: None,
            pii_key: None,
            catalogue: None,
            blob_dir: None,
            db_key: Some(db_key),
            plain_store_for_tests: false,
        }
    }

    /// A config for a **plain, unencrypted** store: for tests and tools only. Personal data
    /// stays sealed under the PII key, but the database, its indexes and evidence files are
    /// readable by whoever holds the file.
    pub fn insecure_plain_for_tests(device_id: impl Into<String>) -> Self {
        StoreConfig {
            db_key: None,
            plain_store_for_tests: true,
            ..StoreConfig::new(device_id, [0; 32])
        }
    }
}

/// The writer half: the one connection allowed to write, and the loaded documents.
struct Writer {
    conn: Connection,
    actor: ActorId,
    cache: DocCache,
}

/// The local store. Cheap to share: wrap in `Arc`; every method takes `&self`.
pub struct FieldStore {
    path: PathBuf,
    /// The enrolled id, or before enrolment the local one (see [`resolve_device_id`]).
    device_id: RwLock<String>,
    /// `None` on a device whose role neither records nor reads parties (the server withheld
    /// the key at enrolment): every call that needs it is `PartyMatchKeyUnavailable`.
    party_key: RwLock<Option<[u8; 32]>>,
    pii_keys: RwLock<Vec<PiiKey>>,
    lease_ms: AtomicI64,
    last_contact_ms: AtomicI64,
    /// Whether local edits are checked against the server's rules before they are written.
    local_rules: std::sync::atomic::AtomicBool,
    catalogue: RwLock<CatalogueSet>,
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    pub(crate) evidence: crate::evidence::EvidenceState,
    /// What carries sync requests when the app installed its own ([`FieldStore::set_transport`]).
    transport: RwLock<Option<Arc<dyn crate::sync::transport::Transport>>>,
    /// Held for the store's life: one handle per file.
    _lock: lock::StoreLock,
    /// Who is told of committed changes (see `changes.rs`).
    changes: changes::ChangeHub,
}

impl std::fmt::Debug for FieldStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldStore")
            .field("path", &self.path)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// Keys a new connection (when the store is encrypted) and checks that the key opens the file.
///
/// `PRAGMA key` must be the first statement on every connection. SQLCipher accepts any key
/// without complaint and fails only on the first read of a page, so the check reads the
/// schema; a wrong key, or a key for a plain file, shows there as "file is not a database".
fn unlock(conn: &Connection, key: Option<&[u8; 32]>) -> Result<()> {
    if let Some(key) = key {
        // A failed page check is our typed error; SQLCipher need not also log it.
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
        // A raw 256-bit key (x'..'), so SQLCipher skips its passphrase derivation.
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(key)))?;
        let version: Option<String> = conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .ok();
        if version.as_deref().unwrap_or("").is_empty() {
            return Err(CoreError::invalid(
                "db_key",
                "this build has no database encryption (SQLCipher)",
            ));
        }
    }
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(CoreError::WrongKey)
        }
        Err(e) => Err(e.into()),
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Runs `side` on a helper thread while `main` runs on this one, and returns both results.
/// Where no thread can be started, `side` runs here after `main`. A panic in either is
/// passed on, as it would be without the thread.
pub(crate) fn side_by_side<A: Send, B>(
    side: impl FnOnce() -> A + Send,
    main: impl FnOnce() -> B,
) -> (A, B) {
    let slot = Mutex::new(Some(side));
    let run_side = || {
        let f = lock(&slot).take();
        f.map(|f| f())
    };
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("fieldcase-side".into())
            .spawn_scoped(s, run_side);
        let b = main();
        let a = handle
            .ok()
            .and_then(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .or_else(run_side);
        match a {
            Some(a) => (a, b),
            None => unreachable!("the side task runs exactly once"),
        }
    })
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
    // back on drop), so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FieldStore {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// The device's Automerge actor id is kept in the database and reused, except when the
    /// file is not the one this install created (restored from a backup or copied from another
    /// phone): then a fresh actor is taken, because two writers sharing an actor corrupt the
    /// history (`DuplicateSeqNumber` on merge). The marker is a sidecar file `<db>.install`.
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<FieldStore> {
        if config.db_key.is_none() && !config.plain_store_for_tests {
            return Err(CoreError::invalid(
                "db_key",
                "a store needs its database key (a plain store is for tests only: \
                 StoreConfig::insecure_plain_for_tests)",
            ));
        }
        let path = path.as_ref().to_path_buf();
        let held = lock::StoreLock::acquire(&path)?;
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        unlock(&conn, config.db_key.as_ref())?;
        configure(&conn)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CoreError::invalid(
                "store",
                format!("journal mode {mode}, expected wal"),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrations::migrate(&mut conn)?;

        let actor = Self::actor_for_install(&conn, &path)?;
        let device_id = resolve_device_id(&conn, &config.device_id)?;
        let party_key = match config.party_match_key {
            Some(k) => {
                set_meta(&conn, "party_match_key", &k)?;
                Some(k)
            }
            None => match get_meta(&conn, "party_match_key")? {
                Some(v) if v.len() == 32 => {
                    let mut k = [0u8; 32];
                    k.copy_from_slice(&v);
                    Some(k)
                }
                // Withheld by the server at enrolment (see `set_party_match_key`).
                Some(v) if v.is_empty() => None,
                _ => {
                    let mut k = [0u8; 32];
                    crate::ids::random_bytes(&mut k)?;
                    set_meta(&conn, "party_match_key", &k)?;
                    Some(k)
                }
            },
        };
        let pii_keys = load_pii_keys(&conn, config.pii_key)?;
        let lease_ms = lease::meta_i64(&conn, "lease_ms")?.unwrap_or(0);
        let last_contact_ms = match lease::meta_i64(&conn, "last_server_contact_ms")? {
            Some(v) => v,
            None => {
                // A new store counts as just contacted, so a lease set later runs from now.
                let now = crate::ids::now_ms();
                set_meta(&conn, "last_server_contact_ms", now.to_string().as_bytes())?;
                now
            }
        };
        // The built-in version is always known (cases recorded under it stay judgeable);
        // a configured catalogue is added and put in force.
        let mut catalogues = CatalogueSet::builtin()?;
        let configured = config.catalogue.is_some();
        if let Some(c) = config.catalogue {
            catalogues.insert(Arc::new(c), true);
        }
        // Every version the server sent, and the one it put in force.
        catalogues::load_stored(&conn, &mut catalogues, configured)?;

        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        unlock(&reader, config.db_key.as_ref())?;
        configure(&reader)?;
        let blob_dir = config
            .blob_dir
            .unwrap_or_else(|| crate::evidence::default_blob_dir(&path));

        let store = FieldStore {
            path,
            device_id: RwLock::new(device_id),
            party_key: RwLock::new(party_key),
            pii_keys: RwLock::new(pii_keys),
            lease_ms: AtomicI64::new(lease_ms),
            last_contact_ms: AtomicI64::new(last_contact_ms),
            local_rules: std::sync::atomic::AtomicBool::new(true),
            catalogue: RwLock::new(catalogues),
            writer: Mutex::new(Writer {
                conn,
                actor,
                cache: DocCache::default(),
            }),
            reader: Mutex::new(reader),
            evidence: crate::evidence::EvidenceState::new(blob_dir, config.db_key.as_ref()),
            transport: RwLock::new(None),
            _lock: held,
            changes: changes::ChangeHub::default(),
        };
        // Leftovers of a crash are old; a failure to remove them must not keep the officer
        // from their records.
        match store.sweep_stale_blobs() {
            Ok(r) if r.temp_files + r.unreferenced > 0 => {
                tracing::info!(
                    temp = r.temp_files,
                    orphans = r.unreferenced,
                    "swept blob folder"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "blob folder sweep failed"),
        }
        Ok(store)
    }

    fn actor_for_install(conn: &Connection, path: &Path) -> Result<ActorId> {
        let marker_path = install_marker_path(path);
        let marker = std::fs::read(&marker_path).ok();
        let stored_token = get_meta(conn, "install_token")?;
        let stored_actor = get_meta(conn, "actor_id")?;
        if let (Some(m), Some(t), Some(a)) = (&marker, &stored_token, &stored_actor)
            && m == t
        {
            return Ok(ActorId::from(a.as_slice()));
        }
        // New store, or a restored/copied one: a new actor and a new install token.
        let mut token = [0u8; 16];
        crate::ids::random_bytes(&mut token)?;
        let mut actor = [0u8; 16];
        crate::ids::random_bytes(&mut actor)?;
        if stored_actor.is_some() {
            tracing::warn!("store file does not match this install; rotating the actor id");
            let n = get_meta(conn, "actor_rotations")?
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            set_meta(conn, "actor_rotations", (n + 1).to_string().as_bytes())?;
        }
        set_meta(conn, "actor_id", &actor)?;
        set_meta(conn, "install_token", &token)?;
        write_durably(&marker_path, &token)?;
        Ok(ActorId::from(actor.as_slice()))
    }

    /// Every PII key this store holds; the last one seals new parties.
    pub(crate) fn pii_keys(&self) -> Vec<PiiKey> {
        self.pii_keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub(crate) fn sealing_key(&self) -> PiiKey {
        let keys = self.pii_keys();
        // load_pii_keys guarantees at least one key.
        keys.last()
            .cloned()
            .unwrap_or_else(|| PiiKey::from_bytes([0; 32]))
    }

    /// The bureau's party-match key, or `PartyMatchKeyUnavailable` on a device that was not
    /// given one.
    pub(crate) fn party_key(&self) -> Result<[u8; 32]> {
        let k = match self.party_key.read() {
            Ok(k) => *k,
            Err(p) => *p.into_inner(),
        };
        k.ok_or(CoreError::PartyMatchKeyUnavailable)
    }

    /// Sets the bureau's party-match key received at enrolment, or records that the server
    /// withheld it (`None`: the role neither records nor reads parties), so a local key made
    /// before enrolment is not kept either and party calls fail, typed, instead of hashing
    /// under a key no other phone holds.
    pub fn set_party_match_key(&self, key: Option<[u8; 32]>) -> Result<()> {
        let w = lock(&self.writer);
        set_meta(
            &w.conn,
            "party_match_key",
            key.as_ref().map_or(&[][..], |k| &k[..]),
        )?;
        match self.party_key.write() {
            Ok(mut k) => *k = key,
            Err(p) => *p.into_inner() = key,
        }
        Ok(())
    }

    /// Adds the bureau's PII key (received at enrolment); it seals parties from now on.
    pub fn add_pii_key(&self, key: [u8; 32]) -> Result<()> {
        let w = lock(&self.writer);
        let keys = load_pii_keys(&w.conn, Some(key))?;
        match self.pii_keys.write() {
            Ok(mut k) => *k = keys,
            Err(p) => *p.into_inner() = keys,
        }
        Ok(())
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Has every later sync, enrolment and evidence transfer of this store carried by
    /// `transport` (an app's platform networking: a `URLSession` background session,
    /// WorkManager), or by the built-in HTTP client again with `None`.
    pub fn set_transport(&self, transport: Option<Arc<dyn crate::sync::transport::Transport>>) {
        match self.transport.write() {
            Ok(mut g) => *g = transport,
            Err(p) => *p.into_inner() = transport,
        }
    }

    /// The transport the app installed, if any.
    pub fn transport(&self) -> Option<Arc<dyn crate::sync::transport::Transport>> {
        match self.transport.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The id this device's records are written under: the one the server confirmed at
    /// enrolment, or before enrolment the store's own (which enrolment proposes, so records
    /// made before it stay this device's).
    pub fn device_id(&self) -> String {
        match self.device_id.read() {
            Ok(d) => d.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Takes the id the server gave at enrolment for every record written from now on.
    pub(crate) fn adopt_device_id(&self, id: &str) {
        if self.device_id() != id {
            tracing::warn!("the server gave another device id than the store proposed");
        }
        match self.device_id.write() {
            Ok(mut d) => *d = id.to_string(),
            Err(p) => *p.into_inner() = id.to_string(),
        }
    }

    /// Turns the local check of the server's rules off (`false`) or on. Off only in tests that
    /// play a client that is not ours, to prove that the server refuses what such a client
    /// writes; an app never turns it off.
    pub fn set_local_rule_checks_for_tests(&self, on: bool) {
        self.local_rules
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the phone checks its own writes against the rules (always, but in tests that
    /// play a client that is not ours).
    pub(crate) fn local_rules_on(&self) -> bool {
        self.local_rules.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Who this phone writes as, once enrolled: the user, role and unit the server gave at
    /// enrolment, the enrolled device id and this device's signing key. `None` before
    /// enrolment.
    pub fn enrolled_author(&self) -> Result<Option<crate::rules::Author>> {
        if !self.local_rules.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        self.enrolled_identity()
    }

    /// Who this phone is enrolled as, whether or not it checks its own writes.
    pub(crate) fn enrolled_identity(&self) -> Result<Option<crate::rules::Author>> {
        use crate::sync::client::{META_DEVICE_ID, META_USER_ID, META_USER_ROLE, META_USER_UNIT};
        let text = |k: &str| -> Result<Option<String>> {
            Ok(self.meta(k)?.and_then(|v| String::from_utf8(v).ok()))
        };
        let (Some(user), Some(role), Some(unit), Some(device)) = (
            text(META_USER_ID)?,
            text(META_USER_ROLE)?,
            text(META_USER_UNIT)?,
            text(META_DEVICE_ID)?,
        ) else {
            return Ok(None);
        };
        let Some(role) = crate::rules::Role::parse(&role) else {
            return Ok(None);
        };
        let key = self.device_public_key()?;
        Ok(Some(crate::rules::Author::device(
            user,
            role,
            unit,
            device,
            Some(key),
        )))
    }

    /// The Automerge actor this store writes under, hex; the server learns which device it
    /// belongs to.
    pub fn actor_hex(&self) -> String {
        lock(&self.writer).actor.to_hex_string()
    }

    /// The Automerge actor id this install writes with (hex).
    pub fn actor_id(&self) -> String {
        lock(&self.writer).actor.to_hex_string()
    }

    /// How many times the actor was rotated because the file came from a backup or copy.
    pub fn actor_rotations(&self) -> Result<i64> {
        let conn = lock(&self.reader);
        Ok(get_meta(&conn, "actor_rotations")?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    /// The catalogue in force for new cases.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue
            .read()
            .map(|c| c.current().clone())
            .unwrap_or_else(|p| p.into_inner().current().clone())
    }

    /// Every catalogue version this store knows; a case is judged under the one it recorded.
    pub fn catalogues(&self) -> CatalogueSet {
        self.catalogue
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Adds a catalogue version and puts it in force for new cases (a newer version sent by
    /// the server); the versions known before stay, for the cases that recorded them.
    pub fn set_catalogue(&self, catalogue: Catalogue) {
        let c = Arc::new(catalogue);
        match self.catalogue.write() {
            Ok(mut set) => set.insert(c, true),
            Err(p) => p.into_inner().insert(c, true),
        }
    }

    /// Runs `PRAGMA integrity_check` and returns its verdict (`ok` when sound).
    pub fn integrity_check(&self) -> Result<String> {
        let conn = lock(&self.reader);
        Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Runs `f` with the reader connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.reader);
        f(&conn)
    }

    /// Runs `f` with the writer connection (short bookkeeping writes outside documents).
    /// Never call it while inside a [`FieldStore::write_doc`] edit: the lock is not re-entrant.
    pub(crate) fn with_writer_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let w = lock(&self.writer);
        f(&w.conn)
    }

    /// A meta value (sync bookkeeping and the like).
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|c| get_meta(c, key))
    }

    /// Sets a meta value durably.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        let w = lock(&self.writer);
        set_meta(&w.conn, key, value)
    }

    /// Sets several meta values in one transaction: all or none.
    pub fn set_metas(&self, values: &[(&str, &[u8])]) -> Result<()> {
        self.write_tx(|tx| {
            for (k, v) in values {
                set_meta(tx, k, v)?;
            }
            Ok(())
        })
    }

    /// Runs `f` in an immediate transaction on the writer connection.
    pub(crate) fn write_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut w = lock(&self.writer);
        let tx = w
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// Reads the keyring from meta, appending `new` (or a fresh local key if the ring is empty).
fn load_pii_keys(conn: &Connection, new: Option<[u8; 32]>) -> Result<Vec<PiiKey>> {
    let raw = get_meta(conn, "pii_keys")?.unwrap_or_default();
    let mut keys: Vec<[u8; 32]> = raw
        .chunks_exact(32)
        .map(|c| {
            let mut k = [0u8; 32];
            k.copy_from_slice(c);
            k
        })
        .collect();
    let add = match new {
        Some(k) => Some(k),
        None if keys.is_empty() => {
            let mut k = [0u8; 32];
            crate::ids::random_bytes(&mut k)?;
            Some(k)
        }
        None => None,
    };
    if let Some(k) = add {
        keys.retain(|x| *x != k);
        keys.push(k);
        set_meta(conn, "pii_keys", &keys.concat())?;
    }
    Ok(keys.into_iter().map(PiiKey::from_bytes).collect())
}

fn install_marker_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".install");
    db.with_file_name(name)
}

/// Writes a small file via temp file, fsync and rename, so it is either old or new.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| CoreError::io(&tmp, e))?;
    f.sync_all().map_err(|e| CoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CoreError::io(path, e))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Meta key of the device id a store writes under before enrolment.
const META_LOCAL_DEVICE_ID: &str = "local_device_id";

/// The id records are written under: once enrolled the enrolled one, whatever the app passes;
/// before that the one kept since the first open, else `given`, else a new UUID (kept).
fn resolve_device_id(conn: &Connection, given: &str) -> Result<String> {
    let text = |key: &str| -> Result<Option<String>> {
        Ok(get_meta(conn, key)?
            .and_then(|v| String::from_utf8(v).ok())
            .filter(|s| !s.is_empty()))
    };
    let given = given.trim();
    let kept = match text(crate::sync::client::META_DEVICE_ID)? {
        Some(enrolled) => Some(enrolled),
        None => text(META_LOCAL_DEVICE_ID)?,
    };
    if let Some(kept) = kept {
        if !given.is_empty() && given != kept {
            tracing::info!("store opened with another device id than its own; its own is kept");
        }
        return Ok(kept);
    }
    let id = if given.is_empty() {
        crate::ids::new_id()
    } else {
        given.to_string()
    };
    set_meta(conn, META_LOCAL_DEVICE_ID, id.as_bytes())?;
    Ok(id)
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value],
    )?;
    Ok(())
}
