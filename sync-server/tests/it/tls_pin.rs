//! `fieldcase-server tls-pin` and the pin printed when serving TLS, through the real binary,
//! against a pin computed independently with OpenSSL.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase-server");

/// The pin of `tests/fixtures/test-cert.pem` as the usual recipe gives it: `openssl x509
/// -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`.
const FIXTURE_PIN: &str = "sha256/kCFL3awUWqNt/+beK26PNCvi0lJy2+NUJL/Sj/Q18P8=";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

#[test]
fn tls_pin_prints_the_key_pin_of_a_certificate_file() -> R {
    let out = Command::new(BIN)
        .args(["tls-pin", "--json", "--cert"])
        .arg(fixture("test-cert.pem"))
        .output()?;
    assert!(out.status.success(), "{out:?}");
    let pins: Vec<String> = serde_json::from_slice(&out.stdout)?;
    assert_eq!(pins, vec![FIXTURE_PIN.to_string()]);

    let text = Command::new(BIN)
        .args(["tls-pin", "--cert"])
        .arg(fixture("test-cert.pem"))
        .output()?;
    assert!(String::from_utf8(text.stdout)?.starts_with(FIXTURE_PIN));

    // A key file (or anything without a certificate) is an error, not an empty list.
    let refused = Command::new(BIN)
        .args(["tls-pin", "--cert"])
        .arg(fixture("test-key.pem"))
        .output()?;
    assert!(!refused.status.success());
    assert!(String::from_utf8(refused.stderr)?.contains("no PEM certificate"));
    Ok(())
}

#[test]
fn serving_tls_prints_the_pin_of_the_served_key() -> R {
    let data = tempfile::tempdir()?;
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--data")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(fixture("test-cert.pem"))
        .arg("--tls-key")
        .arg(fixture("test-key.pem"))
        .env_remove("FIELDCASE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("TLS pin ") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    child.kill()?;
    child.wait()?;
    let line = found.ok_or_else(|| format!("no pin printed; stdout was {seen:?}"))?;
    assert!(
        line.starts_with(&format!("TLS pin {FIXTURE_PIN}")),
        "{line}"
    );
    Ok(())
}
