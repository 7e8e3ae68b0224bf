//! Real messages, captured from a live server and the real client, validate against the
//! schemas `GET /openapi.json` gives for their route and status: the generated description
//! says what the server really sends and takes.

use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use serde_json::{Value, json};

/// The served document and what to check against it.
struct Described {
    doc: Value,
}

impl Described {
    /// Validates `v` against `schema` (a schema of the document, `$ref`s into its components).
    fn validate(&self, what: &str, schema: &Value, v: &Value) -> TestResult {
        assert!(schema.is_object(), "{what}: no schema in the document");
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.doc["components"],
        });
        let validator = jsonschema::draft202012::new(&root).map_err(|e| e.to_string())?;
        let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {errors:?}\n{v}");
        Ok(())
    }

    fn op(&self, method: &str, path: &str) -> &Value {
        &self.doc["paths"][path][method]
    }

    /// `v` as the JSON request body of `method path`.
    fn request(&self, method: &str, path: &str, v: &Value) -> TestResult {
        let schema = &self.op(method, path)["requestBody"]["content"]["application/json"]["schema"];
        self.validate(&format!("{method} {path} request"), schema, v)
    }

    /// `v` as the JSON reply of `method path` with `status`.
    fn reply(&self, method: &str, path: &str, status: u16, v: &Value) -> TestResult {
        let schema = &self.op(method, path)["responses"][status.to_string()]["content"]["application/json"]
            ["schema"];
        self.validate(&format!("{method} {path} {status}"), schema, v)
    }
}

/// Sends `req` and returns the status and the JSON body.
async fn call(req: reqwest::RequestBuilder) -> TestResult<(u16, Value)> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_messages_match_the_served_openapi_schemas() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let http = fieldcase_tests::harness::raw_http()?;
    let url = s.url();
    let d = Described {
        doc: http
            .get(format!("{url}/openapi.json"))
            .send()
            .await?
            .json()
            .await?,
    };
    assert_eq!(d.doc["openapi"], "3.1.0");

    // Enrolment, by hand so the raw bodies are seen; a second use of the code is refused.
    let code = s
        .user_code("OF-9", Role::Officer, "luan/jinan/squad-1")
        .await?;
    let enrol =
        json!({"code": code, "device_public_key": "cd".repeat(32), "device_label": "bench"});
    d.request("post", "/v1/enrol", &enrol)?;
    let (st, resp) = call(http.post(format!("{url}/v1/enrol")).json(&enrol)).await?;
    d.reply("post", "/v1/enrol", st, &resp)?;
    assert_eq!(st, 200);
    let (st, err) = call(http.post(format!("{url}/v1/enrol")).json(&enrol)).await?;
    assert_eq!(st, 403);
    d.reply("post", "/v1/enrol", st, &err)?;
    let (st, err) = call(http.post(format!("{url}/v1/enrol")).body("not json")).await?;
    assert_eq!(st, 400);
    d.reply("post", "/v1/enrol", st, &err)?;

    // A sync session with pushes, wants and a feed, from the real state machine.
    let a = Phone::enrol(
        &s,
        &url,
        dir.path(),
        "OF-A",
        Role::Officer,
        "luan/jinan/squad-1",
    )
    .await?;
    let b = Phone::enrol(
        &s,
        &url,
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
    let mut rounds = 0;
    while let Some(req) = session.next_request(&b.store)? {
        let req_json = serde_json::to_value(&req)?;
        d.request("post", "/v1/sync", &req_json)?;
        let (st, resp) = call(
            http.post(format!("{url}/v1/sync"))
                .bearer_auth(&cred)
                .json(&req_json),
        )
        .await?;
        d.reply("post", "/v1/sync", st, &resp)?;
        session.apply_response(&b.store, serde_json::from_value(resp)?)?;
        rounds += 1;
    }
    assert!(rounds >= 2, "push round and want round");

    // The signed catalogue in a reply.
    let req = json!({
        "protocol": 1, "device_id": b.device_id, "request_id": "catalogue", "cursor": 0,
        "catalogue_version": "2000.1.1", "catalogue_versions": ["2000.1.1"],
    });
    d.request("post", "/v1/sync", &req)?;
    let (st, resp) = call(
        http.post(format!("{url}/v1/sync"))
            .bearer_auth(&cred)
            .json(&req),
    )
    .await?;
    assert!(resp["catalogue"]["bundle"].is_string(), "{st}");
    d.reply("post", "/v1/sync", st, &resp)?;
    // Malformed and unsupported bodies.
    let (st, err) = call(
        http.post(format!("{url}/v1/sync"))
            .bearer_auth(&cred)
            .body("{\"protocol\":"),
    )
    .await?;
    assert_eq!(st, 400);
    d.reply("post", "/v1/sync", st, &err)?;
    let (st, err) = call(
        http.post(format!("{url}/v1/sync"))
            .bearer_auth(&cred)
            .header("content-type", "text/plain")
            .body("x"),
    )
    .await?;
    assert_eq!(st, 415);
    d.reply("post", "/v1/sync", st, &err)?;

    // Blobs, keys, supervision and public routes.
    let blob = format!("{url}/v1/blobs/{}", "0".repeat(64));
    let (st, v) = call(http.get(format!("{blob}/status")).bearer_auth(&cred)).await?;
    d.reply("get", "/v1/blobs/{sha256}/status", st, &v)?;
    let (st, v) = call(
        http.get(format!("{url}/v1/blobs/xyz/status"))
            .bearer_auth(&cred),
    )
    .await?;
    assert_eq!(st, 400);
    d.reply("get", "/v1/blobs/{sha256}/status", st, &v)?;
    let (st, v) = call(http.get(&blob).bearer_auth(&cred)).await?;
    assert_eq!(st, 404);
    d.reply("get", "/v1/blobs/{sha256}", st, &v)?;
    let (st, v) = call(
        http.put(format!("{blob}?offset=0&total=1"))
            .bearer_auth(&cred)
            .body("x"),
    )
    .await?;
    assert_eq!(st, 403, "no record refers to it");
    d.reply("put", "/v1/blobs/{sha256}", st, &v)?;
    let (st, v) = call(http.get(format!("{url}/v1/device-keys")).bearer_auth(&cred)).await?;
    d.reply("get", "/v1/device-keys", st, &v)?;
    for path in ["/v1/stats", "/v1/reviews/queue", "/v1/follow-ups"] {
        let (st, v) = call(http.get(format!("{url}{path}")).bearer_auth(&cred)).await?;
        assert_eq!(st, 200, "{path}: {v}");
        d.reply("get", path, st, &v)?;
        let (st, v) = call(
            http.get(format!("{url}{path}?unit=luan"))
                .bearer_auth(&cred),
        )
        .await?;
        assert_eq!(st, 403, "{path}: {v}");
        d.reply("get", path, st, &v)?;
        let (st, v) = call(http.get(format!("{url}{path}?bogus=1")).bearer_auth(&cred)).await?;
        assert_eq!(st, 400, "{path}: {v}");
        d.reply("get", path, st, &v)?;
    }
    let review = json!({"case_id": "x", "decision_id": "y", "outcome": "approved", "opinion": "ok",
        "checklist": {"subject": {"passed": true}, "facts": {"passed": true}, "evidence": {"passed": true},
        "basis": {"passed": true}, "discretion": {"passed": true}, "procedure": {"passed": true}}});
    d.request("post", "/v1/reviews", &review)?;
    let (st, v) = call(
        http.post(format!("{url}/v1/reviews"))
            .bearer_auth(&cred)
            .json(&review),
    )
    .await?;
    assert_eq!(st, 403, "an officer does not review: {v}");
    d.reply("post", "/v1/reviews", st, &v)?;
    let (st, v) = call(http.get(format!("{url}/v1/disclosure?page=1&per_page=5"))).await?;
    d.reply("get", "/v1/disclosure", st, &v)?;
    let (st, v) = call(http.get(format!("{url}/readyz"))).await?;
    d.reply("get", "/readyz", st, &v)?;

    // A revoked device is told to erase its data.
    fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &b.device_id,
        WipeScope::SyncedOnly,
    )
    .await?;
    let (st, v) = call(http.get(format!("{url}/v1/device-keys")).bearer_auth(&cred)).await?;
    assert_eq!((st, &v["wipe_mode"]), (401, &json!("synced_only")));
    d.reply("get", "/v1/device-keys", st, &v)?;
    Ok(())
}
