//! The server's keys live in a key folder (or come from the environment), never in the
//! database: a fresh start, the upgrade of a database that held them, precedence, and the
//! refusals when a key is missing or is not the one the database was used with.

use fieldcase_server::AppState;
use fieldcase_server::audit::AuditEvent;
use fieldcase_server::keys::{KeyName, KeySource};
use fieldcase_server::storage::prelude::*;
use fieldcase_server::storage::sqlite::SqliteStorage;
use std::path::Path;
use std::sync::Arc;

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn event(i: i64) -> AuditEvent {
    AuditEvent {
        at_ms: 1_790_000_000_000 + i,
        actor: "operator".into(),
        action: "export".into(),
        case_id: None,
        detail: format!("report {i}"),
    }
}

/// Every byte of the SQLite database files (main file, WAL, shared memory).
fn database_bytes(data: &Path) -> R<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("server.db") {
            out.push((name, std::fs::read(e.path())?));
        }
    }
    assert!(out.iter().any(|(n, _)| n == "server.db"));
    Ok(out)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts no form of any key (raw, hex in either case) is in the database files.
fn assert_no_key_in_database(data: &Path, keys: &[[u8; 32]]) -> R {
    for (name, bytes) in database_bytes(data)? {
        for k in keys {
            let lower = hex::encode(k);
            for form in [
                k.to_vec(),
                lower.as_bytes().to_vec(),
                lower.to_uppercase().into_bytes(),
            ] {
                assert!(
                    !contains(&bytes, &form),
                    "a key appears in {name} ({} bytes)",
                    bytes.len()
                );
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn mode(p: &Path) -> R<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
}

fn all_keys(state: &AppState) -> [[u8; 32]; 3] {
    [state.party_key, state.pii_key, state.signing_key.to_bytes()]
}

fn file_key(data: &Path, name: KeyName) -> R<[u8; 32]> {
    let text = std::fs::read_to_string(data.join("keys").join(name.file_name()))?;
    let bytes = hex::decode(text.trim())?;
    Ok(<[u8; 32]>::try_from(bytes.as_slice())?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_server_keeps_its_keys_in_a_private_key_folder_not_the_database() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let state = AppState::open_dir(&data).await?;
    for i in 0..20 {
        state.audit(event(i)).await?;
    }
    let keys = all_keys(&state);
    assert_eq!(file_key(&data, KeyName::PartyMatch)?, state.party_key);
    assert_eq!(file_key(&data, KeyName::Pii)?, state.pii_key);
    assert_eq!(
        file_key(&data, KeyName::AuditSigning)?,
        state.signing_key.to_bytes()
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&data.join("keys"))?, 0o700);
        for n in KeyName::ALL {
            assert_eq!(mode(&data.join("keys").join(n.file_name()))?, 0o600);
        }
    }
    for n in KeyName::ALL {
        assert_eq!(state.storage.setting(n.legacy_setting()).await?, None);
    }
    assert_no_key_in_database(&data, &keys)?;
    drop(state);

    // A second start reads the same keys.
    let again = AppState::open_dir(&data).await?;
    assert_eq!(all_keys(&again), keys);
    assert_no_key_in_database(&data, &keys)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_an_older_database_move_to_the_key_folder_and_leave_no_trace() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    // An older release: the three keys in the settings table, audit entries signed with the
    // stored signing key.
    let legacy: [[u8; 32]; 3] = [[0x11; 32], [0x5a; 32], [0xc3; 32]];
    let legacy = legacy.map(|mut k| {
        // Not all one byte, so a match in the file is the key and not a run of padding.
        for (i, b) in k.iter_mut().enumerate() {
            *b = b.wrapping_add(i as u8 * 7);
        }
        k
    });
    {
        let old = SqliteStorage::open(data.join("server.db"))?;
        for (n, k) in KeyName::ALL.iter().zip(&legacy) {
            old.setting_or_insert(n.legacy_setting(), k.to_vec())
                .await?;
        }
        let signer = ed25519_dalek::SigningKey::from_bytes(&legacy[2]);
        for i in 0..5 {
            old.append_audit(event(i), &signer).await?;
        }
    }
    let before = database_bytes(&data)?;
    assert!(
        before
            .iter()
            .any(|(_, b)| contains(b, &legacy[1]) || contains(b, hex::encode(legacy[1]).as_bytes())),
        "the fixture should hold the PII key in the database"
    );

    let state = AppState::open_dir(&data).await?;
    assert_eq!(
        all_keys(&state),
        legacy,
        "the keys in force are the old ones"
    );
    for (n, k) in KeyName::ALL.iter().zip(&legacy) {
        assert_eq!(&file_key(&data, *n)?, k);
        assert_eq!(state.storage.setting(n.legacy_setting()).await?, None);
    }
    // The trail the old key signed still verifies, now under the key folder's key.
    let check = fieldcase_server::admin::audit_verify(
        state.storage.as_ref(),
        &state.signing_key.verifying_key(),
        None,
    )
    .await?;
    assert!(check.ok, "{:?}", check.problem);
    assert_eq!(check.entries, 5);
    state.audit(event(9)).await?;
    assert_no_key_in_database(&data, &legacy)?;
    drop(state);

    // Started again: the same keys, from the folder.
    let again = AppState::open_dir(&data).await?;
    assert_eq!(all_keys(&again), legacy);
    drop(again);

    // The key folder lost (e.g. a restore without it): refuse to start rather than make new
    // keys that would leave every sealed record unreadable.
    std::fs::rename(data.join("keys"), tmp.path().join("keys-aside"))?;
    let err = AppState::open_dir(&data).await.err().ok_or("started")?;
    let msg = err.to_string();
    assert!(msg.contains("missing"), "{msg}");
    assert!(!msg.contains(&hex::encode(legacy[0])), "{msg}");
    // Another key in its place: refused too.
    std::fs::rename(tmp.path().join("keys-aside"), data.join("keys"))?;
    let pii = data.join("keys").join(KeyName::Pii.file_name());
    std::fs::write(&pii, format!("{}\n", "ab".repeat(32)))?;
    let err = AppState::open_dir(&data).await.err().ok_or("started")?;
    assert!(err.to_string().contains("not the one"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_the_environment_take_precedence_and_are_not_written() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let mut src = KeySource::dir(data.join("keys"));
    let pii = [0x42u8; 32];
    src.env.insert(
        KeyName::Pii.env_var().into(),
        hex::encode(pii).to_uppercase(),
    );
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(data.join("server.db"))?);
    let state = AppState::new(
        storage.clone(),
        &src,
        data.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    assert_eq!(state.pii_key, pii);
    assert!(!data.join("keys").join(KeyName::Pii.file_name()).exists());
    assert!(
        data.join("keys")
            .join(KeyName::PartyMatch.file_name())
            .exists()
    );
    assert_no_key_in_database(&data, &all_keys(&state))?;
    drop(state);

    // The same database with another PII key from the environment: refused.
    src.env
        .insert(KeyName::Pii.env_var().into(), "cd".repeat(32));
    let err = AppState::new(
        storage.clone(),
        &src,
        data.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await
    .err()
    .ok_or("started")?;
    assert!(err.to_string().contains("FIELDCASE_PII_KEY"), "{err}");
    assert!(!err.to_string().contains(&"cd".repeat(32)), "{err}");

    // A malformed variable is named, its value is not echoed.
    src.env
        .insert(KeyName::Pii.env_var().into(), "not-a-key-at-all".into());
    let err = AppState::new(
        storage,
        &src,
        data.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await
    .err()
    .ok_or("started")?;
    assert!(err.to_string().contains("64 hex digits"), "{err}");
    assert!(!err.to_string().contains("not-a-key"), "{err}");
    Ok(())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_folder_others_can_read_is_refused() -> R {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    drop(AppState::open_dir(&data).await?);
    let f = data.join("keys").join(KeyName::AuditSigning.file_name());
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644))?;
    let err = AppState::open_dir(&data).await.err().ok_or("started")?;
    assert!(err.to_string().contains("group or others"), "{err}");
    Ok(())
}

/// `admin keys rotate-pii` through the binary: the old key is kept in `pii.retired` (0600), a
/// new `pii.key` is current and recorded, a server started afterwards holds both (old first),
/// not one key byte reaches the database, an interrupted rotation (the database still naming
/// the retired key) is finished at start, and a `pii.key` that is neither is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_pii_key_keeps_the_old_one_for_reading() -> R {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let before = AppState::open_dir(&data).await?;
    let old = before.pii_key;
    drop(before);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fieldcase-server"))
        .args(["admin", "--data"])
        .arg(&data)
        .args(["--json", "keys", "rotate-pii"])
        .env_remove("FIELDCASE_PII_KEY")
        .env_remove("FIELDCASE_KEY_DIR")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let retired_file = data
        .join("keys")
        .join(fieldcase_server::keys::PII_RETIRED_FILE);
    assert_eq!(
        std::fs::metadata(&retired_file)?.permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(&retired_file)?.trim(),
        hex::encode(old)
    );
    assert_eq!(
        report["rotation"]["retired_key_id"],
        serde_json::json!(fieldcase_server::keys::pii_key_id(&old))
    );

    let after = AppState::open_dir(&data).await?;
    let new = after.pii_key;
    assert_ne!(new, old);
    assert_eq!(after.pii_ring.as_slice(), &[old, new]);
    assert_eq!(
        report["rotation"]["new_key_id"],
        serde_json::json!(fieldcase_server::keys::pii_key_id(&new))
    );
    let audit = after.storage.audit_entries().await?;
    assert!(audit.iter().any(|e| e.event.action == "pii_key_rotated"));
    drop(after);
    assert_no_key_in_database(&data, &[old, new])?;

    // Interrupted between the key file and the fingerprint: the database names the old key.
    {
        let storage = SqliteStorage::open(data.join("server.db"))?;
        let fp = fieldcase_server::keys::fingerprint(KeyName::Pii, &old);
        storage.delete_setting("key_fingerprint.pii").await?;
        storage
            .setting_or_insert("key_fingerprint.pii", fp.into_bytes())
            .await?;
    }
    let resumed = AppState::open_dir(&data).await?;
    assert_eq!(resumed.pii_key, new);
    drop(resumed);
    // A key that is neither the recorded nor a retired one is refused, as before.
    std::fs::write(
        data.join("keys").join(KeyName::Pii.file_name()),
        format!("{}\n", "ab".repeat(32)),
    )?;
    assert!(AppState::open_dir(&data).await.is_err());
    Ok(())
}
