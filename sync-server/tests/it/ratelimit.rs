//! Request budgets over real HTTP on loopback: enrolment attempts per address, requests per
//! device; a refused request is a 429 with `Retry-After`, and another device is unaffected.

use fieldcase_core::CoreError;
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::ratelimit::{Budget, RateLimiter};
use fieldcase_server::storage::Role;
use fieldcase_server::{AppState, Listen, admin};
use std::sync::Arc;

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn client(addr: std::net::SocketAddr) -> R<SyncClient> {
    let mut cfg = ClientConfig::new(format!("http://{addr}"));
    cfg.attempts = 1;
    Ok(SyncClient::new(cfg)?)
}

/// One HTTP/1.1 request over a plain socket; returns the whole reply as text.
async fn raw_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> R<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sock.read_to_end(&mut out),
    )
    .await??;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_guesses_and_chatty_devices_are_throttled() -> R {
    let tmp = tempfile::tempdir()?;
    let mut state = AppState::open_dir(&tmp.path().join("server")).await?;
    state.enrol_rate = Arc::new(RateLimiter::new(Budget {
        burst: 3.0,
        per_second: 0.001,
    }));
    state.device_rate = Arc::new(RateLimiter::new(Budget {
        burst: 4.0,
        per_second: 0.001,
    }));
    state.public_rate = Arc::new(RateLimiter::new(Budget {
        burst: 2.0,
        per_second: 0.001,
    }));
    let storage = state.storage.clone();
    admin::create_unit(storage.as_ref(), "luan", "Lu'an").await?;
    for id in ["OF-1", "OF-2"] {
        admin::create_user(storage.as_ref(), id, id, Role::Officer, "luan").await?;
    }
    let server = fieldcase_server::start(
        state,
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let c = client(server.addr)?;

    // Wrong codes use up the address's budget; then even a right code waits.
    let guesser = FieldStore::open(
        tmp.path().join("guess.db"),
        StoreConfig::insecure_plain_for_tests("g"),
    )?;
    for _ in 0..3 {
        match c
            .enrol(&guesser, "AAAA-BBBB-CCCC", &"ab".repeat(32), "x")
            .await
        {
            Err(CoreError::Server { status: 403, .. }) => {}
            other => return Err(format!("expected 403, got {other:?}").into()),
        }
    }
    let code = admin::create_code(storage.as_ref(), "OF-1", 1, None, None).await?;
    match c.enrol(&guesser, &code.code, &"ab".repeat(32), "x").await {
        Err(CoreError::Server {
            status: 429, code, ..
        }) => assert_eq!(code, "rate_limited"),
        other => return Err(format!("expected 429, got {other:?}").into()),
    }
    // The public disclosure page has its own budget per address.
    for _ in 0..2 {
        let page = raw_request(server.addr, "GET", "/disclosure", "").await?;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    }
    let page = raw_request(server.addr, "GET", "/disclosure", "").await?;
    assert!(page.starts_with("HTTP/1.1 429"), "{page}");

    // The raw reply carries the status and Retry-After.
    let raw = raw_request(server.addr, "POST", "/v1/enrol", "{}").await?;
    assert!(raw.starts_with("HTTP/1.1 429"), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains("\r\nretry-after: "),
        "{raw}"
    );
    server.kill().await?;

    // A fresh server process (fresh budgets) on the same data: one device exhausts its own
    // budget; the other device is served.
    let mut state = AppState::open_dir(&tmp.path().join("server")).await?;
    state.device_rate = Arc::new(RateLimiter::new(Budget {
        burst: 4.0,
        per_second: 0.001,
    }));
    let server = fieldcase_server::start(
        state,
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let c = client(server.addr)?;
    let mut stores = Vec::new();
    for (i, user) in ["OF-1", "OF-2"].into_iter().enumerate() {
        let code = admin::create_code(storage.as_ref(), user, 1, None, None).await?;
        let path = tmp.path().join(format!("phone-{i}.db"));
        let id = {
            let s = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("new"))?;
            c.enrol(&s, &code.code, &format!("{:02x}", i + 1).repeat(32), "p")
                .await?
                .device_id
        };
        stores.push(FieldStore::open(
            &path,
            StoreConfig::insecure_plain_for_tests(id),
        )?);
    }
    let mut throttled = false;
    for _ in 0..10 {
        match c.blob_status(&stores[0], &"0".repeat(64)).await {
            Ok(_) | Err(CoreError::Server { status: 404, .. }) => {}
            Err(CoreError::Server { status: 429, .. }) => {
                throttled = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    assert!(throttled, "the first device was never throttled");
    c.blob_status(&stores[1], &"0".repeat(64))
        .await
        .map(|_| ())
        .or_else(|e| match e {
            CoreError::Server { status: 404, .. } => Ok(()),
            e => Err(e),
        })?;
    server.kill().await?;
    Ok(())
}

/// Starts a server over `state` on loopback.
async fn serve(state: AppState) -> R<fieldcase_server::RunningServer> {
    Ok(fieldcase_server::start(
        state,
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies_and_bad_credentials_are_budgeted() -> R
{
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir()?;
    let base = AppState::open_dir(&tmp.path().join("server")).await?;
    let tight = |burst: f64| {
        Arc::new(RateLimiter::new(Budget {
            burst,
            per_second: 0.001,
        }))
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let enrol_body = serde_json::json!({
        "code": "AAAA-BBBB-CCCC", "device_public_key": "ab".repeat(32), "device_label": "p"
    })
    .to_string();
    let enrol = |addr: std::net::SocketAddr, xff: &str| {
        http.post(format!("http://{addr}/v1/enrol"))
            .header("x-forwarded-for", xff)
            .header("content-type", "application/json")
            .body(enrol_body.clone())
            .send()
    };

    // No trusted proxy: X-Forwarded-For is ignored, so varying it does not buy attempts.
    let mut direct = base.clone();
    direct.enrol_rate = tight(2.0);
    let server = serve(direct).await?;
    for (i, xff) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .iter()
        .enumerate()
    {
        let status = enrol(server.addr, xff).await?.status();
        assert_eq!(status == 429, i == 2, "attempt {i}: {status}");
    }
    server.shutdown(std::time::Duration::from_secs(5)).await?;

    // Behind a trusted proxy (here: loopback), each forwarded client has its own budget, and
    // what a client prepends to the header does not choose it.
    let mut proxied = base.clone();
    proxied.enrol_rate = tight(2.0);
    proxied.bad_credential_rate = tight(3.0);
    proxied.trusted_proxies = Arc::new(fieldcase_server::ratelimit::TrustedProxies::parse(&[
        "127.0.0.0/8".into(),
    ])?);
    let server = serve(proxied).await?;
    let a = "203.0.113.1";
    for _ in 0..2 {
        assert_ne!(enrol(server.addr, a).await?.status(), 429);
    }
    assert_eq!(enrol(server.addr, a).await?.status(), 429);
    assert_eq!(
        enrol(server.addr, &format!("192.0.2.77, {a}"))
            .await?
            .status(),
        429,
        "a spoofed left-most hop is not the client"
    );
    assert_ne!(enrol(server.addr, "203.0.113.2").await?.status(), 429);

    // Unknown bearer credentials count against the client address: 401 until its budget is
    // spent, then 429, while another address still gets its 401.
    let keys = |xff: &str| {
        http.get(format!("http://{}/v1/device-keys", server.addr))
            .header("x-forwarded-for", xff)
            .bearer_auth("not-a-credential")
            .send()
    };
    for _ in 0..3 {
        assert_eq!(keys(a).await?.status(), 401);
    }
    let refused = keys(a).await?;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(keys("203.0.113.9").await?.status(), 401);
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(())
}
