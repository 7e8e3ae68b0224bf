//! The server binary stops gracefully on SIGTERM (what systemd and container runtimes send):
//! it stops accepting, finishes what is in flight and exits 0, instead of dying by the signal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase-server");

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Starts the binary with `args` and returns it with the address from its first line.
fn spawn(args: &[&std::ffi::OsStr]) -> R<(std::process::Child, String)> {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("FIELDCASE_DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected first line {line:?}"))?
        .to_string();
    Ok((child, addr))
}

/// One `GET path` on a fresh connection; the whole reply.
fn get(addr: &str, path: &str) -> R<String> {
    let mut conn = std::net::TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    std::io::Write::write_all(
        &mut conn,
        format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut conn, &mut reply)?;
    Ok(reply)
}

/// Sends SIGTERM and waits (at most 20 s); returns the exit status and all of stderr.
fn terminate(mut child: std::process::Child) -> R<(std::process::ExitStatus, String)> {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(sent.success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            return Err("the server did not stop within 20 s of SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut BufReader::new(e), &mut err)?;
    }
    Ok((status, err))
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_gracefully() -> R {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (child, addr) = spawn(&[
        "serve".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ])?;
    // It answers before the signal.
    let reply = get(&addr, "/healthz")?;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let (status, err) = terminate(child)?;
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(err.contains("stopping"), "{err}");
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(&addr).is_err());
    Ok(())
}

/// `serve --config FILE --log-format json`: the file's settings apply, every log line is one
/// JSON object, and the access log names route templates with no query string.
#[cfg(unix)]
#[test]
fn settings_file_and_json_access_log() -> R {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata = {:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace_secs = 3\n",
            dir.path().join("data")
        ),
    )?;
    let (child, addr) = spawn(&[
        "serve".as_ref(),
        "--log-format".as_ref(),
        "json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ])?;
    for path in [
        "/readyz",
        "/login?token=do-not-log-me",
        "/v1/blobs/ab/status",
    ] {
        let reply = get(&addr, path)?;
        assert!(reply.starts_with("HTTP/1.1 "), "{reply}");
    }
    let (status, err) = terminate(child)?;
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(
        err.contains("(3 s at most)"),
        "the file's grace period applies: {err}"
    );
    let access: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let routes: Vec<&str> = access
        .iter()
        .filter(|v| v["target"] == "access")
        .filter_map(|v| v["route"].as_str())
        .collect();
    assert_eq!(
        routes,
        ["/readyz", "/login", "/v1/blobs/{sha256}/status"],
        "{err}"
    );
    assert!(
        access
            .iter()
            .any(|v| v["status"] == 200 && v["route"] == "/readyz")
    );
    assert!(!err.contains("do-not-log-me"), "{err}");
    // Every line the server logged is JSON (the one plain line is the stop notice on stderr).
    for l in err.lines().filter(|l| !l.starts_with("stopping")) {
        assert!(l.starts_with('{'), "not JSON: {l}");
    }
    Ok(())
}
