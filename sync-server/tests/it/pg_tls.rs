//! PostgreSQL over TLS, for real: a private PostgreSQL started here from the machine's own
//! binaries (`initdb`, `pg_ctl`) on a free loopback port, with `ssl=on` and a server
//! certificate for `localhost` signed by a CA made here with rcgen. Every `sslmode` the URL
//! may carry is tried against it, through the storage and through the `fieldcase-server`
//! binary; then the same server is reloaded with `ssl=off`.
//!
//! PostgreSQL refuses to run as root, so as root the instance runs as the `postgres` user
//! (`runuser`) in a temporary folder it owns. The test fails, never skips, when no
//! PostgreSQL binaries are found (`FIELDCASE_PG_BIN` may name their folder).

use fieldcase_server::storage::StorageError;
use fieldcase_server::storage::pg_tls::DbTlsKind;
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase-server");

/// The folder holding `initdb` and `pg_ctl`: `FIELDCASE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else what `pg_config --bindir` says.
fn pg_bin() -> R<PathBuf> {
    if let Ok(dir) = std::env::var("FIELDCASE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout)?.trim());
    if dir.join("initdb").exists() {
        Ok(dir)
    } else {
        Err("no PostgreSQL binaries (initdb, pg_ctl) found; set FIELDCASE_PG_BIN".into())
    }
}

/// A PostgreSQL instance of this test's own, stopped (immediately) when dropped.
struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Run the binaries as `postgres` (we are root).
    as_postgres: bool,
    port: u16,
}

impl PrivatePg {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> R {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()?
        } else {
            Command::new(&exe).args(args).output()?
        };
        if !out.status.success() {
            return Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    /// A new cluster with `ssl=on`, the certificate and key given, trust authentication.
    fn start(cert_pem: &str, key_pem: &str) -> R<PrivatePg> {
        let bin = pg_bin()?;
        let dir = tempfile::tempdir()?;
        // A folder we just made is owned by whoever we run as.
        let as_postgres = std::fs::metadata(dir.path())?.uid() == 0;
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:", &dir.path().to_string_lossy()])
                .status()?
                .success();
            if !ok {
                return Err("running as root and cannot hand the folder to user postgres".into());
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let pg = PrivatePg {
            dir,
            bin,
            as_postgres,
            port,
        };
        let data = pg.data();
        let data_s = data.to_string_lossy().to_string();
        pg.run(
            "initdb",
            &["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let p = data.join(name);
            std::fs::write(&p, pem)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            if as_postgres {
                Command::new("chown")
                    .args(["postgres:", &p.to_string_lossy()])
                    .status()?;
            }
        }
        // `ssl` in the configuration file, not on the command line, so `ALTER SYSTEM` and a
        // reload can turn it off later.
        {
            use std::io::Write;
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))?;
            writeln!(conf, "ssl = on")?;
        }
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off",
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("log").to_string_lossy().to_string();
        pg.run(
            "pg_ctl",
            &[
                "-D", &data_s, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
            ],
        )?;
        Ok(pg)
    }

    fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{params}", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.data().to_string_lossy().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// A CA (its PEM written to `dir/name-ca.pem`) and, when `leaf_for` is given, a server
/// certificate and key for those names signed by it.
fn pki(dir: &Path, name: &str, leaf_for: &[&str]) -> R<(PathBuf, String, String)> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} database CA"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_path = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&ca_path, ca_cert.pem())?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate()?;
    let mut leaf =
        CertificateParams::new(leaf_for.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    leaf.distinguished_name
        .push(DnType::CommonName, format!("{name} database"));
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok((ca_path, leaf_cert.pem(), leaf_key.serialize_pem()))
}

fn tls_kind(r: &Result<PostgresStorage, StorageError>) -> Option<DbTlsKind> {
    match r {
        Err(StorageError::Tls { kind, .. }) => Some(*kind),
        _ => None,
    }
}

/// Runs `fieldcase-server admin --database-url URL create-unit`; returns (success, stderr).
fn admin_create_unit(data: &Path, url: &str, path: &str) -> R<(bool, String)> {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(["--database-url", url])
        .args(["create-unit", "--path", path, "--name", path])
        .env_remove("FIELDCASE_DATABASE_URL")
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_honours_sslmode_and_sslrootcert() -> R {
    let certs = tempfile::tempdir()?;
    let (ca, cert, key) = pki(certs.path(), "bureau", &["localhost"])?;
    let (other_ca, _, _) = pki(certs.path(), "intercepting", &[])?;
    let pg = PrivatePg::start(&cert, &key)?;
    let ca = ca.to_string_lossy().to_string();
    let other_ca = other_ca.to_string_lossy().to_string();

    // verify-full with the right CA and the certificate's name: encrypted, and the storage
    // works (schema, migrations, a write and a read).
    let full = pg.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let s = PostgresStorage::connect_fresh(&full).await?;
    assert!(
        s.connection_is_encrypted().await?,
        "verify-full must encrypt"
    );
    fieldcase_server::admin::create_unit(&s, "luan", "Lu'an").await?;
    assert_eq!(s.units().await?.len(), 1);
    drop(s);

    // A CA that did not sign the server's certificate: refused, typed, in both verify modes.
    for mode in ["verify-full", "verify-ca"] {
        let url = pg.url(
            "localhost",
            &format!("sslmode={mode}&sslrootcert={other_ca}"),
        );
        let r = PostgresStorage::connect_fresh(&url).await;
        assert_eq!(
            tls_kind(&r),
            Some(DbTlsKind::UntrustedCertificate),
            "{mode} with another CA: {r:?}"
        );
    }

    // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca (chain
    // only) connects, encrypted.
    let r = PostgresStorage::connect_fresh(&pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await;
    assert_eq!(tls_kind(&r), Some(DbTlsKind::HostnameMismatch), "{r:?}");
    let s = PostgresStorage::connect_fresh(
        &pg.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")),
    )
    .await?;
    assert!(s.connection_is_encrypted().await?);
    drop(s);

    // require without a root certificate encrypts without checking (libpq's meaning); with
    // one, the chain is checked as under verify-ca.
    let s = PostgresStorage::connect_fresh(&pg.url("127.0.0.1", "sslmode=require")).await?;
    assert!(s.connection_is_encrypted().await?);
    drop(s);
    let r = PostgresStorage::connect_fresh(&pg.url(
        "127.0.0.1",
        &format!("sslmode=require&sslrootcert={other_ca}"),
    ))
    .await;
    assert_eq!(tls_kind(&r), Some(DbTlsKind::UntrustedCertificate), "{r:?}");
    // No sslmode: prefer, as libpq; the server offers TLS, so it is used.
    let s = PostgresStorage::connect_fresh(&pg.url("127.0.0.1", "")).await?;
    assert!(s.connection_is_encrypted().await?);
    drop(s);

    // The binary takes the URL unchanged (admin commands, and serve through the same call).
    let data = tempfile::tempdir()?;
    let (ok, err) = admin_create_unit(data.path(), &full, "luan/jinan")?;
    assert!(ok, "admin over verify-full: {err}");
    let (ok, err) = admin_create_unit(
        data.path(),
        &pg.url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={other_ca}"),
        ),
        "luan/yuan",
    )?;
    assert!(!ok);
    assert!(err.contains("untrusted certificate"), "{err}");

    // The same server without TLS: require and verify-full refuse (typed), prefer falls back
    // to plain.
    {
        let plain = PostgresStorage::connect(&pg.url("127.0.0.1", "sslmode=disable")).await?;
        assert!(!plain.connection_is_encrypted().await?);
    }
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres sslmode=disable",
            pg.port
        ),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(conn);
    // Separate statements: ALTER SYSTEM cannot run in the implicit transaction of a batch.
    client.batch_execute("ALTER SYSTEM SET ssl = off").await?;
    client.batch_execute("SELECT pg_reload_conf()").await?;
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let r = PostgresStorage::connect_fresh(&pg.url("127.0.0.1", "sslmode=require")).await;
        if tls_kind(&r) == Some(DbTlsKind::NotOffered) || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        tls_kind(&refused),
        Some(DbTlsKind::NotOffered),
        "{refused:?}"
    );
    let r = PostgresStorage::connect_fresh(&full).await;
    assert_eq!(tls_kind(&r), Some(DbTlsKind::NotOffered), "{r:?}");
    let s = PostgresStorage::connect_fresh(&pg.url("127.0.0.1", "sslmode=prefer")).await?;
    assert!(!s.connection_is_encrypted().await?);
    drop(s);
    Ok(())
}

/// `sslmode=disable` against the shared test server: plain, and everything works.
#[tokio::test]
async fn sslmode_disable_connects_plainly() -> R {
    let base = std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let sep = if base.contains('?') { '&' } else { '?' };
    let s = PostgresStorage::connect_fresh(&format!("{base}{sep}sslmode=disable")).await?;
    assert!(!s.connection_is_encrypted().await?);
    fieldcase_server::admin::create_unit(&s, "luan", "Lu'an").await?;
    assert_eq!(s.units().await?.len(), 1);
    Ok(())
}
