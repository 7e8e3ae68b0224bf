//! The server's secrets, kept apart from its database.
//!
//! Three keys: the bureau's party-match key, the bureau's PII key (given at enrolment to the
//! roles entitled to it; the keys earlier rotations replaced stay in `pii.retired`, see
//! [`rotate_pii`]) and the ed25519 key that signs the audit trail. None of them is
//! stored in the database, so a copy of the database (a backup, a dump, a stolen disk image of
//! the database volume) holds none of them.
//!
//! Where each key comes from, first match wins:
//!
//! 1. an environment variable holding it in hex ([`ENV_VARS`]), so a KMS or secret manager
//!    can inject it; nothing is written to disk then;
//! 2. its file in the key folder (`<data>/keys/` unless `--key-dir` / `FIELDCASE_KEY_DIR`),
//!    hex, mode 0600 in a 0700 folder;
//! 3. an older database that still holds it in its `settings` table: the key is written to the
//!    key folder and deleted from the database (see [`crate::storage::Storage::delete_setting`]);
//! 4. a new random key, written to the key folder; only allowed while the database has never
//!    been used with one.
//!
//! The database keeps a fingerprint of each key (SHA-256 under a domain tag, which reveals
//! nothing of a 256-bit random key). A server started with a different key than the one the
//! database was used with, or with a key missing, refuses to start instead of silently
//! making new keys (which would leave every sealed record and party match unreadable).

use crate::storage::Storage;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable naming the key folder.
pub const KEY_DIR_ENV: &str = "FIELDCASE_KEY_DIR";

/// One of the server's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyName {
    /// HMAC key of normalised identity numbers (party matching across phones).
    PartyMatch,
    /// Seals personal data in party documents.
    Pii,
    /// ed25519 seed signing audit entries, the audit head and legal reviews.
    AuditSigning,
}

impl KeyName {
    /// Every key, in load order.
    pub const ALL: [KeyName; 3] = [KeyName::PartyMatch, KeyName::Pii, KeyName::AuditSigning];

    /// The file name in the key folder.
    pub fn file_name(self) -> &'static str {
        match self {
            KeyName::PartyMatch => "party_match.key",
            KeyName::Pii => "pii.key",
            KeyName::AuditSigning => "audit_signing.key",
        }
    }

    /// The environment variable that may hold it (hex).
    pub fn env_var(self) -> &'static str {
        match self {
            KeyName::PartyMatch => "FIELDCASE_PARTY_MATCH_KEY",
            KeyName::Pii => "FIELDCASE_PII_KEY",
            KeyName::AuditSigning => "FIELDCASE_AUDIT_SIGNING_KEY",
        }
    }

    /// The `settings` row older releases kept it in.
    pub fn legacy_setting(self) -> &'static str {
        match self {
            KeyName::PartyMatch => "party_match_key",
            KeyName::Pii => "pii_key",
            KeyName::AuditSigning => "server_signing_key",
        }
    }

    /// The `settings` row holding its fingerprint.
    fn fingerprint_setting(self) -> &'static str {
        match self {
            KeyName::PartyMatch => "key_fingerprint.party_match",
            KeyName::Pii => "key_fingerprint.pii",
            KeyName::AuditSigning => "key_fingerprint.audit_signing",
        }
    }

    fn label(self) -> &'static str {
        match self {
            KeyName::PartyMatch => "party-match key",
            KeyName::Pii => "PII key",
            KeyName::AuditSigning => "audit signing key",
        }
    }
}

/// The environment variables a key may be injected through, in [`KeyName::ALL`] order.
pub const ENV_VARS: [&str; 3] = [
    "FIELDCASE_PARTY_MATCH_KEY",
    "FIELDCASE_PII_KEY",
    "FIELDCASE_AUDIT_SIGNING_KEY",
];

/// Why the keys could not be loaded. Messages name keys and paths, never key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key (file or variable) is not 64 hex digits.
    #[error("the {what} from {source_name} is not 64 hex digits (32 bytes)")]
    Malformed {
        /// Which key.
        what: &'static str,
        /// The file or variable.
        source_name: String,
    },
    /// The key folder or a key file is readable by others.
    #[error("{path} is accessible to group or others (mode {mode:o}); make it {want:o}")]
    Permissions {
        /// The path.
        path: String,
        /// Its mode.
        mode: u32,
        /// The mode wanted.
        want: u32,
    },
    /// The database was used with a different key.
    #[error(
        "the {what} from {source_name} is not the one this database was used with; \
         give the original key (key folder or {env}) or start with a new database"
    )]
    Mismatch {
        /// Which key.
        what: &'static str,
        /// Where the offered key came from.
        source_name: String,
        /// Its environment variable.
        env: &'static str,
    },
    /// The database was used with a key that is nowhere to be found.
    #[error(
        "the {what} this database was used with is missing: put its file into {dir} or set \
         {env} (restore the key folder from where it is kept apart from the backups)"
    )]
    Missing {
        /// Which key.
        what: &'static str,
        /// The key folder.
        dir: String,
        /// Its environment variable.
        env: &'static str,
    },
    /// Reading or writing the key folder failed.
    #[error("key folder {path}: {err}")]
    Io {
        /// The path.
        path: String,
        /// The failure.
        err: std::io::Error,
    },
    /// The system random generator failed.
    #[error("random generator: {0}")]
    Random(String),
}

impl From<KeyError> for crate::error::ServerError {
    fn from(e: KeyError) -> Self {
        crate::error::ServerError::Config(e.to_string())
    }
}

/// Where the keys come from: a folder and (optionally) environment variables.
#[derive(Clone)]
pub struct KeySource {
    /// The key folder.
    pub dir: PathBuf,
    /// Keys given in hex by variable name (see [`KeyName::env_var`]).
    pub env: BTreeMap<String, String>,
}

/// Values are left out: they may be keys.
impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("dir", &self.dir)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeySource {
    /// Keys from the folder `dir` only.
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        KeySource {
            dir: dir.into(),
            env: BTreeMap::new(),
        }
    }

    /// The default folder of a data folder: `<data>/keys`.
    pub fn default_dir(data: &Path) -> PathBuf {
        data.join("keys")
    }

    /// Keys from `dir`, with any of [`ENV_VARS`] set in the process environment taking
    /// precedence.
    pub fn from_env(dir: impl Into<PathBuf>) -> Self {
        let env = ENV_VARS
            .iter()
            .filter_map(|v| {
                std::env::var(v)
                    .ok()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| (v.to_string(), s))
            })
            .collect();
        KeySource {
            dir: dir.into(),
            env,
        }
    }

    /// The path of a key's file.
    pub fn path(&self, name: KeyName) -> PathBuf {
        self.dir.join(name.file_name())
    }
}

/// The file in the key folder holding the PII keys a rotation replaced (hex, one a line,
/// oldest first): kept so parties sealed under them stay readable, and handed to phones.
pub const PII_RETIRED_FILE: &str = "pii.retired";

/// The server's keys, loaded.
#[derive(Clone)]
pub struct ServerKeys {
    /// The bureau's party-match key.
    pub party_key: [u8; 32],
    /// The bureau's PII key: the one new seals use.
    pub pii_key: [u8; 32],
    /// PII keys replaced by rotations, oldest first ([`PII_RETIRED_FILE`]).
    pub pii_retired: Vec<[u8; 32]>,
    /// The audit (and legal review) signing key.
    pub signing_key: SigningKey,
}

/// Keys are left out: `Debug` output may reach logs.
impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeys")
            .field(
                "audit_public_key",
                &hex::encode(self.signing_key.verifying_key().to_bytes()),
            )
            .finish_non_exhaustive()
    }
}

/// The fingerprint the database keeps of a key.
pub fn fingerprint(name: KeyName, key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"fieldcase-key-fingerprint-v1");
    h.update(name.file_name().as_bytes());
    h.update(key);
    hex::encode(h.finalize())
}

fn parse_hex(what: KeyName, source_name: String, text: &str) -> Result<[u8; 32], KeyError> {
    let bad = || KeyError::Malformed {
        what: what.label(),
        source_name: source_name.clone(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |err| KeyError::Io {
        path: path.display().to_string(),
        err,
    }
}

#[cfg(unix)]
fn check_mode(path: &Path, want: u32) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(io_err(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.display().to_string(),
            mode,
            want,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _want: u32) -> Result<(), KeyError> {
    Ok(())
}

/// Creates the key folder (0700) if missing, and checks it is private.
fn ensure_dir(dir: &Path) -> Result<(), KeyError> {
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(io_err(dir))?;
        // `mode` applies to the last component only and is masked by the umask.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(dir))?;
        }
    }
    check_mode(dir, 0o700)
}

fn read_file(src: &KeySource, name: KeyName) -> Result<Option<[u8; 32]>, KeyError> {
    let path = src.path(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            check_mode(&src.dir, 0o700)?;
            check_mode(&path, 0o600)?;
            parse_hex(name, path.display().to_string(), &text).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Writes a key file (0600) through a temporary file and a rename, then syncs the folder.
fn write_file(src: &KeySource, name: KeyName, key: &[u8; 32]) -> Result<(), KeyError> {
    ensure_dir(&src.dir)?;
    let path = src.path(name);
    let tmp = src.dir.join(format!(".{}.new", name.file_name()));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(format!("{}\n", hex::encode(key)).as_bytes())
        .map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    if let Ok(d) = std::fs::File::open(&src.dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn random_key() -> Result<[u8; 32], KeyError> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(k)
}

/// Loads one key (see the module docs for the order), migrating it out of the database.
async fn load_one(
    src: &KeySource,
    storage: &dyn Storage,
    name: KeyName,
) -> crate::error::Result<[u8; 32]> {
    let offered: Option<([u8; 32], String)> = match src.env.get(name.env_var()) {
        Some(text) => Some((
            parse_hex(name, name.env_var().to_string(), text)?,
            name.env_var().to_string(),
        )),
        None => read_file(src, name)?.map(|k| (k, src.path(name).display().to_string())),
    };
    let legacy = storage.setting(name.legacy_setting()).await?;
    let key = match (offered, legacy) {
        (Some((key, from)), Some(old)) => {
            if old.as_slice() != key.as_slice() {
                return Err(KeyError::Mismatch {
                    what: name.label(),
                    source_name: from,
                    env: name.env_var(),
                }
                .into());
            }
            key
        }
        (Some((key, _)), None) => key,
        (None, Some(old)) => {
            let key = <[u8; 32]>::try_from(old.as_slice()).map_err(|_| KeyError::Malformed {
                what: name.label(),
                source_name: format!("database setting {}", name.legacy_setting()),
            })?;
            write_file(src, name, &key)?;
            tracing::info!(key = name.file_name(), dir = %src.dir.display(),
                "moved a key out of the database into the key folder");
            key
        }
        (None, None) => {
            if storage.setting(name.fingerprint_setting()).await?.is_some() {
                return Err(KeyError::Missing {
                    what: name.label(),
                    dir: src.dir.display().to_string(),
                    env: name.env_var(),
                }
                .into());
            }
            let key = random_key()?;
            write_file(src, name, &key)?;
            key
        }
    };
    let fp = fingerprint(name, &key);
    let stored = storage
        .setting_or_insert(name.fingerprint_setting(), fp.clone().into_bytes())
        .await?;
    if stored != fp.as_bytes() {
        return Err(KeyError::Mismatch {
            what: name.label(),
            source_name: src
                .env
                .get(name.env_var())
                .map(|_| name.env_var().to_string())
                .unwrap_or_else(|| src.path(name).display().to_string()),
            env: name.env_var(),
        }
        .into());
    }
    // Only once the key is safe outside (and its fingerprint recorded) does it leave.
    storage.delete_setting(name.legacy_setting()).await?;
    Ok(key)
}

impl ServerKeys {
    /// Loads every key from `src` (creating the folder and new keys on first start) and moves
    /// keys an older release kept in the database out of it.
    pub async fn load(src: &KeySource, storage: &dyn Storage) -> crate::error::Result<ServerKeys> {
        let party_key = load_one(src, storage, KeyName::PartyMatch).await?;
        let pii_retired = read_retired(src)?;
        finish_interrupted_rotation(src, storage, &pii_retired).await?;
        let pii_key = load_one(src, storage, KeyName::Pii).await?;
        let seed = load_one(src, storage, KeyName::AuditSigning).await?;
        Ok(ServerKeys {
            party_key,
            pii_key,
            pii_retired,
            signing_key: SigningKey::from_bytes(&seed),
        })
    }

    /// Every PII key, oldest first, the current one last (the order phones add them in, so
    /// the last is the one they seal with).
    pub fn pii_ring(&self) -> Vec<[u8; 32]> {
        let mut ring = self.pii_retired.clone();
        ring.retain(|k| *k != self.pii_key);
        ring.push(self.pii_key);
        ring
    }

    /// The audit public key, hex (what an auditor keeps to check exported heads).
    pub fn audit_public_key_hex(&self) -> String {
        hex::encode(self.signing_key.verifying_key().to_bytes())
    }
}

/// Reads the retired PII keys of the key folder (none when the file is absent).
fn read_retired(src: &KeySource) -> Result<Vec<[u8; 32]>, KeyError> {
    let path = src.dir.join(PII_RETIRED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_err(&path)(e)),
    };
    check_mode(&src.dir, 0o700)?;
    check_mode(&path, 0o600)?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| parse_hex(KeyName::Pii, path.display().to_string(), l))
        .collect()
}

/// Writes the retired PII keys (0600, through a temporary file and a rename).
fn write_retired(src: &KeySource, keys: &[[u8; 32]]) -> Result<(), KeyError> {
    ensure_dir(&src.dir)?;
    let path = src.dir.join(PII_RETIRED_FILE);
    let tmp = src.dir.join(format!(".{PII_RETIRED_FILE}.new"));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    let text: String = keys
        .iter()
        .map(|k| format!("{}\n", hex::encode(k)))
        .collect();
    f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    if let Ok(d) = std::fs::File::open(&src.dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A rotation stopped between writing the new key file and recording its fingerprint leaves
/// the database naming a key that is now retired: record the current key's fingerprint, so
/// the server starts. (Whoever can write the key folder holds every key anyway.)
async fn finish_interrupted_rotation(
    src: &KeySource,
    storage: &dyn Storage,
    retired: &[[u8; 32]],
) -> crate::error::Result<()> {
    let name = KeyName::Pii;
    if src.env.contains_key(name.env_var()) {
        return Ok(());
    }
    let (Some(stored), Some(current)) = (
        storage.setting(name.fingerprint_setting()).await?,
        read_file(src, name)?,
    ) else {
        return Ok(());
    };
    let current_fp = fingerprint(name, &current);
    if stored == current_fp.as_bytes()
        || !retired
            .iter()
            .any(|k| fingerprint(name, k).as_bytes() == stored.as_slice())
    {
        return Ok(());
    }
    storage.delete_setting(name.fingerprint_setting()).await?;
    storage
        .setting_or_insert(name.fingerprint_setting(), current_fp.into_bytes())
        .await?;
    tracing::warn!("finished an interrupted PII key rotation");
    Ok(())
}

/// What [`rotate_pii`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PiiRotation {
    /// Id (as in sealed data) of the key replaced, now retired.
    pub retired_key_id: String,
    /// Id of the new key.
    pub new_key_id: String,
    /// Retired keys now kept (this one included).
    pub retired_keys: usize,
}

/// The id sealed data names a PII key by.
pub fn pii_key_id(key: &[u8; 32]) -> String {
    fieldcase_core::pii::PiiKey::from_bytes(*key).id()
}

/// Makes a new PII key the one new seals use: the current key is appended to the retired
/// keys (first, so it can never be lost), the new key written to the key folder, and its
/// fingerprint recorded. Refused when the PII key comes from `FIELDCASE_PII_KEY` (rotate it
/// in the secret manager). Servers hold their keys in memory: run this with them stopped,
/// and start them again afterwards (`docs/operator-guide.md`).
pub async fn rotate_pii(
    src: &KeySource,
    storage: &dyn Storage,
) -> crate::error::Result<(ServerKeys, PiiRotation)> {
    let name = KeyName::Pii;
    if src.env.contains_key(name.env_var()) {
        return Err(crate::error::ServerError::Config(format!(
            "the PII key comes from {}: rotate it where that variable is set",
            name.env_var()
        )));
    }
    let mut keys = ServerKeys::load(src, storage).await?;
    let old = keys.pii_key;
    let new = random_key()?;
    let mut retired = keys.pii_retired.clone();
    retired.retain(|k| *k != old);
    retired.push(old);
    write_retired(src, &retired)?;
    write_file(src, name, &new)?;
    storage.delete_setting(name.fingerprint_setting()).await?;
    let fp = fingerprint(name, &new);
    let stored = storage
        .setting_or_insert(name.fingerprint_setting(), fp.clone().into_bytes())
        .await?;
    if stored != fp.as_bytes() {
        return Err(crate::error::ServerError::Config(
            "another process recorded a PII key during the rotation; stop every server and \
             run the rotation again"
                .into(),
        ));
    }
    keys.pii_key = new;
    keys.pii_retired = retired;
    let rotation = PiiRotation {
        retired_key_id: pii_key_id(&old),
        new_key_id: pii_key_id(&new),
        retired_keys: keys.pii_retired.len(),
    };
    Ok((keys, rotation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_is_checked() {
        assert!(parse_hex(KeyName::Pii, "x".into(), &"ab".repeat(32)).is_ok());
        assert!(parse_hex(KeyName::Pii, "x".into(), &format!("{}\n", "ab".repeat(32))).is_ok());
        let err = parse_hex(KeyName::Pii, "x".into(), &"zz".repeat(32)).unwrap_err();
        assert!(!err.to_string().contains("zz"));
        assert!(parse_hex(KeyName::Pii, "x".into(), &"ab".repeat(31)).is_err());
    }

    #[test]
    fn fingerprints_differ_by_key_and_name() {
        let k = [7u8; 32];
        assert_ne!(
            fingerprint(KeyName::Pii, &k),
            fingerprint(KeyName::PartyMatch, &k)
        );
        assert_ne!(
            fingerprint(KeyName::Pii, &k),
            fingerprint(KeyName::Pii, &[8u8; 32])
        );
        assert!(!fingerprint(KeyName::Pii, &k).contains(&hex::encode(k)));
    }
}
