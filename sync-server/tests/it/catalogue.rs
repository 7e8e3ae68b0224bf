//! Catalogue publication end to end: an operator publishes a changed catalogue, a real phone
//! receives it over a loopback server (SQLite and PostgreSQL) and records new cases under it,
//! while a case recorded before stays judged under its own version by the phone and the
//! server; and `admin catalogue check|publish|list` through the real binary.

use fieldcase_core::catalogue::{CatalogueBundle, PartyType, PenaltyKind};
use fieldcase_core::model::{Place, Procedure};
use fieldcase_core::rules::RefusalCode;
use fieldcase_core::store::{NewCase, NewParty, PenaltyRequest};
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use fieldcase_server::storage::Role;
use fieldcase_server::storage::prelude::*;
use fieldcase_server::{AppState, Listen, admin, catalogue};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase-server");
const T0: i64 = 1_790_000_000_000;
const NEXT: &str = "2099.1.1";
/// The item and tier the published catalogue changes: its lowest fine for a person rises from
/// 50 to 100 yuan.
const CODE: &str = "CG-ST-001";
const TIER: &str = "minor";

fn pg_url() -> String {
    std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The built-in bundle under `version`, with the benchmark tier of [`CODE`]/[`TIER`] for a
/// person starting at `min_yuan`.
fn bumped(version: &str, min_yuan: i64) -> R<CatalogueBundle> {
    let mut b = CatalogueBundle::builtin()?;
    for v in b.files.values_mut() {
        if v.get("catalogue_version").is_some() {
            v["catalogue_version"] = json!(version);
        }
    }
    b.version = version.to_string();
    let bench = b
        .files
        .get_mut("profiles/cn-ah-la/benchmarks.json")
        .ok_or("no benchmarks")?;
    let tier = bench["items"]
        .as_array_mut()
        .and_then(|items| items.iter_mut().find(|i| i["code"] == CODE))
        .and_then(|i| i["tiers"].as_array_mut())
        .and_then(|t| {
            t.iter_mut()
                .find(|t| t["tier"] == TIER && t["party_type"] == "person")
        })
        .ok_or("no tier")?;
    tier["min_yuan"] = json!(min_yuan);
    Ok(b)
}

/// Writes a bundle out in the layout of `schemas/catalogue/`.
fn write_dir(b: &CatalogueBundle, dir: &Path) -> R {
    for (name, v) in &b.files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(v)?)?;
    }
    Ok(())
}

fn place() -> Place {
    Place {
        lat: 31.73,
        lon: 116.5,
        accuracy_m: Some(5.0),
        address: None,
    }
}

/// A case of [`CODE`]/[`TIER`] against a new party.
fn case(store: &FieldStore, id_number: &str, at: i64) -> R<String> {
    let party = store.register_party(NewParty {
        party_type: PartyType::Person,
        unit: "luan".into(),
        by: "OF-1".into(),
        name: "张三".into(),
        id_number: id_number.into(),
        id_document: None,
        phone: None,
        address: None,
    })?;
    Ok(store
        .create_case(NewCase {
            unit: "luan".into(),
            occurred_at_ms: at,
            place: place(),
            // A penalty is imposed by two officers (行政处罚法 第四十二条).
            officers: vec!["OF-1".into(), "OF-2".into()],
            recorded_by: "OF-1".into(),
            party_id: Some(party.id),
            violation_code: CODE.into(),
            tier: TIER.into(),
            description: None,
            actions: vec![],
            involves_minor: false,
            privacy_protected: false,
        })?
        .id)
}

/// A simple-procedure fine of `amount` after the order to correct.
fn fine(store: &FieldStore, case_id: &str, amount: i64, at: i64) -> fieldcase_core::Result<bool> {
    store.order_correction(case_id, "OF-1", at, at + 3_600_000, vec!["整改".into()])?;
    let d = store.decide_penalty(
        case_id,
        PenaltyRequest {
            by: "OF-1".into(),
            at_ms: at + 1,
            tier: None,
            amount_yuan: amount,
            reason: None,
            penalty: PenaltyKind::Fine,
            procedure: Procedure::Simple,
            construction_cost_yuan: None,
        },
    )?;
    Ok(d.within_range)
}

/// The scenario on a server over `state` (either backend).
async fn publish_receive_and_judge_by_version(state: AppState, tmp: &Path) -> R {
    let s = state.storage.as_ref();
    admin::create_unit(s, "luan", "Lu'an").await?;
    admin::create_user(s, "OF-1", "One", Role::Officer, "luan").await?;
    admin::create_user(s, "OF-2", "Two", Role::Officer, "luan").await?;
    let code = admin::create_code(s, "OF-1", 1, None, None).await?.code;
    let server = fieldcase_server::start(
        state.clone(),
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let mut cfg = ClientConfig::new(format!("http://{}", server.addr));
    cfg.timeout = std::time::Duration::from_secs(20);
    let client = SyncClient::new(cfg)?;
    let path = tmp.join("phone.db");
    let device_id = {
        let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("unenrolled"))?;
        let key = store.device_public_key()?;
        client.enrol(&store, &code, &key, "phone").await?.device_id
    };
    let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests(device_id))?;
    let server_key = hex::encode(state.signing_key.verifying_key().as_bytes());
    assert_eq!(store.server_signing_key()?, Some(server_key));
    let old_version = store.catalogue().version().to_string();

    // A case recorded before the publication, under the built-in version.
    let old_case = case(&store, "341502199001011239", T0)?;
    let r = client.sync(&store).await?;
    assert_eq!(
        (r.rejected, r.catalogue_received.clone()),
        (0, None),
        "{r:?}"
    );

    // The operator publishes; the running server takes it up.
    let dir = tmp.join("catalogue");
    write_dir(&bumped(NEXT, 100)?, &dir)?;
    let p = catalogue::publish(s, &state.signing_key, &dir, "cn-ah-la").await?;
    assert!(p.newly_published);
    state.catalogues.reload(s, &state.signing_key).await?;
    assert_eq!(state.catalogues.current().version(), NEXT);

    let r = client.sync(&store).await?;
    assert_eq!(r.catalogue_received.as_deref(), Some(NEXT), "{r:?}");
    assert_eq!(r.catalogue_refused, None);
    assert_eq!(store.catalogue().version(), NEXT);
    assert_eq!(
        store.catalogue_versions(),
        vec![old_version.clone(), NEXT.to_string()]
    );
    // Once held, it is not sent again.
    let again = client.sync(&store).await?;
    assert_eq!(again.catalogue_received, None);
    assert!(again.bytes_received < 4096, "{again:?}");

    // A new case records the new version and is judged by the new tier: 50 yuan is below it.
    let new_case = case(&store, "341502199202021230", T0 + 10_000)?;
    assert_eq!(store.case(&new_case)?.violation.catalogue_version, NEXT);
    assert_eq!(
        store.case(&old_case)?.violation.catalogue_version,
        old_version
    );
    match fine(&store, &new_case, 50, T0 + 20_000) {
        Err(CoreError::Refused { code, .. }) => {
            assert_eq!(code, RefusalCode::DecisionInvalid.as_str())
        }
        other => panic!("a fine under the new tier's minimum without a reason: {other:?}"),
    }
    // The old case is still judged under its own version: 50 yuan is within its tier.
    assert!(fine(&store, &old_case, 50, T0 + 30_000)?);
    let new_case = case(&store, "341502199303031235", T0 + 40_000)?;
    assert!(fine(&store, &new_case, 100, T0 + 50_000)?);

    // The server recomputes both decisions, each under its case's version, and keeps them.
    let r = client.sync(&store).await?;
    assert_eq!(r.rejected, 0, "{:?}", r.rejections);
    assert!(r.accepted >= 2, "{r:?}");

    // A restarted phone still holds both versions, the published one in force.
    drop(store);
    let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("DEV"))?;
    assert_eq!(store.catalogue().version(), NEXT);
    assert_eq!(store.catalogue_versions().len(), 2);
    server.shutdown(std::time::Duration::from_secs(5)).await?;

    // A server started again loads the published version and keeps judging old cases.
    let set = catalogue::ServerCatalogues::load(s, &state.signing_key)
        .await?
        .set();
    assert_eq!(set.current().version(), NEXT);
    assert!(set.get(&old_version).is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_phone_receives_a_published_catalogue_and_old_cases_keep_their_version() -> R {
    let tmp = tempfile::tempdir()?;
    let state = AppState::open_dir(&tmp.path().join("server")).await?;
    publish_receive_and_judge_by_version(state, tmp.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_phone_receives_a_published_catalogue_and_old_cases_keep_their_version() -> R {
    let tmp = tempfile::tempdir()?;
    let storage =
        fieldcase_server::storage::postgres::PostgresStorage::connect_fresh(&pg_url()).await?;
    let state = AppState::new(
        Arc::new(storage),
        &fieldcase_server::keys::KeySource::dir(tmp.path().join("keys")),
        tmp.path().join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    publish_receive_and_judge_by_version(state, tmp.path()).await
}

/// A published row altered in the database is not served: the server checks every stored
/// bundle under its own key at load, as phones do.
#[tokio::test]
async fn a_published_catalogue_altered_in_the_database_is_not_used() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("server");
    let state = AppState::open_dir(&data).await?;
    let dir = tmp.path().join("catalogue");
    write_dir(&bumped(NEXT, 100)?, &dir)?;
    catalogue::publish(state.storage.as_ref(), &state.signing_key, &dir, "cn-ah-la").await?;
    let builtin = CatalogueBundle::builtin()?.version;
    drop(state);
    {
        let conn = rusqlite::Connection::open(data.join("server.db"))?;
        conn.execute(
            "UPDATE catalogues
             SET bundle = CAST(replace(bundle, '\"min_yuan\":100', '\"min_yuan\":120') AS BLOB)",
            [],
        )?;
    }
    let state = AppState::open_dir(&data).await?;
    assert_eq!(state.catalogues.current().version(), builtin);
    assert_eq!(state.catalogues.offer().version, builtin);
    assert!(state.catalogues.set().get(NEXT).is_none());
    Ok(())
}

/// A running server picks up a catalogue published by another process (the CLI, or another
/// server host) on a sync request, without a restart; a case recorded under a version the
/// server does not know is refused as `unknown_violation`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_takes_up_a_publication_and_refuses_unknown_versions() -> R {
    let tmp = tempfile::tempdir()?;
    let state = AppState::open_dir(&tmp.path().join("server")).await?;
    state.catalogues.set_refresh_ms(0);
    let s = state.storage.as_ref();
    admin::create_unit(s, "luan", "Lu'an").await?;
    admin::create_user(s, "OF-1", "One", Role::Officer, "luan").await?;
    admin::create_user(s, "OF-2", "Two", Role::Officer, "luan").await?;
    let code = admin::create_code(s, "OF-1", 1, None, None).await?.code;
    let server = fieldcase_server::start(
        state.clone(),
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let client = SyncClient::new(ClientConfig::new(format!("http://{}", server.addr)))?;
    let path = tmp.path().join("phone.db");
    let device_id = {
        let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("unenrolled"))?;
        let key = store.device_public_key()?;
        client.enrol(&store, &code, &key, "phone").await?.device_id
    };
    // A phone whose app carries a catalogue version the server never published.
    let unknown = "2099.9.9";
    let bundle = bumped(unknown, 100)?;
    let mut config = StoreConfig::insecure_plain_for_tests(device_id);
    config.catalogue = Some(fieldcase_core::catalogue::Catalogue::from_bundle(&bundle)?);
    let store = FieldStore::open(&path, config)?;
    let stray = case(&store, "341502199001011239", T0)?;
    assert_eq!(store.case(&stray)?.violation.catalogue_version, unknown);
    let r = client.sync(&store).await?;
    let refused = r
        .rejections
        .iter()
        .find(|x| x.doc_id == stray)
        .ok_or("the case under an unknown version was accepted")?;
    assert_eq!(
        refused.code.as_deref(),
        Some("unknown_violation"),
        "{refused:?}"
    );
    // The server's version is put in force on the phone, so new cases are judged alike.
    let builtin = CatalogueBundle::builtin()?.version;
    assert_eq!(store.catalogue().version(), builtin);

    // As if enrolled with a server too old to send its key: the bundle waits for the key
    // refresh of the same sync, which pins the key.
    store.set_meta(fieldcase_core::sync::client::META_SERVER_SIGNING_KEY, b"")?;
    // Published by another process: no reload is called here.
    let dir = tmp.path().join("catalogue");
    write_dir(&bumped(NEXT, 100)?, &dir)?;
    catalogue::publish(s, &state.signing_key, &dir, "cn-ah-la").await?;
    let r = client.sync(&store).await?;
    assert_eq!(r.catalogue_received.as_deref(), Some(NEXT), "{r:?}");
    assert_eq!(r.catalogue_refused, None);
    assert_eq!(
        store.server_signing_key()?,
        Some(hex::encode(state.signing_key.verifying_key().as_bytes()))
    );
    assert_eq!(state.catalogues.current().version(), NEXT);
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(())
}

/// Runs `fieldcase-server admin --data DATA --json ARGS`; returns (success, stdout, stderr).
fn cli(data: &Path, args: &[&str]) -> R<(bool, String, String)> {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .arg("--json")
        .args(args)
        .env_remove("FIELDCASE_DATABASE_URL")
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8(out.stdout)?,
        String::from_utf8(out.stderr)?,
    ))
}

#[test]
fn admin_catalogue_check_publish_and_list() -> R {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let path = |p: &Path| p.to_str().map(str::to_string).ok_or("path");
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/catalogue");
    let builtin = CatalogueBundle::builtin()?.version;

    // The shipped folder is valid.
    let (ok, out, _) = cli(&data, &["catalogue", "check", &path(&schemas)?])?;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out)?["version"],
        json!(builtin)
    );

    // An invalid one: every problem listed, non-zero exit, nothing stored.
    let mut bad = bumped("2099.2.1", 5000)?;
    if let Some(ex) = bad.files.get_mut("profiles/cn-ah-la/exemption-list.json") {
        ex["catalogue_version"] = json!("1999.1.1");
    }
    let bad_dir = tmp.path().join("bad");
    write_dir(&bad, &bad_dir)?;
    let (ok, _, err) = cli(&data, &["catalogue", "check", &path(&bad_dir)?])?;
    assert!(!ok);
    assert!(err.contains("is not the bundle's"), "{err}");
    assert!(err.contains("CG-ST-001"), "{err}");
    assert!(
        err.lines().count() >= 3,
        "each problem on its own line: {err}"
    );
    let (ok, _, err) = cli(&data, &["catalogue", "publish", &path(&bad_dir)?])?;
    assert!(!ok, "{err}");
    let (ok, out, _) = cli(&data, &["catalogue", "list"])?;
    assert!(ok);
    let list: Value = serde_json::from_str(&out)?;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["source"], json!("built-in"));
    assert_eq!(list[0]["current"], json!(true));

    // The built-in version itself, or anything not newer, is refused.
    let (ok, _, err) = cli(&data, &["catalogue", "publish", &path(&schemas)?])?;
    assert!(!ok && err.contains("not newer"), "{err}");

    // A valid newer one is published, in force, audited; again is harmless.
    let good = tmp.path().join("good");
    write_dir(&bumped(NEXT, 100)?, &good)?;
    let (ok, out, err) = cli(&data, &["catalogue", "publish", &path(&good)?])?;
    assert!(ok, "{err}");
    let p: Value = serde_json::from_str(&out)?;
    assert_eq!(
        (p["version"].clone(), p["newly_published"].clone()),
        (json!(NEXT), json!(true))
    );
    let (ok, out, _) = cli(&data, &["catalogue", "publish", &path(&good)?])?;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out)?["newly_published"],
        json!(false)
    );
    // The same version with other content is refused.
    let other = tmp.path().join("other");
    write_dir(&bumped(NEXT, 150)?, &other)?;
    let (ok, _, err) = cli(&data, &["catalogue", "publish", &path(&other)?])?;
    assert!(!ok && err.contains("other content"), "{err}");

    let (_, out, _) = cli(&data, &["catalogue", "list"])?;
    let list: Value = serde_json::from_str(&out)?;
    let rows: Vec<(Value, Value)> = list
        .as_array()
        .ok_or("not a list")?
        .iter()
        .map(|r| (r["version"].clone(), r["current"].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![(json!(builtin), json!(false)), (json!(NEXT), json!(true))]
    );
    let verify = cli(&data, &["audit", "verify"])?;
    assert!(verify.0, "{}", verify.2);
    let storage = fieldcase_server::storage::sqlite::SqliteStorage::open(data.join("server.db"))?;
    let rt = tokio::runtime::Runtime::new()?;
    let entries = rt.block_on(storage.audit_entries())?;
    assert!(
        entries
            .iter()
            .any(|e| e.event.action == "catalogue_publish" && e.event.detail.contains(NEXT))
    );
    Ok(())
}
