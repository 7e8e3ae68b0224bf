//! The sync body forms against a real server on 127.0.0.1: an older (JSON-only) client, the
//! binary client end to end, and malformed binary bodies refused before anything is written.

use fieldcase_core::sync::client::{META_CREDENTIAL, META_DEVICE_ID};
use fieldcase_core::sync::codec::{self, BodyFormat};
use fieldcase_core::sync::negotiate::{META_WIRE, WireOptions};
use fieldcase_core::sync::wire::{DocPush, ErrorBody, SyncRequest, SyncResponse};
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer, raw_http};

const SQUAD: &str = "luan/jinan/squad-1";

async fn phones(
    s: &TestServer,
    dir: &tempfile::TempDir,
    wire: WireOptions,
) -> TestResult<(Phone, Phone)> {
    let url = s.url();
    let mut a = Phone::enrol(s, &url, dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let mut b = Phone::enrol(s, &url, dir.path(), "OF-B", Role::Officer, SQUAD).await?;
    a.use_wire(&url, wire)?;
    b.use_wire(&url, wire)?;
    Ok((a, b))
}

fn meta(p: &Phone, key: &str) -> TestResult<String> {
    Ok(String::from_utf8(p.store.meta(key)?.unwrap_or_default())?)
}

/// A valid request of `p` pushing its dirty documents' whole bytes.
fn request(p: &Phone) -> TestResult<SyncRequest> {
    let docs = p
        .store
        .dirty_docs(10, &Default::default())?
        .into_iter()
        .map(|d| -> TestResult<DocPush> {
            Ok(DocPush {
                changes: p.store.changes_after(&d.doc_id, &[])?,
                doc_id: d.doc_id,
                kind: d.kind,
                have_heads: d.heads,
                server_heads: vec![],
            })
        })
        .collect::<TestResult<Vec<_>>>()?;
    Ok(SyncRequest {
        protocol: 1,
        device_id: meta(p, META_DEVICE_ID)?,
        request_id: "r".into(),
        cursor: 0,
        docs,
        actor_id: Some(p.store.actor_hex()),
        catalogue_version: None,
        catalogue_versions: vec![],
        catalogue_refused: None,
        roster_digest: None,
    })
}

#[tokio::test]
async fn an_older_json_client_syncs_with_the_new_server() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let (a, b) = phones(&s, &dir, WireOptions::json_only()).await?;
    for i in 0..3 {
        a.case(None, T0 + i)?;
    }
    let r = a.sync().await?;
    assert_eq!((r.accepted, r.complete), (3, true));
    let r = b.sync().await?;
    assert_eq!((r.received, r.complete), (3, true));
    assert_eq!(meta(&a, META_WIRE)?, "", "nothing binary learned");
    // The bytes an older client sends: JSON, no Accept, no Accept-Encoding. The reply is
    // JSON and uncompressed.
    a.case(None, T0 + 9)?;
    let body = serde_json::to_vec(&request(&a)?)?;
    let resp = raw_http()?
        .post(format!("{}/v1/sync", s.url()))
        .bearer_auth(meta(&a, META_CREDENTIAL)?)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers().get("content-type").cloned();
    assert_eq!(ct.as_ref().and_then(|v| v.to_str().ok()), Some(codec::JSON));
    assert!(resp.headers().get("content-encoding").is_none());
    let reply: SyncResponse = serde_json::from_slice(&resp.bytes().await?)?;
    assert_eq!(reply.docs.len(), 1);
    s.server.kill().await?;
    Ok(())
}

#[tokio::test]
async fn the_binary_client_syncs_end_to_end() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let (a, b) = phones(&s, &dir, WireOptions::default()).await?;
    a.sync().await?;
    assert_eq!(
        meta(&a, META_WIRE)?,
        "cbor+gzip",
        "learned from the first reply"
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(a.case(None, T0 + i)?);
    }
    let r = a.sync().await?;
    assert_eq!((r.accepted, r.complete), (20, true));
    let r = b.sync().await?;
    assert_eq!((r.received, r.complete), (20, true));
    assert_eq!(meta(&b, META_WIRE)?, "cbor+gzip");
    for id in &ids {
        assert_eq!(b.store.doc_heads(id)?, a.store.doc_heads(id)?, "{id}");
    }
    // An edit on the second phone travels back in binary too.
    b.store.add_note(&ids[0], "OF-B", T0 + 100, "复查")?;
    let r = b.sync().await?;
    assert_eq!(r.accepted, 1);
    let r = a.sync().await?;
    assert_eq!(r.received, 1);
    assert_eq!(a.store.doc_heads(&ids[0])?, b.store.doc_heads(&ids[0])?);
    s.server.kill().await?;
    Ok(())
}

#[tokio::test]
async fn a_malformed_binary_body_is_a_400_and_nothing_is_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let (a, _b) = phones(&s, &dir, WireOptions::default()).await?;
    a.sync().await?;
    a.case(None, T0)?;
    let good = BodyFormat::Cbor.encode(&request(&a)?)?;
    let mut wrong_type = Vec::new();
    ciborium::into_writer(
        &serde_json::json!({"protocol": "one", "device_id": 1}),
        &mut wrong_type,
    )?;
    let seq = s.state.storage.latest_seq().await?;
    let http = raw_http()?;
    let cred = meta(&a, META_CREDENTIAL)?;
    let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        ("empty", None, vec![]),
        ("not CBOR", None, vec![0xff, 0x00]),
        ("truncated", None, good[..good.len() / 2].to_vec()),
        (
            "huge length",
            None,
            vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        ("deep nesting", None, vec![0x81; 100_000]),
        ("wrong types", None, wrong_type),
        ("trailing bytes", None, [good.clone(), vec![0]].concat()),
        (
            "broken gzip",
            Some("gzip"),
            b"\x1f\x8b\x08\x00garbage".to_vec(),
        ),
    ];
    for (name, encoding, body) in cases {
        let mut req = http
            .post(format!("{}/v1/sync", s.url()))
            .bearer_auth(&cred)
            .header("content-type", codec::CBOR)
            .body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        let resp = req.send().await?;
        assert_eq!(resp.status(), 400, "{name}");
        let err: ErrorBody = serde_json::from_slice(&resp.bytes().await?)?;
        assert_eq!(err.error, "bad_request", "{name}");
        assert!(
            err.message.starts_with("malformed"),
            "{name}: {}",
            err.message
        );
    }
    let resp = http
        .post(format!("{}/v1/sync", s.url()))
        .bearer_auth(&cred)
        .header("content-type", "text/plain")
        .body(good.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), 415);
    // A gzip body that inflates past the body limit.
    let bomb = codec::gzip(&vec![0u8; 17 * 1024 * 1024]);
    let resp = http
        .post(format!("{}/v1/sync", s.url()))
        .bearer_auth(&cred)
        .header("content-type", codec::CBOR)
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await?;
    assert_eq!(resp.status(), 413);
    assert_eq!(s.state.storage.latest_seq().await?, seq, "nothing written");
    // The same request, well formed, is taken.
    let resp = http
        .post(format!("{}/v1/sync", s.url()))
        .bearer_auth(&cred)
        .header("content-type", codec::CBOR)
        .header("accept", codec::CBOR)
        .body(good)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let reply: SyncResponse = BodyFormat::Cbor.decode(&resp.bytes().await?)?;
    assert_eq!(reply.docs.len(), 1);
    assert!(s.state.storage.latest_seq().await? > seq);
    s.server.kill().await?;
    Ok(())
}

/// A server as it was before the binary form, in front of the real one: a sync body is
/// parsed as JSON (anything else is `400`, as the old route did) and forwarded without the
/// phone's `Accept` and `Accept-Encoding`, so the reply is JSON; other routes pass through.
async fn old_server(upstream: String) -> TestResult<std::net::SocketAddr> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    async fn forward(
        axum::extract::State(up): axum::extract::State<String>,
        req: axum::extract::Request,
    ) -> axum::response::Response {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let sync = parts.uri.path() == "/v1/sync";
        if sync && serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
            let body = r#"{"error":"bad_request","message":"sync request: expected value"}"#;
            return (StatusCode::BAD_REQUEST, body).into_response();
        }
        let Ok(http) = raw_http() else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut r = http
            .request(parts.method.clone(), format!("{up}{path}"))
            .body(bytes.to_vec());
        for (k, v) in &parts.headers {
            let negotiation = *k == header::ACCEPT || *k == header::ACCEPT_ENCODING;
            if (sync && negotiation) || *k == header::HOST || *k == header::CONTENT_LENGTH {
                continue;
            }
            r = r.header(k, v);
        }
        let Ok(resp) = r.send().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = resp.status();
        let mut headers = resp.headers().clone();
        headers.remove(header::ACCEPT_ENCODING);
        headers.remove(header::VARY);
        headers.remove(header::CONTENT_LENGTH);
        let body = resp.bytes().await.unwrap_or_default();
        (status, headers, body).into_response()
    }

    let app = axum::Router::new().fallback(forward).with_state(upstream);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

#[tokio::test]
async fn a_current_client_works_with_a_server_that_answers_only_json() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let old = format!("http://{}", old_server(s.url()).await?);
    let (mut a, mut b) = phones(&s, &dir, WireOptions::default()).await?;
    a.use_wire(&old, WireOptions::default())?;
    b.use_wire(&old, WireOptions::default())?;
    for i in 0..3 {
        a.case(None, T0 + i)?;
    }
    let r = tokio::time::timeout(std::time::Duration::from_secs(60), a.sync()).await??;
    assert_eq!((r.accepted, r.complete), (3, true));
    assert_eq!(
        meta(&a, META_WIRE)?,
        "",
        "a JSON reply teaches nothing binary"
    );
    // The server was current once and then rolled back: the phone's first binary request is
    // refused, it sends the same request as JSON and goes on in JSON.
    b.store.set_meta(META_WIRE, b"cbor+gzip")?;
    let r = tokio::time::timeout(std::time::Duration::from_secs(60), b.sync()).await??;
    assert_eq!((r.received, r.complete), (3, true));
    assert_eq!(meta(&b, META_WIRE)?, "");
    s.server.kill().await?;
    Ok(())
}
