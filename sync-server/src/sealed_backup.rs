//! Encrypted backups: every file of a backup folder sealed with age to the operator's X25519
//! recipients, so a backup copied to a tape, a share or another site holds nothing readable.
//!
//! A backup holds the database (cases, the audit trail, sealed party data, device names) and
//! every evidence file. The server's keys are never in it (they live in the key folder), but
//! the records and photos are the bureau's and the public's; a backup that leaves the server
//! must not need the server's disk encryption to stay secret. So encryption is the default:
//! `admin backup` refuses to write a plain copy unless asked with `--plain`.
//!
//! Layout (format 2), each file sealed separately so one damaged file costs one file and a
//! restore streams without a second plain copy:
//!
//! - `manifest.json` (plain): format, `age-x25519`, the recipients, counts and sizes; no
//!   hashes, names or ids;
//! - `contents.age`: the list of files with the SHA-256 and size of each plaintext, checked on
//!   restore (so a missing, swapped or truncated file is found);
//! - `server.db.age`: the consistent SQLite copy (`VACUUM INTO`, made beside the live database
//!   in the data folder, which holds it in plain anyway, and removed once sealed), or
//!   `server.dump.age` on PostgreSQL: the `pg_dump` archive ([`crate::pg_backup`]), made in
//!   the data folder the same way, taken before the blobs are copied;
//! - `blobs/000001.age`, ...: evidence files under numbers, so a file name does not give away
//!   the SHA-256 of a photo (which would let anyone holding a candidate photo confirm it).
//!
//! Restore opens `contents.age` first: a wrong identity is refused before anything is written.
//! Each file is decrypted and checked against its hash into a temporary name, then renamed.
//! Any age tool opens each file by hand (`age -d -i key.txt server.db.age`).

use crate::error::{Result, ServerError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

/// The manifest's `encryption` value.
pub const ENCRYPTION: &str = "age-x25519";

/// What an encrypted backup says of itself in plain (`manifest.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedManifest {
    /// 2.
    pub format: u32,
    /// [`ENCRYPTION`].
    pub encryption: String,
    /// The age recipients (public keys) the files are sealed to.
    pub recipients: Vec<String>,
    /// When it was made, unix ms.
    pub created_at_ms: i64,
    /// Whether the database is in it (`false` for `--blobs-only`).
    pub database: bool,
    /// `pg_dump` when the database is a PostgreSQL dump; absent for SQLite (and in backups
    /// made before PostgreSQL databases were backed up by this command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_format: Option<String>,
    /// Documents in the copied database.
    pub documents: i64,
    /// Evidence files in it.
    pub blobs: usize,
    /// Their plaintext bytes.
    pub blob_bytes: u64,
}

/// The sealed list of what a backup holds (`contents.age`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Contents {
    database_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    database_format: Option<String>,
    blobs: Vec<BlobEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BlobEntry {
    file: String,
    sha256: String,
    size: u64,
}

/// Parses the recipients given as `--recipient` values and in a recipients file (one per
/// line, `#` comments and blank lines ignored, as age's own `-R` file).
pub fn parse_recipients(
    given: &[String],
    file: Option<&Path>,
) -> Result<Vec<age::x25519::Recipient>> {
    let mut texts: Vec<String> = given.to_vec();
    if let Some(path) = file {
        let body = std::fs::read_to_string(path)
            .map_err(|e| ServerError::Config(format!("recipients file {}: {e}", path.display())))?;
        texts.extend(
            body.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    texts
        .iter()
        .map(|t| {
            age::x25519::Recipient::from_str(t).map_err(|_| {
                ServerError::Config(format!(
                    "{t:?} is not an age X25519 recipient (age1...; make one with age-keygen)"
                ))
            })
        })
        .collect()
}

/// Reads an age identity file (`AGE-SECRET-KEY-1...` lines, as age-keygen writes).
pub fn load_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let bad = |e: &dyn std::fmt::Display| {
        ServerError::Config(format!("identity file {}: {e}", path.display()))
    };
    let file =
        age::IdentityFile::from_file(path.to_string_lossy().into_owned()).map_err(|e| bad(&e))?;
    let ids = file.into_identities().map_err(|e| bad(&e))?;
    if ids.is_empty() {
        return Err(bad(&"no identity in the file"));
    }
    Ok(ids)
}

/// Seals `src` to `recipients` into `dest` (via a temporary name, synced); returns the
/// plaintext's SHA-256 and length.
fn seal_file(
    src: &Path,
    dest: &Path,
    recipients: &[age::x25519::Recipient],
) -> Result<(String, u64)> {
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| ServerError::Config(format!("age: {e}")))?;
    let tmp = dest.with_extension("partial");
    let out = std::fs::File::create(&tmp)?;
    let mut w = enc.wrap_output(std::io::BufWriter::new(out))?;
    let mut input = std::fs::File::open(src)?;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        len += n as u64;
    }
    let out = w
        .finish()?
        .into_inner()
        .map_err(|e| ServerError::Io(e.into_error()))?;
    out.sync_all()?;
    std::fs::rename(&tmp, dest)?;
    Ok((hex::encode(hasher.finalize()), len))
}

fn seal_bytes(bytes: &[u8], dest: &Path, recipients: &[age::x25519::Recipient]) -> Result<()> {
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| ServerError::Config(format!("age: {e}")))?;
    let out = std::fs::File::create(dest)?;
    let mut w = enc.wrap_output(out)?;
    w.write_all(bytes)?;
    w.finish()?.sync_all()?;
    Ok(())
}

/// Why the identity could not open a sealed file, as the operator should read it.
fn decrypt_error(file: &Path, e: age::DecryptError) -> ServerError {
    match e {
        age::DecryptError::NoMatchingKeys => ServerError::Config(format!(
            "{}: none of the identities given is a recipient of this backup (wrong --identity?)",
            file.display()
        )),
        other => ServerError::Config(format!("{}: cannot decrypt: {other}", file.display())),
    }
}

/// Opens sealed `file` for reading with `identities`.
fn open_sealed(
    file: &Path,
    identities: &[Box<dyn age::Identity>],
) -> Result<age::stream::StreamReader<std::io::BufReader<std::fs::File>>> {
    let f = std::io::BufReader::new(std::fs::File::open(file)?);
    let dec = age::Decryptor::new_buffered(f).map_err(|e| decrypt_error(file, e))?;
    dec.decrypt(identities.iter().map(|i| i.as_ref()))
        .map_err(|e| decrypt_error(file, e))
}

/// Decrypts sealed `src` into `dest` (via a temporary name, synced), checking the plaintext
/// against `sha256`.
fn unseal_file(
    src: &Path,
    dest: &Path,
    identities: &[Box<dyn age::Identity>],
    sha256: &str,
) -> Result<u64> {
    let mut r = open_sealed(src, identities)?;
    let tmp = dest.with_extension("partial");
    let mut out = std::fs::File::create(&tmp)?;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let copied: Result<()> = (|| {
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            len += n as u64;
        }
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if hex::encode(hasher.finalize()) != sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(ServerError::Config(format!(
            "{} does not match the backup's contents list",
            src.display()
        )));
    }
    out.sync_all()?;
    std::fs::rename(&tmp, dest)?;
    Ok(len)
}

/// Writes an encrypted backup of data folder `data` and its database (the embedded one, or
/// PostgreSQL at `database_url`) into the new folder `out`, while servers may keep running.
/// With `blobs_only` the database is left out.
pub async fn backup(
    data: &Path,
    out: &Path,
    recipients: Vec<age::x25519::Recipient>,
    blobs_only: bool,
    database_url: Option<&str>,
    progress: bool,
) -> Result<SealedManifest> {
    if recipients.is_empty() {
        return Err(ServerError::Config(
            "an encrypted backup needs at least one recipient".into(),
        ));
    }
    crate::maintenance::ensure_empty(out)?;
    let pg = match database_url {
        Some(url) if !blobs_only => {
            Some((url.to_string(), crate::pg_backup::doc_count(url).await?))
        }
        _ => None,
    };
    let (data, out) = (data.to_path_buf(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        backup_blocking(&data, &out, &recipients, blobs_only, pg, progress)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))?
}

/// Dumps PostgreSQL at `url` and seals the dump into `out`; returns the dump's SHA-256.
fn seal_dump(
    data: &Path,
    out: &Path,
    url: &str,
    recipients: &[age::x25519::Recipient],
) -> Result<String> {
    // As for SQLite: the plain dump lives in the data folder only until it is sealed.
    let copy = data.join(format!("backup-{}.dump.tmp", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(data)?;
    let made = crate::pg_backup::dump(url, &copy).and_then(|()| {
        let dest = out.join(format!("{}.age", crate::pg_backup::DUMP_FILE));
        seal_file(&copy, &dest, recipients)
    });
    let _ = std::fs::remove_file(&copy);
    Ok(made?.0)
}

fn backup_blocking(
    data: &Path,
    out: &Path,
    recipients: &[age::x25519::Recipient],
    blobs_only: bool,
    pg: Option<(String, i64)>,
    progress: bool,
) -> Result<SealedManifest> {
    let mut contents = Contents {
        database_sha256: None,
        database_format: None,
        blobs: vec![],
    };
    let mut documents = 0;
    if let Some((url, docs)) = &pg {
        contents.database_sha256 = Some(seal_dump(data, out, url, recipients)?);
        contents.database_format = Some(crate::pg_backup::FORMAT_PG_DUMP.into());
        documents = *docs;
    } else if !blobs_only {
        let src = data.join("server.db");
        if !src.exists() {
            return Err(ServerError::Config(format!(
                "no database at {}; is this a data folder?",
                src.display()
            )));
        }
        // The plain copy stays in the data folder (which holds the database in plain
        // anyway) and is removed as soon as it is sealed.
        let copy = data.join(format!("backup-{}.db.tmp", uuid::Uuid::new_v4()));
        let made = crate::maintenance::vacuum_into(&src, &copy).and_then(|docs| {
            let (sha, _) = seal_file(&copy, &out.join("server.db.age"), recipients)?;
            Ok((sha, docs))
        });
        let _ = std::fs::remove_file(&copy);
        let (sha, docs) = made?;
        documents = docs;
        contents.database_sha256 = Some(sha);
    }
    // After the database: see `crate::pg_backup` for why this order makes the copy whole.
    let (blobs, blob_bytes) = seal_blobs(&data.join("blobs"), out, recipients, progress)?;
    contents.blobs = blobs;
    let list = serde_json::to_vec(&contents).map_err(|e| ServerError::Config(e.to_string()))?;
    seal_bytes(&list, &out.join("contents.age"), recipients)?;
    let manifest = SealedManifest {
        format: 2,
        encryption: ENCRYPTION.into(),
        recipients: recipients.iter().map(ToString::to_string).collect(),
        created_at_ms: fieldcase_core::ids::now_ms(),
        database: contents.database_sha256.is_some(),
        database_format: contents.database_format.clone(),
        documents,
        blobs: contents.blobs.len(),
        blob_bytes,
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| ServerError::Config(e.to_string()))?;
    std::fs::write(out.join("manifest.json"), json)?;
    Ok(manifest)
}

/// Seals every stored blob of the blob folder `from` into `out/blobs/NNNNNN.age`, checking
/// each against its name; returns the entries and their plaintext bytes. The one place a
/// backup reads evidence files, so another evidence store can take its place.
fn seal_blobs(
    from: &Path,
    out: &Path,
    recipients: &[age::x25519::Recipient],
    progress: bool,
) -> Result<(Vec<BlobEntry>, u64)> {
    let files = crate::maintenance::stored_blob_files(from)?;
    let bar = crate::maintenance::Progress::new(progress, files.len() as u64, "blobs");
    std::fs::create_dir_all(out.join("blobs"))?;
    let mut entries = Vec::with_capacity(files.len());
    let mut blob_bytes = 0u64;
    for (n, (name, path)) in files.iter().enumerate() {
        let file = format!("blobs/{:06}.age", n + 1);
        let (sha, size) = seal_file(path, &out.join(&file), recipients)?;
        if &sha != name {
            return Err(ServerError::Config(format!(
                "blob {name} is damaged in the data folder; run `admin verify`"
            )));
        }
        blob_bytes += size;
        entries.push(BlobEntry {
            file,
            sha256: sha,
            size,
        });
        bar.inc();
    }
    bar.finish();
    Ok((entries, blob_bytes))
}

/// Whether the backup folder `from` is an encrypted one (its manifest says so).
pub fn is_sealed(from: &Path) -> Result<bool> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from.join("manifest.json"))?)
            .map_err(|e| ServerError::Config(format!("manifest.json: {e}")))?;
    Ok(manifest.get("encryption").and_then(|v| v.as_str()) == Some(ENCRYPTION))
}

/// Restores encrypted backup `from` into the empty (or new) data folder `data` (and a
/// PostgreSQL dump into the empty database at `database_url`) with the identities of
/// `identity_file`, and renews the restore epoch. The identity is tried on the contents list,
/// and the database checked empty, before anything is written: either failing changes
/// nothing.
pub async fn restore(
    from: &Path,
    data: &Path,
    identity_file: &Path,
    database_url: Option<&str>,
) -> Result<SealedManifest> {
    let (from, data) = (from.to_path_buf(), data.to_path_buf());
    let identity_file = identity_file.to_path_buf();
    let url = database_url.map(String::from);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let identities = load_identities(&identity_file)?;
        restore_blocking(&from, &data, &identities, url.as_deref(), &rt)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))?
}

fn restore_blocking(
    from: &Path,
    data: &Path,
    identities: &[Box<dyn age::Identity>],
    database_url: Option<&str>,
    rt: &tokio::runtime::Handle,
) -> Result<SealedManifest> {
    let manifest: SealedManifest =
        serde_json::from_slice(&std::fs::read(from.join("manifest.json"))?)
            .map_err(|e| ServerError::Config(format!("manifest.json: {e}")))?;
    let mut list = Vec::new();
    open_sealed(&from.join("contents.age"), identities)?.read_to_end(&mut list)?;
    let contents: Contents = serde_json::from_slice(&list)
        .map_err(|e| ServerError::Config(format!("contents.age: {e}")))?;
    // Every blob file name must be one this format writes: nothing outside `blobs/`.
    let valid_name = |f: &str| {
        f.strip_prefix("blobs/")
            .and_then(|n| n.strip_suffix(".age"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let valid_sha = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !contents
        .blobs
        .iter()
        .all(|b| valid_name(&b.file) && valid_sha(&b.sha256))
    {
        return Err(ServerError::Config(
            "contents.age names a file this backup format does not write".into(),
        ));
    }
    let is_dump = contents.database_format.as_deref() == Some(crate::pg_backup::FORMAT_PG_DUMP);
    let url = crate::maintenance::restore_target(is_dump, database_url)?;
    if let Some(url) = url {
        rt.block_on(crate::pg_backup::ensure_empty_database(url))?;
    }
    crate::maintenance::ensure_empty(data)?;
    let mut documents = 0;
    if let (Some(sha), Some(url)) = (&contents.database_sha256, url) {
        // The plain dump stays in the new data folder only until pg_restore has read it.
        let dump = data.join("restore.dump.tmp");
        let sealed = from.join(format!("{}.age", crate::pg_backup::DUMP_FILE));
        let restored = unseal_file(&sealed, &dump, identities, sha)
            .and_then(|_| rt.block_on(crate::pg_backup::restore_dump(url, &dump)));
        let _ = std::fs::remove_file(&dump);
        documents = restored?.0;
    } else if let Some(sha) = &contents.database_sha256 {
        let dest = data.join("server.db");
        unseal_file(&from.join("server.db.age"), &dest, identities, sha)?;
        let storage = crate::storage::sqlite::SqliteStorage::open(&dest)?;
        rt.block_on(crate::restore_epoch::renew(&storage))?;
        let conn = rusqlite::Connection::open(&dest)?;
        documents = conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))?;
    }
    let mut blob_bytes = 0u64;
    for b in &contents.blobs {
        let dir = data.join("blobs").join(&b.sha256[..2]);
        std::fs::create_dir_all(&dir)?;
        blob_bytes += unseal_file(
            &from.join(&b.file),
            &dir.join(&b.sha256),
            identities,
            &b.sha256,
        )?;
    }
    Ok(SealedManifest {
        created_at_ms: fieldcase_core::ids::now_ms(),
        documents,
        blobs: contents.blobs.len(),
        blob_bytes,
        ..manifest
    })
}
