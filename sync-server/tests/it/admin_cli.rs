//! The operator commands through the real `fieldcase-server` binary: devices, revoke, online
//! backup and restore, verify (and its failure on a tampered database), on SQLite and on
//! PostgreSQL.

use fieldcase_core::catalogue::{ExemptionKind, Method, PartyType};
use fieldcase_core::model::Place;
use fieldcase_core::store::{NewAction, NewCase};
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::{AppState, Listen};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase-server");

pub(super) fn pg_url() -> String {
    std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Runs `fieldcase-server admin --data DATA [extra] --json ARGS`; returns (success, JSON).
pub(super) fn admin(data: &Path, extra: &[&str], args: &[&str]) -> R<(bool, Value)> {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(extra)
        .arg("--json")
        .args(args)
        .env_remove("FIELDCASE_DATABASE_URL")
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    let v = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    };
    Ok((out.status.success(), v))
}

pub(super) fn ok(data: &Path, extra: &[&str], args: &[&str]) -> R<Value> {
    let (success, v) = admin(data, extra, args)?;
    if !success {
        return Err(format!("admin {args:?} failed: {v}").into());
    }
    Ok(v)
}

/// Sets up a unit and a user, enrols one phone against a server over `state`, records a case
/// and syncs it. Returns the device id.
async fn one_synced_case(data: &Path, extra: &[&str], state: AppState, tmp: &Path) -> R<String> {
    ok(
        data,
        extra,
        &["create-unit", "--path", "luan", "--name", "Lu'an"],
    )?;
    ok(
        data,
        extra,
        &[
            "create-user",
            "--id",
            "OF-1",
            "--name",
            "One",
            "--role",
            "officer",
            "--unit",
            "luan",
        ],
    )?;
    let code = ok(data, extra, &["create-code", "--user", "OF-1"])?;
    let code = code["code"].as_str().ok_or("no code")?.to_string();
    let server = fieldcase_server::start(
        state,
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let client = SyncClient::new(ClientConfig::new(format!("http://{}", server.addr)))?;
    let path = tmp.join("phone.db");
    let device_id = {
        let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("unenrolled"))?;
        client
            .enrol(&store, &code, &"ab".repeat(32), "phone")
            .await?
            .device_id
    };
    let store = FieldStore::open(
        &path,
        StoreConfig::insecure_plain_for_tests(device_id.clone()),
    )?;
    let cat = store.catalogue();
    let item = cat
        .items()
        .find(|i| {
            i.exemption.allows(ExemptionKind::FirstOffence)
                && i.applies_to.contains(&PartyType::Person)
                && !i.exemption.exempt_tiers.is_empty()
        })
        .ok_or("no item")?;
    let mut fields = serde_json::Map::new();
    fields.insert("explained".into(), json!("占道经营影响通行"));
    fields.insert("outcome".into(), json!("accepted"));
    store.create_case(NewCase {
        unit: "luan".into(),
        occurred_at_ms: 1_790_000_000_000,
        place: Place {
            lat: 31.73,
            lon: 116.5,
            accuracy_m: Some(5.0),
            address: None,
        },
        officers: vec!["OF-1".into()],
        recorded_by: "OF-1".into(),
        party_id: None,
        violation_code: item.code.clone(),
        tier: item.exemption.exempt_tiers[0].clone(),
        description: None,
        actions: vec![NewAction {
            method: Method::Persuasion,
            at_ms: 1_790_000_000_000,
            by: "OF-1".into(),
            note: None,
            fields,
        }],
        involves_minor: false,
        privacy_protected: false,
    })?;
    let report = client.sync(&store).await?;
    assert_eq!(report.rejected, 0);
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(device_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_devices_backup_restore_verify_revoke() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let state = AppState::open_dir(&data).await?;
    let device = one_synced_case(&data, &[], state.clone(), tmp.path()).await?;

    let devices = ok(&data, &[], &["devices"])?;
    assert_eq!(devices.as_array().map(Vec::len), Some(1));
    assert_eq!(devices[0]["id"], json!(device));
    assert!(devices[0]["last_sync_ms"].is_i64());
    assert_eq!(devices[0]["pending_uploads"], json!(0));

    let report = ok(&data, &[], &["verify"])?;
    assert_eq!(report["documents"], json!(1));
    assert_eq!(report["problems"], json!([]));

    // Online: the server's storage is still open in this process.
    let backup = tmp.path().join("backup");
    let m = ok(
        &data,
        &[],
        &["backup", "--plain", "--out", backup.to_str().ok_or("path")?],
    )?;
    assert_eq!(m["documents"], json!(1));
    assert!(backup.join("manifest.json").exists());
    // A second backup into the same folder is refused.
    assert!(
        !admin(
            &data,
            &[],
            &["backup", "--plain", "--out", backup.to_str().ok_or("path")?]
        )?
        .0
    );

    let restored = tmp.path().join("restored");
    let m = ok(
        &restored,
        &[],
        &["restore", "--from", backup.to_str().ok_or("path")?],
    )?;
    assert_eq!(m["documents"], json!(1));
    let report = ok(&restored, &[], &["verify"])?;
    assert_eq!(
        (report["documents"].clone(), report["problems"].clone()),
        (json!(1), json!([]))
    );
    assert_eq!(ok(&restored, &[], &["devices"])?[0]["id"], json!(device));
    // Restoring into a folder that is not empty is refused.
    assert!(
        !admin(
            &restored,
            &[],
            &["restore", "--from", backup.to_str().ok_or("path")?]
        )?
        .0
    );

    // Tamper with the restored copy: verify reports it and fails.
    {
        let c = rusqlite::Connection::open(restored.join("server.db"))?;
        let bytes: Vec<u8> = c.query_row("SELECT bytes FROM chunks LIMIT 1", [], |r| r.get(0))?;
        let mut bad = bytes.clone();
        let i = bad.len() / 2;
        bad[i] ^= 0x55;
        c.execute("UPDATE chunks SET bytes = ?1", [bad])?;
    }
    let (success, report) = admin(&restored, &[], &["verify"])?;
    assert!(!success);
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(1));

    let revoked = ok(&data, &[], &["revoke", "--id", &device])?;
    assert!(revoked["revoked_at_ms"].is_i64());
    assert!(!admin(&data, &[], &["revoke", "--id", "no-such-device"])?.0);

    // The audit trail holds the enrolment and the revocation, and verifies.
    let check = ok(&data, &[], &["audit", "verify"])?;
    assert_eq!(check["ok"], json!(true));
    assert!(check["entries"].as_i64().unwrap_or(0) >= 2, "{check}");
    {
        let c = rusqlite::Connection::open(data.join("server.db"))?;
        let actions: Vec<String> = c
            .prepare("SELECT action FROM audit_log ORDER BY seq")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert!(actions.contains(&"enrol".to_string()), "{actions:?}");
        assert_eq!(actions.last().map(String::as_str), Some("revoke"));
    }
    audit_tamper_is_detected(&data)?;
    drop(state);
    Ok(())
}

/// Edits, deletes and reorders audit rows in copies of the database: each is caught.
fn audit_tamper_is_detected(data: &Path) -> R {
    // The copies have no key folder: check them as an auditor would, with the public key.
    let pk = ok(data, &[], &["audit", "verify"])?["public_key"]
        .as_str()
        .ok_or("public key")?
        .to_string();
    let edits = [
        // No edit: the untouched copy verifies (so the failures below are the edits).
        "SELECT 1",
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
        "DELETE FROM audit_log WHERE seq = 1",
        "UPDATE audit_log SET seq = -1 WHERE seq = 1; UPDATE audit_log SET seq = 1 WHERE seq = 2; \
         UPDATE audit_log SET seq = 2 WHERE seq = -1",
    ];
    for (i, edit) in edits.iter().enumerate() {
        let copy = data.with_file_name(format!("audit-tamper-{i}"));
        std::fs::create_dir_all(&copy)?;
        {
            let src = rusqlite::Connection::open(data.join("server.db"))?;
            src.execute("VACUUM INTO ?1", [copy.join("server.db").to_string_lossy()])?;
        }
        let c = rusqlite::Connection::open(copy.join("server.db"))?;
        c.execute_batch(edit)?;
        drop(c);
        let (success, check) = admin(&copy, &[], &["audit", "verify", "--public-key", &pk])?;
        assert_eq!(success, i == 0, "{edit}: {check}");
    }
    Ok(())
}

/// Rewrites audit entry `seq`'s detail in the database and re-signs it and every later
/// entry, and the head, with `key`: what someone who can write the database (and holds
/// `key`) can do.
fn rewrite_trail(db: &Path, seq: i64, key: &ed25519_dalek::SigningKey) -> R {
    use fieldcase_server::audit::{AuditEvent, GENESIS_HASH, entry_after, head_for};
    let c = rusqlite::Connection::open(db)?;
    let rows: Vec<(i64, AuditEvent)> = c
        .prepare("SELECT seq, at_ms, actor, action, case_id, detail FROM audit_log ORDER BY seq")?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                AuditEvent {
                    at_ms: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    case_id: r.get(4)?,
                    detail: r.get(5)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let (mut prev_seq, mut prev_hash) = (0, GENESIS_HASH.to_string());
    let mut last = None;
    for (n, mut ev) in rows {
        if n == seq {
            ev.detail = "nothing to see here".into();
        }
        let e = entry_after(prev_seq, &prev_hash, ev, key);
        c.execute(
            "UPDATE audit_log SET detail = ?2, prev_hash = ?3, hash = ?4, signature = ?5 \
             WHERE seq = ?1",
            rusqlite::params![e.seq, e.event.detail, e.prev_hash, e.hash, e.signature],
        )?;
        (prev_seq, prev_hash) = (e.seq, e.hash.clone());
        last = Some(e);
    }
    let head = head_for(last.as_ref().ok_or("empty trail")?, key);
    c.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2, signature = ?3 WHERE id = 1",
        rusqlite::params![head.seq, head.hash, head.signature],
    )?;
    // What an older release read its signing key from.
    c.execute(
        "INSERT OR REPLACE INTO settings(key, value) VALUES ('server_signing_key', ?1)",
        [key.to_bytes().to_vec()],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_head_catches_a_trail_rewritten_by_someone_who_can_write_the_database() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let state = AppState::open_dir(&data).await?;
    for i in 0..6 {
        state
            .audit(fieldcase_server::audit::AuditEvent {
                at_ms: 1_790_000_000_000 + i,
                actor: "RV-1".into(),
                action: "view".into(),
                case_id: Some(format!("case-{i}")),
                detail: "dashboard".into(),
            })
            .await?;
    }
    let real_key = (*state.signing_key).clone();
    drop(state);

    let head_file = tmp.path().join("audit-head.json");
    let exported = ok(
        &data,
        &[],
        &[
            "audit",
            "export-head",
            "--out",
            head_file.to_str().ok_or("path")?,
        ],
    )?;
    assert_eq!(exported["seq"], json!(6));
    let pk = exported["public_key"]
        .as_str()
        .ok_or("public key")?
        .to_string();
    assert_eq!(pk, hex::encode(real_key.verifying_key().to_bytes()));
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&head_file)?)?;
    assert_eq!(on_disk, exported);
    let head_arg = head_file.to_str().ok_or("path")?;
    let external = [
        "audit",
        "verify",
        "--head",
        head_arg,
        "--public-key",
        pk.as_str(),
    ];
    let check = ok(&data, &[], &external)?;
    assert_eq!(
        (check["ok"].clone(), check["external_head_seq"].clone()),
        (json!(true), json!(6))
    );

    // The trail grows after the export: still consistent with the kept head.
    let state = AppState::open_dir(&data).await?;
    state
        .audit(fieldcase_server::audit::AuditEvent {
            at_ms: 1_790_000_100_000,
            actor: "operator".into(),
            action: "export".into(),
            case_id: None,
            detail: "report".into(),
        })
        .await?;
    drop(state);
    assert_eq!(ok(&data, &[], &external)?["entries"], json!(7));

    // Someone who can write the database rewrites entry 3 and re-signs the whole trail with
    // a key of their own, put where older releases read the signing key from.
    let copy = |name: &str| -> R<std::path::PathBuf> {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir)?;
        let src = rusqlite::Connection::open(data.join("server.db"))?;
        src.execute("VACUUM INTO ?1", [dir.join("server.db").to_string_lossy()])?;
        Ok(dir)
    };
    let forged = copy("forged")?;
    let attacker = ed25519_dalek::SigningKey::from_bytes(&[0x77; 32]);
    rewrite_trail(&forged.join("server.db"), 3, &attacker)?;
    // The forged trail is self-consistent under the key the database now holds ...
    let attacker_pk = hex::encode(attacker.verifying_key().to_bytes());
    assert!(
        ok(
            &forged,
            &[],
            &["audit", "verify", "--public-key", &attacker_pk]
        )
        .is_ok()
    );
    // ... but not under the public key kept outside, with or without the kept head.
    let (success, check) = admin(&forged, &[], &external)?;
    assert!(!success, "{check}");
    assert!(!admin(&forged, &[], &["audit", "verify", "--public-key", &pk])?.0);
    // Nor does the server's own key folder accept it.
    let key_dir = data.join("keys");
    let kd = ["--key-dir", key_dir.to_str().ok_or("path")?];
    assert!(!admin(&forged, &kd, &["audit", "verify"])?.0);

    // Even with the real signing key (a thief of the key folder too), a rewrite before the
    // exported head no longer holds the head kept outside.
    let stolen = copy("stolen-key")?;
    rewrite_trail(&stolen.join("server.db"), 3, &real_key)?;
    assert!(ok(&stolen, &[], &["audit", "verify", "--public-key", &pk]).is_ok());
    let (success, check) = admin(&stolen, &[], &external)?;
    assert!(!success, "{check}");
    // A head file from another key than --public-key is refused outright.
    assert!(
        !admin(
            &data,
            &[],
            &[
                "audit",
                "verify",
                "--head",
                head_arg,
                "--public-key",
                &attacker_pk
            ]
        )?
        .0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_devices_verify_revoke() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let storage = fieldcase_server::storage::postgres::PostgresStorage::connect_fresh(&pg_url())
        .await
        .map_err(|e| format!("PostgreSQL must be reachable at FIELDCASE_TEST_PG_URL: {e}"))?;
    let schema = storage.schema().ok_or("no schema")?.to_string();
    let url = format!("{}?options=-c%20search_path%3D{schema}", pg_url());
    let extra = ["--database-url", url.as_str()];
    let state = AppState::new(
        std::sync::Arc::new(storage.clone()),
        &fieldcase_server::keys::KeySource::dir(data.join("keys")),
        data.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    let device = one_synced_case(&data, &extra, state, tmp.path()).await?;
    let devices = ok(&data, &extra, &["devices"])?;
    assert_eq!(devices[0]["id"], json!(device));
    let report = ok(&data, &extra, &["verify"])?;
    assert_eq!(
        (report["documents"].clone(), report["problems"].clone()),
        (json!(1), json!([]))
    );
    // The database is dumped with pg_dump (the URL's schema alone), then the blobs copied.
    let dumped = ok(
        &data,
        &extra,
        &[
            "backup",
            "--plain",
            "--out",
            tmp.path().join("b").to_str().ok_or("p")?,
        ],
    )?;
    assert_eq!(dumped["database"], json!("server.dump"));
    assert_eq!(dumped["documents"], json!(1));
    ok(
        &data,
        &extra,
        &[
            "backup",
            "--blobs-only",
            "--plain",
            "--out",
            tmp.path().join("b2").to_str().ok_or("p")?,
        ],
    )?;
    let revoked = ok(&data, &extra, &["revoke", &device, "--wipe", "synced-only"])?;
    assert!(revoked["revoked_at_ms"].is_i64());
    assert_eq!(revoked["revoke_wipe"], json!("synced_only"));
    assert!(!admin(&data, &extra, &["revoke", &device, "--wipe", "some"])?.0);
    let held = ok(&data, &extra, &["quarantine", "list"])?;
    assert_eq!(held, json!([]));
    assert!(!admin(&data, &extra, &["quarantine", "release", "1"])?.0);
    Ok(())
}

/// Records on `store` a first-offence case by `officer` in `luan` with one persuasion and an
/// audio recording of `samples` samples (a real WAV file in `tmp`); returns the case id and
/// the recording's entry.
pub(super) fn case_with_audio(
    store: &FieldStore,
    officer: &str,
    tmp: &Path,
    samples: u32,
) -> Result<(String, fieldcase_core::evidence::EvidenceEntry), Box<dyn std::error::Error>> {
    let cat = store.catalogue();
    let item = cat
        .items()
        .find(|i| {
            i.exemption.allows(ExemptionKind::FirstOffence)
                && i.applies_to.contains(&PartyType::Person)
                && !i.exemption.exempt_tiers.is_empty()
        })
        .ok_or("no item")?;
    let mut fields = serde_json::Map::new();
    fields.insert("explained".into(), json!("占道经营影响通行"));
    fields.insert("outcome".into(), json!("accepted"));
    let case = store
        .create_case(NewCase {
            unit: "luan".into(),
            occurred_at_ms: 1_790_000_000_000,
            place: Place {
                lat: 31.73,
                lon: 116.5,
                accuracy_m: Some(5.0),
                address: None,
            },
            officers: vec![officer.into()],
            recorded_by: officer.into(),
            party_id: None,
            violation_code: item.code.clone(),
            tier: item.exemption.exempt_tiers[0].clone(),
            description: None,
            actions: vec![NewAction {
                method: Method::Persuasion,
                at_ms: 1_790_000_000_000,
                by: officer.into(),
                note: None,
                fields,
            }],
            involves_minor: false,
            privacy_protected: false,
        })?
        .id;
    let audio = tmp.join("talk.wav");
    std::fs::write(&audio, wav(samples))?;
    let entry = store.add_audio(
        &case,
        &audio,
        fieldcase_core::evidence::CaptureInfo {
            officer: officer.into(),
            device_time_ms: 1_790_000_000_000,
            monotonic_ms: 5,
            place: None,
            note: None,
        },
        None,
    )?;
    Ok((case, entry))
}

/// A mono 16-bit 8 kHz WAV of noise.
pub(super) fn wav(bytes: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + bytes).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [8000u32, 16000] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [2u16, 16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&bytes.to_le_bytes());
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_package_checks_a_case_file_and_fails_on_findings() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let state = AppState::open_dir(&data).await?;
    one_synced_case(&data, &[], state.clone(), tmp.path()).await?;
    // The phone of `one_synced_case` enrolled with a placeholder key; record evidence on a
    // phone enrolled with its real key.
    ok(
        &data,
        &[],
        &[
            "create-user",
            "--id",
            "OF-2",
            "--name",
            "Two",
            "--role",
            "officer",
            "--unit",
            "luan",
        ],
    )?;
    let code = ok(&data, &[], &["create-code", "--user", "OF-2"])?;
    let code = code["code"].as_str().ok_or("no code")?.to_string();
    let server = fieldcase_server::start(
        state,
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let client = SyncClient::new(ClientConfig::new(format!("http://{}", server.addr)))?;
    let path = tmp.path().join("phone2.db");
    let device_id = {
        let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("unenrolled"))?;
        let key = store.device_public_key()?;
        client.enrol(&store, &code, &key, "phone").await?.device_id
    };
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests(device_id))?;
    let (case, _) = case_with_audio(&store, "OF-2", tmp.path(), 40_000)?;
    let pkg = tmp.path().join("case.zip");
    store.export_case_package(&case, &pkg)?;
    let pkg_s = pkg.to_str().ok_or("path")?;

    // Clean, and every key is one this server enrolled.
    let (success, report) = admin(&data, &[], &["verify-package", pkg_s])?;
    assert!(success, "{report}");
    assert_eq!(report["issues"], json!([]));
    assert_eq!(report["keys_checked_against_trust_list"], json!(true));
    assert_eq!(report["evidence_checked"], json!(1));

    // Against another server's register the key is unknown: a finding, exit non-zero.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other)?;
    let (success, report) = admin(&other, &[], &["verify-package", pkg_s])?;
    assert!(!success);
    assert!(
        report["issues"].to_string().contains("unknown_device_key"),
        "{report}"
    );
    // ... unless the trust list is skipped.
    let (success, _) = admin(&other, &[], &["verify-package", "--no-trust-list", pkg_s])?;
    assert!(success);

    // A flipped byte in the package is found (or the package no longer reads): non-zero.
    let mut bytes = std::fs::read(&pkg)?;
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x40;
    let bad = tmp.path().join("bad.zip");
    std::fs::write(&bad, &bytes)?;
    let (success, _) = admin(&data, &[], &["verify-package", bad.to_str().ok_or("path")?])?;
    assert!(!success);
    let (success, _) = admin(
        &data,
        &[],
        &[
            "verify-package",
            tmp.path().join("absent.zip").to_str().ok_or("path")?,
        ],
    )?;
    assert!(!success);
    Ok(())
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> R<Vec<(String, Vec<u8>)>> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p)?));
            }
        }
    }
    Ok(out)
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Encrypted backups through the binary: no backup without recipients unless `--plain` is
/// asked for; an encrypted backup holds none of the canaries a plain one holds (the SQLite
/// header, the case id, the device id, a note's text, an evidence file's bytes and its
/// SHA-256); a wrong identity is refused before the data folder is created; the right one
/// restores a server that verifies and that the phone syncs with again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_backup_hides_every_record_and_restores_only_with_its_identity() -> R {
    use age::secrecy::ExposeSecret;
    use fieldcase_server::storage::BlobRecord;
    use sha2::Digest;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let state = AppState::open_dir(&data).await?;
    let device = one_synced_case(&data, &[], state.clone(), tmp.path()).await?;
    let case_id: String = rusqlite::Connection::open(data.join("server.db"))?.query_row(
        "SELECT id FROM docs WHERE kind = 'case'",
        [],
        |r| r.get(0),
    )?;
    // An evidence file, stored as an upload leaves it.
    let photo =
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 canary evidence bytes of a case photo".repeat(40);
    let sha = hex::encode(sha2::Sha256::digest(&photo));
    let path = state
        .blobs
        .as_folder()
        .ok_or("folder store")?
        .final_path(&sha);
    std::fs::create_dir_all(path.parent().ok_or("parent")?)?;
    std::fs::write(&path, &photo)?;
    state
        .storage
        .insert_blob(BlobRecord {
            sha256: sha.clone(),
            size: photo.len() as u64,
            stored_at_ms: 1,
            device_id: device.clone(),
        })
        .await?;

    let key = age::x25519::Identity::generate();
    let spare = age::x25519::Identity::generate();
    let stranger = age::x25519::Identity::generate();
    let key_file = tmp.path().join("backup-key.txt");
    std::fs::write(&key_file, key.to_string().expose_secret())?;
    let stranger_file = tmp.path().join("stranger-key.txt");
    std::fs::write(&stranger_file, stranger.to_string().expose_secret())?;
    let recipients_file = tmp.path().join("recipients.txt");
    std::fs::write(
        &recipients_file,
        format!("# the key in the safe\n{}\n", spare.to_public()),
    )?;
    let s = |p: &Path| p.to_string_lossy().into_owned();

    // No recipients and no --plain: refused, nothing written.
    let sealed = tmp.path().join("sealed");
    let (done, _) = admin(&data, &[], &["backup", "--out", &s(&sealed)])?;
    assert!(!done && !sealed.exists());

    let m = ok(
        &data,
        &[],
        &[
            "backup",
            "--out",
            &s(&sealed),
            "--recipient",
            &key.to_public().to_string(),
            "--recipients-file",
            &s(&recipients_file),
        ],
    )?;
    assert_eq!(
        (m["documents"].clone(), m["blobs"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(m["recipients"].as_array().map(Vec::len), Some(2));
    let plain = tmp.path().join("plain");
    ok(&data, &[], &["backup", "--plain", "--out", &s(&plain)])?;

    let canaries: Vec<(&str, Vec<u8>)> = vec![
        ("SQLite header", b"SQLite format 3".to_vec()),
        ("case id", case_id.as_bytes().to_vec()),
        ("device id", device.as_bytes().to_vec()),
        ("action note", "占道经营影响通行".as_bytes().to_vec()),
        ("photo bytes", photo[..48].to_vec()),
        ("photo hash", sha.as_bytes().to_vec()),
    ];
    let plain_bytes: Vec<u8> = all_bytes(&plain)?
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    let plain_names: String = all_bytes(&plain)?.into_iter().map(|(n, _)| n).collect();
    for (what, c) in &canaries {
        // The canary is real: a plain backup holds it.
        assert!(
            holds(&plain_bytes, c) || holds(plain_names.as_bytes(), c),
            "the plain backup lacks the {what}"
        );
    }
    for (name, bytes) in all_bytes(&sealed)? {
        for (what, c) in &canaries {
            assert!(!holds(&bytes, c), "{name} holds the {what}");
            assert!(
                !holds(name.as_bytes(), c),
                "the file name {name} holds the {what}"
            );
        }
    }

    // A wrong identity: a clear error, and the data folder is not even created.
    let restored = tmp.path().join("restored");
    let out = Command::new(BIN)
        .args([
            "admin",
            "--data",
            &s(&restored),
            "restore",
            "--from",
            &s(&sealed),
        ])
        .args(["--identity", &s(&stranger_file)])
        .env_remove("FIELDCASE_DATABASE_URL")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("wrong --identity"), "{err}");
    assert!(!restored.exists());
    // No identity at all for an encrypted backup: told so.
    let (done, _) = admin(&restored, &[], &["restore", "--from", &s(&sealed)])?;
    assert!(!done && !restored.exists());

    let m = ok(
        &restored,
        &[],
        &[
            "restore",
            "--from",
            &s(&sealed),
            "--identity",
            &s(&key_file),
        ],
    )?;
    assert_eq!(
        (m["documents"].clone(), m["blobs"].clone()),
        (json!(1), json!(1))
    );
    // The backup's database, but for the restore epoch the restore renewed.
    let rows = |db: &Path| -> R<Vec<(String, Vec<u8>)>> {
        let c = rusqlite::Connection::open(db)?;
        let mut stmt = c.prepare(
            "SELECT key, value FROM settings WHERE key <> 'restore_epoch' \
             UNION ALL SELECT id, heads FROM docs ORDER BY 1",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    };
    assert_eq!(
        rows(&restored.join("server.db"))?,
        rows(&plain.join("server.db"))?
    );
    let epoch = |db: &Path| -> R<Vec<Vec<u8>>> {
        let c = rusqlite::Connection::open(db)?;
        let mut stmt = c.prepare("SELECT value FROM settings WHERE key = 'restore_epoch'")?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    };
    let renewed = epoch(&restored.join("server.db"))?;
    assert_eq!(renewed.len(), 1);
    assert!(!epoch(&plain.join("server.db"))?.contains(&renewed[0]));
    let report = ok(&restored, &[], &["verify"])?;
    assert_eq!(
        (report["documents"].clone(), report["problems"].clone()),
        (json!(1), json!([]))
    );

    // A working server: the restored data with the key folder kept apart, and the phone
    // syncs with it as with the original.
    drop(state);
    let restored_state = AppState::new(
        std::sync::Arc::new(fieldcase_server::storage::sqlite::SqliteStorage::open(
            restored.join("server.db"),
        )?),
        &fieldcase_server::keys::KeySource::dir(data.join("keys")),
        restored.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    let server = fieldcase_server::start(
        restored_state,
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let client = SyncClient::new(ClientConfig::new(format!("http://{}", server.addr)))?;
    let store = FieldStore::open(
        tmp.path().join("phone.db"),
        StoreConfig::insecure_plain_for_tests(device.clone()),
    )?;
    let r = client.sync(&store).await?;
    assert!(r.complete && r.rejected == 0, "{r:?}");
    assert!(store.case(&case_id).is_ok());
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(())
}
