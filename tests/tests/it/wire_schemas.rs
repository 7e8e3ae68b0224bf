//! Real wire messages, captured from a live server and the real client, validate against the
//! JSON Schemas in `schemas/wire/`.

use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use serde_json::Value;
use std::path::PathBuf;

fn schema(name: &str) -> TestResult<jsonschema::Validator> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/wire")
        .join(format!("{name}.schema.json"));
    let v: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    Ok(jsonschema::draft202012::new(&v).map_err(|e| e.to_string())?)
}

fn check(name: &str, v: &Value) -> TestResult {
    let s = schema(name)?;
    let errors: Vec<String> = s.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{v}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_messages_match_the_schemas() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let http = fieldcase_tests::harness::raw_http()?;

    // Enrolment, by hand so the raw bodies are seen.
    let code = s
        .user_code("OF-9", Role::Officer, "luan/jinan/squad-1")
        .await?;
    let enrol = serde_json::json!({"code": code, "device_public_key": "cd".repeat(32), "device_label": "bench"});
    check("enrol-request", &enrol)?;
    let resp: Value = http
        .post(format!("{}/v1/enrol", s.url()))
        .json(&enrol)
        .send()
        .await?
        .json()
        .await?;
    check("enrol-response", &resp)?;
    let err: Value = http
        .post(format!("{}/v1/enrol", s.url()))
        .json(&enrol)
        .send()
        .await?
        .json()
        .await?;
    check("error", &err)?;

    // A sync session with pushes, wants and a feed, from the real state machine.
    let a = Phone::enrol(
        &s,
        &s.url(),
        dir.path(),
        "OF-A",
        Role::Officer,
        "luan/jinan/squad-1",
    )
    .await?;
    let b = Phone::enrol(
        &s,
        &s.url(),
        dir.path(),
        "OF-B",
        Role::Officer,
        "luan/jinan/squad-1",
    )
    .await?;
    let p = a.party("341502199001011239")?;
    a.case(Some(p), T0)?;
    a.demonstration(T0)?;
    a.sync().await?;
    b.case(None, T0)?;
    let cred = String::from_utf8(b.store.meta("sync_credential")?.ok_or("cred")?)?;
    let mut session = fieldcase_core::sync::SyncSession::new(&b.store, b.device_id.clone())?;
    let mut seen = 0;
    while let Some(req) = session.next_request(&b.store)? {
        let req_json = serde_json::to_value(&req)?;
        check("sync-request", &req_json)?;
        let resp: Value = http
            .post(format!("{}/v1/sync", s.url()))
            .bearer_auth(&cred)
            .json(&req_json)
            .send()
            .await?
            .json()
            .await?;
        check("sync-response", &resp)?;
        session.apply_response(&b.store, serde_json::from_value(resp)?)?;
        seen += 1;
    }
    assert!(seen >= 2, "push round and want round");

    let status: Value = http
        .get(format!("{}/v1/blobs/{}/status", s.url(), "0".repeat(64)))
        .bearer_auth(&cred)
        .send()
        .await?
        .json()
        .await?;
    check("blob-status", &status)?;

    let keys: Value = http
        .get(format!("{}/v1/device-keys", s.url()))
        .bearer_auth(&cred)
        .send()
        .await?
        .json()
        .await?;
    check("device-keys-response", &keys)?;
    let n = keys["keys"].as_array().map_or(0, |k| {
        k.iter()
            .filter(|d| d["device_id"] != "review_service")
            .count()
    });
    assert_eq!(n, 3, "OF-9, OF-A and OF-B share the squad: {keys}");
    assert!(keys["server_signing_key"].is_string(), "{keys}");

    // A phone holding another catalogue version receives the server's, signed.
    let req = serde_json::json!({
        "protocol": 1, "device_id": b.device_id, "request_id": "catalogue", "cursor": 0,
        "catalogue_version": "2000.1.1", "catalogue_versions": ["2000.1.1"],
    });
    check("sync-request", &req)?;
    let resp: Value = http
        .post(format!("{}/v1/sync", s.url()))
        .bearer_auth(&cred)
        .json(&req)
        .send()
        .await?
        .json()
        .await?;
    check("sync-response", &resp)?;
    assert_eq!(
        resp["catalogue"]["version"],
        serde_json::json!(b.store.catalogue().version()),
        "the signed catalogue in force"
    );
    Ok(())
}
