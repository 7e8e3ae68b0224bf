//! Server routes through the router, without a socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::storage::Role;
use fieldcase_server::{AppState, admin, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

type R = Result<(), Box<dyn std::error::Error>>;

async fn state() -> Result<(tempfile::TempDir, AppState), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let state = AppState::open_dir(dir.path()).await?;
    Ok((dir, state))
}

async fn call(
    state: &AppState,
    req: Request<Body>,
) -> Result<(StatusCode, Vec<u8>), Box<dyn std::error::Error>> {
    let resp = router(state.clone()).oneshot(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

#[tokio::test]
async fn health_metrics_and_openapi_cover_every_route() -> R {
    let (_d, s) = state().await?;
    let (st, body) = call(&s, Request::get("/healthz").body(Body::empty())?).await?;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, b"ok".as_slice()));
    let (st, body) = call(&s, Request::get("/metrics").body(Body::empty())?).await?;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(body)?;
    assert!(text.contains("fieldcase_sync_requests_total 0"));
    assert!(text.contains("fieldcase_documents 0"));
    let (st, body) = call(&s, Request::get("/openapi.json").body(Body::empty())?).await?;
    assert_eq!(st, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body)?;
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, _) in fieldcase_server::ops::ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
        // Every listed route exists in the router: it answers something other than 404/405.
        let concrete = path.replace("{sha256}", &"a".repeat(64));
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&concrete)
            .body(Body::empty())?;
        let (st, _) = call(&s, req).await?;
        assert!(
            st != StatusCode::NOT_FOUND && st != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} -> {st}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn readiness_follows_draining_and_metrics_carry_latency_by_route_template() -> R {
    let (_d, s) = state().await?;
    let (st, body) = call(&s, Request::get("/readyz").body(Body::empty())?).await?;
    assert_eq!(st, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(
        (v["ready"].as_bool(), v["database"].as_str()),
        (Some(true), Some("ok"))
    );
    // A case page and an evidence file by id: the histogram names the template only.
    let id = "0190f1a2-0000-7000-8000-00000000abcd";
    let (st, _) = call(
        &s,
        Request::get(format!("/dashboard/case/{id}?token=secret-token")).body(Body::empty())?,
    )
    .await?;
    assert_ne!(st, StatusCode::NOT_FOUND);
    call(&s, Request::get("/no/such/route").body(Body::empty())?).await?;
    let (_, body) = call(&s, Request::get("/metrics").body(Body::empty())?).await?;
    let text = String::from_utf8(body)?;
    assert!(
        text.contains("fieldcase_http_request_duration_seconds_count{route=\"/readyz\",method=\"GET\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("route=\"/dashboard/case/{id}\""), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(!text.contains(id) && !text.contains("secret-token"));
    // A sync request records its stages.
    let req = Request::post("/v1/sync")
        .header("authorization", "Bearer nope")
        .body(Body::from("{}"))?;
    call(&s, req).await?;
    // Stopping: the balancer is told before connections close.
    s.draining.store(true, std::sync::atomic::Ordering::SeqCst);
    let (st, body) = call(&s, Request::get("/readyz").body(Body::empty())?).await?;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(v["stopping"], true);
    // Liveness is unaffected: the process is healthy, just leaving.
    let (st, _) = call(&s, Request::get("/healthz").body(Body::empty())?).await?;
    assert_eq!(st, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn limits_from_the_settings_are_enforced() -> R {
    let (_d, s) = state().await?;
    let limits = fieldcase_server::config::Limits {
        max_body_bytes: 64 * 1024,
        ..Default::default()
    };
    let s = s.with_settings(limits, &fieldcase_server::config::RateLimits::default());
    // Over the body limit: 413 before any parsing.
    let big = vec![b'x'; 65 * 1024];
    let req = Request::post("/v1/enrol")
        .header("content-type", "application/json")
        .body(Body::from(big))?;
    let (st, _) = call(&s, req).await?;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    Ok(())
}

#[tokio::test]
async fn errors_are_json_and_do_not_leak() -> R {
    let (_d, s) = state().await?;
    let req = Request::post("/v1/sync")
        .header("authorization", "Bearer nope")
        .body(Body::from("{}"))?;
    let (st, body) = call(&s, req).await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(v["error"], "unauthorized");
    assert!(v.get("wipe").is_none());

    let req = Request::post("/v1/enrol").body(Body::from(
        json!({"code": "AAAA-BBBB-CCCC", "device_public_key": "ab".repeat(32), "device_label": "x"})
            .to_string(),
    ))?;
    let (st, body) = call(&s, req).await?;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(v["error"], "invalid_code");

    let req = Request::post("/v1/enrol").body(Body::from("not json"))?;
    let (st, _) = call(&s, req).await?;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn enrolment_is_one_time_and_revocation_asks_for_wipe() -> R {
    let (_d, s) = state().await?;
    let st = s.storage.as_ref();
    admin::create_unit(st, "luan", "Lu'an").await?;
    admin::create_user(st, "OF-1", "Officer", Role::Officer, "luan").await?;
    let code = admin::create_code(st, "OF-1", 1, None, None).await?.code;
    let body = json!({"code": code, "device_public_key": "ab".repeat(32), "device_label": "p"})
        .to_string();
    let (status, resp) = call(
        &s,
        Request::post("/v1/enrol").body(Body::from(body.clone()))?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&resp)?;
    let cred = v["credential"].as_str().ok_or("credential")?.to_string();
    let device = v["device_id"].as_str().ok_or("device")?.to_string();
    assert_eq!(v["party_match_key"].as_str().map(str::len), Some(64));
    let (again, _) = call(&s, Request::post("/v1/enrol").body(Body::from(body))?).await?;
    assert_eq!(again, StatusCode::FORBIDDEN);

    let sync_body =
        json!({"protocol": 1, "device_id": device, "request_id": "r1", "cursor": 0}).to_string();
    let req = |b: String| {
        Request::post("/v1/sync")
            .header("authorization", format!("Bearer {cred}"))
            .body(Body::from(b))
    };
    let (st1, _) = call(&s, req(sync_body.clone())?).await?;
    assert_eq!(st1, StatusCode::OK);
    admin::revoke_device(st, &s.signing_key, &device, WipeScope::SyncedOnly).await?;
    let (st2, body) = call(&s, req(sync_body.clone())?).await?;
    assert_eq!(st2, StatusCode::UNAUTHORIZED);
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(v["wipe"], true);
    assert_eq!(v["wipe_mode"], "synced_only");
    // The operator changes their mind before the phone calls in again.
    admin::revoke_device(st, &s.signing_key, &device, WipeScope::All).await?;
    let (_, body) = call(&s, req(sync_body)?).await?;
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!((&v["wipe"], &v["wipe_mode"]), (&json!(true), &json!("all")));
    Ok(())
}
