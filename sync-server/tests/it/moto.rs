//! A real S3 service for the object-store tests: moto's server mode (`moto_server`), started
//! on a free loopback port for one test and killed when dropped. It accepts any credentials.
//!
//! The binary is `FIELDCASE_MOTO_SERVER`, else `moto_server` on `PATH`; without either the
//! test fails (a skipped S3 test would pass silently): `scripts/ensure-moto.sh` installs it
//! into `.tools/` and prints its path, and `scripts/test-all.sh` exports it.
//!
//! Shared by the blob store's unit tests and the server's integration tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type MotoResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How long moto may take to answer after it is started.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    addr: SocketAddr,
}

fn binary() -> MotoResult<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("FIELDCASE_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return Ok(p.into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("moto_server"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    on_path.ok_or_else(|| {
        "the S3 tests need moto's server: run `bash scripts/ensure-moto.sh` and set \
         FIELDCASE_MOTO_SERVER to the path it prints (or put moto_server on PATH)"
            .into()
    })
}

/// One HTTP/1.0 request without a body; returns the status code.
fn request(addr: SocketAddr, method: &str, path: &str) -> MotoResult<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let text = std::str::from_utf8(&head)?;
    Ok(text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP reply: {text:?}"))?)
}

impl Moto {
    /// Starts moto on a free loopback port and waits (bounded) until it answers.
    pub fn start() -> MotoResult<Moto> {
        let bin = binary()?;
        let mut last = String::new();
        // The free port is found by binding it and letting it go; another process may take
        // it in between, so a start that fails is tried again on another port.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", bin.display()))?;
            let mut moto = Moto { child, addr };
            let t = Instant::now();
            while t.elapsed() < READY_WITHIN {
                if let Some(status) = moto.child.try_wait()? {
                    last = format!("moto_server exited with {status}");
                    break;
                }
                if request(addr, "GET", "/").is_ok() {
                    return Ok(moto);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if last.is_empty() {
                last = format!("moto_server did not answer within {READY_WITHIN:?}");
            }
        }
        Err(last.into())
    }

    /// The endpoint to give the S3 client (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates bucket `name` (a plain `PUT /name`, as any S3 tool would).
    pub fn create_bucket(&self, name: &str) -> MotoResult<()> {
        let status = request(self.addr, "PUT", &format!("/{name}"))?;
        if status == 200 {
            Ok(())
        } else {
            Err(format!("creating bucket {name}: HTTP {status}").into())
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
