//! Backup and restore as one command each through the binary: on PostgreSQL (`pg_dump`, then
//! the blobs; `pg_restore` into an empty database only) and on SQLite, each restore renewing
//! the restore epoch that sync replies announce.

use super::admin_cli::{admin, case_with_audio, ok, pg_url};
use age::secrecy::ExposeSecret;
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::prelude::*;
use fieldcase_server::{AppState, Listen};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A new database on the test server, dropped (with its connections) when this goes.
struct FreshDb {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshDb {
    async fn create() -> R<FreshDb> {
        let base = pg_url();
        let root = base
            .rsplit_once('/')
            .map(|(r, _)| r.to_string())
            .ok_or("no database in the test URL")?;
        let name = format!("fc_restore_{}", hex::encode(rand_bytes()));
        let admin_url = format!("{root}/postgres");
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("PostgreSQL must be reachable at FIELDCASE_TEST_PG_URL: {e}"))?;
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(FreshDb {
            url: format!("{root}/{name}"),
            admin_url,
            name,
        })
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
            .map_err(std::io::Error::other)
        })
        .join();
    }
}

fn rand_bytes() -> [u8; 6] {
    let id = uuid::Uuid::new_v4();
    let mut b = [0u8; 6];
    b.copy_from_slice(&id.as_bytes()[10..]);
    b
}

/// Creates a unit, an officer and a code with the CLI, then enrols a phone against a server
/// over `state`, records a case with an audio file and syncs it (file included). Returns the
/// case id and the file's SHA-256.
async fn one_case_with_evidence(
    data: &Path,
    extra: &[&str],
    state: AppState,
    tmp: &Path,
) -> R<(String, String)> {
    ok(
        data,
        extra,
        &["create-unit", "--path", "luan", "--name", "L"],
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
        let key = store.device_public_key()?;
        client.enrol(&store, &code, &key, "phone").await?.device_id
    };
    let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests(device_id))?;
    let (case, entry) = case_with_audio(&store, "OF-1", tmp, 20_000)?;
    let report = client.sync(&store).await?;
    assert!(report.complete && report.rejected == 0, "{report:?}");
    assert!(report.blobs_uploaded >= 1, "{report:?}");
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok((case, entry.original.sha256))
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_and_restore_round_trip_and_refuse_a_database_in_use() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let keys = data.join("keys");
    let source = FreshDb::create().await?;
    let extra = ["--database-url", source.url.as_str()];
    let storage: Arc<dyn Storage> = Arc::new(PostgresStorage::connect(&source.url).await?);
    let state = AppState::new(
        storage.clone(),
        &fieldcase_server::keys::KeySource::dir(keys.clone()),
        data.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    let (case, sha) = one_case_with_evidence(&data, &extra, state, tmp.path()).await?;
    let epoch = fieldcase_server::restore_epoch::current(storage.as_ref()).await?;
    let audit = storage.audit_entries().await?.len();
    assert!(audit > 0);

    // One command: the dump first, then the blobs, all sealed.
    let key = age::x25519::Identity::generate();
    let key_file = tmp.path().join("backup-key.txt");
    std::fs::write(&key_file, key.to_string().expose_secret())?;
    let backup = tmp.path().join("backup");
    let m = ok(
        &data,
        &extra,
        &[
            "backup",
            "--out",
            &s(&backup),
            "--recipient",
            &key.to_public().to_string(),
        ],
    )?;
    assert_eq!(m["database_format"], json!("pg_dump"), "{m}");
    assert_eq!(
        (m["documents"].clone(), m["blobs"].clone()),
        (json!(1), json!(1))
    );
    assert!(backup.join("server.dump.age").exists());
    assert!(!backup.join("server.dump").exists(), "nothing in plain");
    // No plain dump is left behind in the data folder.
    let leftovers: Vec<_> = std::fs::read_dir(&data)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".dump"))
        .collect();
    assert!(leftovers.is_empty());

    // Restore into a new, empty database and a new data folder.
    let target = FreshDb::create().await?;
    let restored = tmp.path().join("restored");
    let textra = [
        "--database-url",
        target.url.as_str(),
        "--key-dir",
        keys.to_str().ok_or("path")?,
    ];
    // A dump needs a database to go into.
    let (done, _) = admin(
        &restored,
        &[],
        &[
            "restore",
            "--from",
            &s(&backup),
            "--identity",
            &s(&key_file),
        ],
    )?;
    assert!(!done && !restored.exists());
    let r = ok(
        &restored,
        &textra,
        &[
            "restore",
            "--from",
            &s(&backup),
            "--identity",
            &s(&key_file),
        ],
    )?;
    assert_eq!(
        (r["documents"].clone(), r["blobs"].clone()),
        (json!(1), json!(1))
    );
    let back = PostgresStorage::connect(&target.url).await?;
    assert_eq!(back.doc_ids().await?, vec![case.clone()]);
    assert!(back.blob(&sha).await?.is_some());
    assert!(restored.join("blobs").join(&sha[..2]).join(&sha).exists());
    assert_eq!(
        back.audit_entries().await?.len(),
        audit,
        "the audit trail whole"
    );
    let new_epoch = fieldcase_server::restore_epoch::current(&back).await?;
    assert_ne!(new_epoch, epoch, "a restore renews the epoch");
    let report = ok(&restored, &textra, &["verify"])?;
    assert_eq!(report["problems"], json!([]), "{report}");
    let chain = ok(&restored, &textra, &["audit", "verify"])?;
    assert_eq!(chain["ok"], json!(true), "{chain}");
    assert!(
        !std::fs::read_dir(&restored)?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".dump")),
        "the plain dump is removed"
    );

    // Again into the same database: refused before anything is written.
    let plain = tmp.path().join("plain");
    ok(&data, &extra, &["backup", "--plain", "--out", &s(&plain)])?;
    assert!(plain.join("server.dump").exists());
    let again = tmp.path().join("again");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fieldcase-server"))
        .args(["admin", "--data", &s(&again), "--database-url", &target.url])
        .args(["restore", "--from", &s(&plain)])
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already holds fieldcase tables"),
        "{stderr}"
    );
    assert!(!again.exists(), "no data folder made");
    assert_eq!(
        fieldcase_server::restore_epoch::current(&back).await?,
        new_epoch,
        "nothing changed"
    );
    assert_eq!(back.doc_ids().await?, vec![case]);
    assert_eq!(back.audit_entries().await?.len(), audit);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restore_renews_the_epoch_in_both_backup_forms() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    ok(
        &data,
        &[],
        &["create-unit", "--path", "luan", "--name", "L"],
    )?;
    let epoch = {
        let st = fieldcase_server::storage::sqlite::SqliteStorage::open(data.join("server.db"))?;
        fieldcase_server::restore_epoch::current(&st).await?
    };
    let key = age::x25519::Identity::generate();
    let key_file = tmp.path().join("backup-key.txt");
    std::fs::write(&key_file, key.to_string().expose_secret())?;
    let (plain, sealed) = (tmp.path().join("plain"), tmp.path().join("sealed"));
    ok(&data, &[], &["backup", "--plain", "--out", &s(&plain)])?;
    let recipient = key.to_public().to_string();
    ok(
        &data,
        &[],
        &["backup", "--out", &s(&sealed), "--recipient", &recipient],
    )?;
    let mut epochs = vec![epoch];
    for (n, (from, identity)) in [(&plain, None), (&sealed, Some(&key_file))]
        .into_iter()
        .enumerate()
    {
        let dest = tmp.path().join(format!("restored-{n}"));
        let mut args = vec!["restore".to_string(), "--from".into(), s(from)];
        if let Some(k) = identity {
            args.extend(["--identity".into(), s(k)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&dest, &[], &args)?;
        let st = fieldcase_server::storage::sqlite::SqliteStorage::open(dest.join("server.db"))?;
        let e = fieldcase_server::restore_epoch::current(&st).await?;
        assert!(!epochs.contains(&e), "a new epoch per restore");
        epochs.push(e);
        // A SQLite backup takes no database URL.
        let (done, _) = admin(
            &tmp.path().join(format!("x-{n}")),
            &["--database-url", &pg_url()],
            &args,
        )?;
        assert!(!done);
    }
    Ok(())
}
