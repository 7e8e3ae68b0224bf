//! Certificate pinning over real TLS on loopback: a bureau CA and server certificate made
//! here, the real server serving them on 127.0.0.1, a phone trusting the CA through extra
//! roots and pinned to the leaf key, to the CA key, or to a key the server does not hold.
//! An interception proxy is played by a second CA the phone also trusts: chain validation
//! passes, the pin does not.

use fieldcase_core::sync::client::{META_CREDENTIAL, META_DEVICE_ID, META_PINS, META_SERVER_URL};
use fieldcase_core::sync::{ClientConfig, EnrolLink, SpkiPin, SyncClient};
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use fieldcase_server::storage::Role;
use fieldcase_server::{Listen, RunningServer};
use fieldcase_tests::harness::{TestResult, TestServer};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SQUAD: &str = "luan/jinan/squad-1";

/// A CA and a server certificate for 127.0.0.1 it signed, as PEM files.
struct Pki {
    ca_pem: String,
    /// Pin of the CA key, from the key itself (not from the certificate).
    ca_pin: SpkiPin,
    leaf_cert: PathBuf,
    leaf_key: PathBuf,
    /// Pin of the server key, from the key itself.
    leaf_pin: SpkiPin,
}

impl Pki {
    fn make(dir: &Path, name: &str) -> TestResult<Pki> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key)?;
        let ca_pin = SpkiPin::of_spki(&ca_key.subject_public_key_info());
        let issuer = Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, format!("{name} sync server"));
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
        let leaf_pin = SpkiPin::of_spki(&leaf_key.subject_public_key_info());

        std::fs::create_dir_all(dir)?;
        // The server presents its own certificate only: a CA pin must then match the
        // trust anchor the path ends in.
        let cert_path = dir.join(format!("{name}-cert.pem"));
        let key_path = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert_path, leaf_cert.pem())?;
        std::fs::write(&key_path, leaf_key.serialize_pem())?;
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            ca_pin,
            leaf_cert: cert_path,
            leaf_key: key_path,
            leaf_pin,
        })
    }
}

/// The test server's state served over TLS with `pki`'s certificate on 127.0.0.1.
async fn serve_tls(s: &TestServer, pki: &Pki) -> TestResult<RunningServer> {
    Ok(fieldcase_server::start(
        s.state.clone(),
        Listen {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: Some((pki.leaf_cert.clone(), pki.leaf_key.clone())),
            allow_insecure_http: false,
        },
    )
    .await?)
}

fn url(server: &RunningServer) -> String {
    format!("https://127.0.0.1:{}", server.addr.port())
}

fn store(dir: &Path, name: &str) -> TestResult<FieldStore> {
    Ok(FieldStore::open(
        dir.join(format!("{name}.db")),
        StoreConfig::insecure_plain_for_tests(name),
    )?)
}

/// A config trusting `roots` (PEM) and pinned to `pins`, with one attempt and a short timeout
/// so a refused handshake is reported at once.
fn config(url: &str, roots: &str, pins: &[String]) -> TestResult<ClientConfig> {
    let mut c = ClientConfig::new(url).with_pins(pins)?;
    c.extra_roots_pem = Some(roots.as_bytes().to_vec());
    c.timeout = Duration::from_secs(10);
    Ok(c)
}

fn enrolled(store: &FieldStore) -> TestResult<bool> {
    Ok(store.meta(META_DEVICE_ID)?.is_some() || store.meta(META_CREDENTIAL)?.is_some())
}

async fn enrol_and_sync(s: &TestServer, dir: &Path, pki: &Pki, pin: SpkiPin) -> TestResult {
    let tls = serve_tls(s, pki).await?;
    let code = s.user_code("OF-T", Role::Officer, SQUAD).await?;
    let phone = store(dir, "phone")?;
    let client = SyncClient::new(config(&url(&tls), &pki.ca_pem, &[pin.to_string()])?)?;
    client
        .enrol(&phone, &code, &"ab".repeat(32), "pinned phone")
        .await?;
    // The pins and roots are the store's now: a client made from the store alone syncs.
    assert_eq!(
        phone.meta(META_PINS)?,
        Some(pin.to_string().into_bytes()),
        "pins kept with the enrolment"
    );
    let report = SyncClient::for_store(&phone)?.sync(&phone).await?;
    assert!(report.complete, "{report:?}");
    tls.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinning_the_server_key_lets_enrolment_and_sync_through() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let pki = Pki::make(&dir.path().join("pki"), "bureau")?;
    // The pin the operator's tool reads from the certificate file is the key's own.
    let from_file = SpkiPin::of_pem(std::fs::read(&pki.leaf_cert)?.as_slice())?;
    assert_eq!(from_file, vec![pki.leaf_pin]);
    enrol_and_sync(&s, dir.path(), &pki, pki.leaf_pin).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinning_the_bureau_ca_key_lets_enrolment_and_sync_through() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let pki = Pki::make(&dir.path().join("pki"), "bureau")?;
    assert_eq!(
        SpkiPin::of_pem(pki.ca_pem.as_bytes())?,
        vec![pki.ca_pin],
        "the CA certificate's pin is its key's"
    );
    enrol_and_sync(&s, dir.path(), &pki, pki.ca_pin).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_pinned_is_refused_and_nothing_is_stored() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let bureau = Pki::make(&dir.path().join("pki"), "bureau")?;
    // An interception proxy's CA, installed on the phone like the bureau's.
    let proxy = Pki::make(&dir.path().join("proxy"), "proxy")?;
    let both_roots = format!("{}{}", bureau.ca_pem, proxy.ca_pem);
    let impostor = serve_tls(&s, &proxy).await?;
    let phone = store(dir.path(), "phone")?;

    for pin in [bureau.ca_pin, bureau.leaf_pin] {
        // Unpinned, the phone trusts the proxy: chain validation alone does not protect it.
        let code = s.user_code("OF-P", Role::Officer, SQUAD).await?;
        let unpinned = store(dir.path(), &format!("unpinned-{}", pin == bureau.ca_pin))?;
        SyncClient::new(config(&url(&impostor), &both_roots, &[])?)?
            .enrol(&unpinned, &code, &"cd".repeat(32), "unpinned")
            .await?;
        assert!(enrolled(&unpinned)?);

        let code = s.user_code("OF-P", Role::Officer, SQUAD).await?;
        let client = SyncClient::new(config(&url(&impostor), &both_roots, &[pin.to_string()])?)?;
        let started = std::time::Instant::now();
        let refused = client
            .enrol(&phone, &code, &"ab".repeat(32), "pinned phone")
            .await;
        assert!(
            matches!(refused, Err(CoreError::CertificatePinMismatch)),
            "{refused:?}"
        );
        // Not retried: a refused pin comes back at once, not after the backoff schedule.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(
            !enrolled(&phone)?,
            "a refused handshake stored an enrolment"
        );
        assert_eq!(phone.meta(META_SERVER_URL)?, None);
        assert!(matches!(
            SyncClient::for_store(&phone),
            Err(CoreError::NotEnrolled)
        ));
    }
    // A pin of a key nobody serves: the bureau's own server is refused too.
    let genuine = serve_tls(&s, &bureau).await?;
    let code = s.user_code("OF-P", Role::Officer, SQUAD).await?;
    let elsewhere = SpkiPin::of_spki(&KeyPair::generate()?.subject_public_key_info());
    let refused = SyncClient::new(config(
        &url(&genuine),
        &bureau.ca_pem,
        &[elsewhere.to_string()],
    )?)?
    .enrol(&phone, &code, &"ab".repeat(32), "pinned phone")
    .await;
    assert!(matches!(refused, Err(CoreError::CertificatePinMismatch)));
    assert!(!enrolled(&phone)?);
    genuine.shutdown(Duration::from_secs(2)).await?;
    impostor.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_phone_keeps_its_pins_when_the_server_address_is_taken_over() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let bureau = Pki::make(&dir.path().join("pki"), "bureau")?;
    let proxy = Pki::make(&dir.path().join("proxy"), "proxy")?;
    let both_roots = format!("{}{}", bureau.ca_pem, proxy.ca_pem);
    let genuine = serve_tls(&s, &bureau).await?;
    let code = s.user_code("OF-Q", Role::Officer, SQUAD).await?;
    let phone = store(dir.path(), "phone")?;
    SyncClient::new(config(
        &url(&genuine),
        &both_roots,
        &[bureau.ca_pin.to_string()],
    )?)?
    .enrol(&phone, &code, &"ab".repeat(32), "pinned phone")
    .await?;
    SyncClient::for_store(&phone)?.sync(&phone).await?;
    // The proxy now answers at the address the phone enrolled with.
    let impostor = serve_tls(&s, &proxy).await?;
    phone.set_meta(META_SERVER_URL, url(&impostor).as_bytes())?;
    let refused = SyncClient::for_store(&phone)?.sync(&phone).await;
    assert!(
        matches!(refused, Err(CoreError::CertificatePinMismatch)),
        "{refused:?}"
    );
    // Pins do not replace chain validation: the server key pinned but its CA not trusted.
    let untrusted = SyncClient::new(config(
        &url(&genuine),
        &proxy.ca_pem,
        &[bureau.leaf_pin.to_string()],
    )?)?
    .sync(&phone)
    .await;
    assert!(
        matches!(untrusted, Err(CoreError::Network { .. })),
        "{untrusted:?}"
    );
    genuine.shutdown(Duration::from_secs(2)).await?;
    impostor.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_scanning_a_pinned_enrolment_code_enrols_pinned() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let bureau = Pki::make(&dir.path().join("pki"), "bureau")?;
    let proxy = Pki::make(&dir.path().join("proxy"), "proxy")?;
    let both_roots = format!("{}{}", bureau.ca_pem, proxy.ca_pem);
    let genuine = serve_tls(&s, &bureau).await?;
    s.user_code("OF-S", Role::Officer, SQUAD).await?;
    // The operator prints the pins of the served certificate and puts them in the QR code.
    let pins: Vec<String> = SpkiPin::of_pem(std::fs::read(&bureau.leaf_cert)?.as_slice())?
        .iter()
        .map(ToString::to_string)
        .collect();
    let issued = fieldcase_server::admin::create_pinned_code(
        s.storage(),
        "OF-S",
        1,
        Some(&url(&genuine)),
        &pins,
        Some(&dir.path().join("qr.png")),
    )
    .await?;
    let scanned = EnrolLink::parse(issued.qr_text.as_deref().ok_or("no QR text")?)?;
    assert_eq!(scanned.pins, vec![bureau.leaf_pin]);
    let server_url = scanned.server_url.ok_or("no URL in the link")?;

    let phone = store(dir.path(), "phone")?;
    let mut config = ClientConfig::new(&server_url);
    config.pins = scanned.pins.clone();
    config.extra_roots_pem = Some(both_roots.clone().into_bytes());
    SyncClient::new(config)?
        .enrol(&phone, &scanned.code, &"ab".repeat(32), "scanned")
        .await?;
    assert!(SyncClient::for_store(&phone)?.sync(&phone).await?.complete);

    // The same scan against the proxy enrols nothing.
    let impostor = serve_tls(&s, &proxy).await?;
    let issued = fieldcase_server::admin::create_pinned_code(
        s.storage(),
        "OF-S",
        1,
        Some(&url(&impostor)),
        &pins,
        Some(&dir.path().join("qr2.png")),
    )
    .await?;
    let scanned = EnrolLink::parse(issued.qr_text.as_deref().ok_or("no QR text")?)?;
    let mut config = ClientConfig::new(scanned.server_url.as_deref().unwrap_or_default());
    config.pins = scanned.pins;
    config.extra_roots_pem = Some(both_roots.into_bytes());
    let other = store(dir.path(), "other")?;
    let refused = SyncClient::new(config)?
        .enrol(&other, &scanned.code, &"cd".repeat(32), "scanned")
        .await;
    assert!(matches!(refused, Err(CoreError::CertificatePinMismatch)));
    assert!(!enrolled(&other)?);

    // A malformed pin never makes a code.
    let bad = fieldcase_server::admin::create_pinned_code(
        s.storage(),
        "OF-S",
        1,
        Some(&url(&genuine)),
        &["sha256/nope".to_string()],
        Some(&dir.path().join("qr3.png")),
    )
    .await;
    assert!(bad.is_err());
    genuine.shutdown(Duration::from_secs(2)).await?;
    impostor.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}

#[test]
fn malformed_pins_are_refused_when_the_client_is_configured() -> TestResult {
    for bad in [
        "sha256/too-short",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ] {
        let e = ClientConfig::new("https://127.0.0.1:1").with_pins(&[bad]);
        assert!(
            matches!(e, Err(CoreError::InvalidInput { ref field, .. }) if field == "pin"),
            "{bad}: {e:?}"
        );
    }
    // Plain http has no certificate to check a pin against: refused, not run unpinned.
    let pin = SpkiPin::of_spki(b"key").to_string();
    let e = SyncClient::new(ClientConfig::new("http://127.0.0.1:1").with_pins(&[pin])?);
    assert!(
        matches!(e, Err(CoreError::InvalidInput { ref field, .. }) if field == "pins"),
        "{e:?}"
    );
    Ok(())
}
