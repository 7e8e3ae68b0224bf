//! Dashboard sessions over a real server on loopback: a cookie-authenticated request must
//! come from the server's own pages (same-origin `Origin` or `Referer`), bearer requests are
//! unaffected, and revoking a user or one of their devices ends their sessions.

use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::storage::Role;
use fieldcase_server::supervision::routes::issue_login_link;
use fieldcase_server::{AppState, Listen, RunningServer, admin};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    server: RunningServer,
    http: reqwest::Client,
}

impl Fixture {
    async fn start() -> R<Fixture> {
        let dir = tempfile::tempdir()?;
        let state = AppState::open_dir(&dir.path().join("data")).await?;
        let s = state.storage.as_ref();
        admin::create_unit(s, "luan", "六安").await?;
        admin::create_user(s, "RV-1", "Reviewer", Role::Reviewer, "luan").await?;
        admin::create_user(s, "SV-1", "Supervisor", Role::Supervisor, "luan").await?;
        let server = fieldcase_server::start(
            state.clone(),
            Listen {
                addr: ([127, 0, 0, 1], 0).into(),
                tls: None,
                allow_insecure_http: false,
            },
        )
        .await?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Fixture {
            _dir: dir,
            state,
            server,
            http,
        })
    }

    fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// A dashboard session cookie (`name=value`) of `user`.
    async fn login(&self, user: &str) -> R<String> {
        let link = issue_login_link(self.state.storage.as_ref(), user, &self.base(), 5).await?;
        let r = self.http.get(&link.url).send().await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = r
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .ok_or("no cookie")?
            .to_string();
        Ok(cookie)
    }

    /// Enrols a device for `user`; returns (device id, bearer credential).
    async fn enrol(&self, user: &str) -> R<(String, String)> {
        let code = admin::create_code(self.state.storage.as_ref(), user, 1, None, None)
            .await?
            .code;
        let v: Value = self
            .http
            .post(format!("{}/v1/enrol", self.base()))
            .json(&json!({"code": code, "device_public_key": "ab".repeat(32), "device_label": "p"}))
            .send()
            .await?
            .json()
            .await?;
        Ok((
            v["device_id"].as_str().ok_or("device")?.to_string(),
            v["credential"].as_str().ok_or("credential")?.to_string(),
        ))
    }

    async fn dashboard(&self, cookie: &str) -> R<StatusCode> {
        Ok(self
            .http
            .get(format!("{}/dashboard", self.base()))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await?
            .status())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_need_a_same_origin_origin_or_referer() -> R {
    let f = Fixture::start().await?;
    let cookie = f.login("RV-1").await?;
    let base = f.base();
    let review = format!("{base}/v1/reviews");
    let post = |headers: &[(&str, String)]| {
        let mut rb = f
            .http
            .post(&review)
            .header(reqwest::header::COOKIE, &cookie)
            .body("{}");
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        rb.send()
    };
    // Without Origin or Referer, from another site, from an opaque origin: refused before
    // the body is even read.
    for headers in [
        vec![],
        vec![("origin", "http://evil.example".to_string())],
        vec![("origin", "null".to_string())],
        vec![("referer", "http://evil.example/page".to_string())],
        vec![(
            "origin",
            format!("http://{}.evil.example", f.server.addr.ip()),
        )],
        vec![("origin", format!("https://evil.example@{}", f.server.addr))],
    ] {
        let r = post(&headers).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(r.text().await?.contains("same-origin"));
    }
    // From the server's own pages: through to the body check (an empty request).
    for headers in [
        vec![("origin", base.clone())],
        vec![("referer", format!("{base}/dashboard"))],
    ] {
        let r = post(&headers).await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{headers:?}");
    }
    // A cookie-authenticated read of the API from elsewhere is refused too.
    let stats = format!("{base}/v1/stats");
    let r = f
        .http
        .get(&stats)
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = f
        .http
        .get(&stats)
        .header(reqwest::header::COOKIE, &cookie)
        .header(reqwest::header::REFERER, format!("{base}/dashboard"))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    // Opening the dashboard itself needs no Origin (typed, or from the login redirect).
    assert_eq!(f.dashboard(&cookie).await?, StatusCode::OK);

    // Bearer-authenticated requests carry no ambient credential: unaffected.
    let (_, credential) = f.enrol("RV-1").await?;
    let r = f
        .http
        .post(&review)
        .bearer_auth(&credential)
        .body("{}")
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Logout from another site is refused and the session stays.
    let logout = format!("{base}/logout");
    let r = f
        .http
        .post(&logout)
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(f.dashboard(&cookie).await?, StatusCode::OK);
    let r = f
        .http
        .post(&logout)
        .header(reqwest::header::COOKIE, &cookie)
        .header(reqwest::header::ORIGIN, &base)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(f.dashboard(&cookie).await?, StatusCode::UNAUTHORIZED);
    f.server.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_device_or_its_user_ends_their_dashboard_sessions() -> R {
    let f = Fixture::start().await?;
    let key = f.state.signing_key.clone();
    let s = f.state.storage.as_ref();

    // A reviewer with a phone and a dashboard session; the phone is lost and revoked.
    let (device, _) = f.enrol("RV-1").await?;
    let reviewer = f.login("RV-1").await?;
    let supervisor = f.login("SV-1").await?;
    let unused = issue_login_link(s, "RV-1", &f.base(), 5).await?;
    assert_eq!(f.dashboard(&reviewer).await?, StatusCode::OK);
    admin::revoke_device(s, &key, &device, WipeScope::All).await?;
    assert_eq!(f.dashboard(&reviewer).await?, StatusCode::UNAUTHORIZED);
    // A login link issued before the revocation is void too.
    let r = f.http.get(&unused.url).send().await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Other users keep theirs.
    assert_eq!(f.dashboard(&supervisor).await?, StatusCode::OK);

    // Revoking a user (no phone at all) ends their sessions.
    let revoked = admin::revoke_user(s, &key, "SV-1", WipeScope::All).await?;
    assert_eq!(revoked.sessions_ended, 1);
    assert_eq!(f.dashboard(&supervisor).await?, StatusCode::UNAUTHORIZED);
    let audit = s.audit_entries().await?;
    assert!(
        audit
            .iter()
            .any(|e| e.event.action == "revoke" && e.event.detail.starts_with("user SV-1"))
    );
    f.server.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

/// Key distribution as `docs/security.md` states it: the PII key to the roles that read party
/// documents (officer, reviewer, supervisor), never to volunteers or operators; the
/// party-match key to the same roles (those that record or read parties) and to no one else;
/// both equal to the server's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_hands_out_exactly_the_keys_the_security_model_lists() -> R {
    let f = Fixture::start().await?;
    let s = f.state.storage.as_ref();
    let roles = [
        ("OF-9", Role::Officer, true),
        ("VO-9", Role::Volunteer, false),
        ("RV-9", Role::Reviewer, true),
        ("SV-9", Role::Supervisor, true),
        ("OP-9", Role::Operator, false),
    ];
    for (id, role, gets_pii) in roles {
        admin::create_user(s, id, id, role, "luan").await?;
        let code = admin::create_code(s, id, 1, None, None).await?.code;
        let v: Value = f
            .http
            .post(format!("{}/v1/enrol", f.base()))
            .json(&json!({"code": code, "device_public_key": "cd".repeat(32), "device_label": id}))
            .send()
            .await?
            .json()
            .await?;
        let party_key = hex::encode(f.state.party_key);
        assert_eq!(
            v["party_match_key"].as_str(),
            gets_pii.then_some(party_key.as_str()),
            "{id}: the party-match key goes exactly to the roles that handle parties"
        );
        match v["pii_key"].as_str() {
            Some(k) => {
                assert!(gets_pii, "{id} must not get the PII key");
                assert_eq!(k, hex::encode(f.state.pii_key), "{id}");
            }
            None => assert!(!gets_pii, "{id} should get the PII key"),
        }
    }
    f.server.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}
