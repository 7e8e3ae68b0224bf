//! TLS to PostgreSQL: the `sslmode` and `sslrootcert` of a database URL, read as libpq reads
//! them, carried out with rustls (the `ring` provider the rest of the server uses).
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and never checks a
//! certificate itself; the checks live in the rustls verifier chosen here:
//!
//! | `sslmode` | TLS | certificate check |
//! |---|---|---|
//! | `disable` | never | none |
//! | `prefer` (the default, as in libpq) | when the server offers it, else plain | none; with `sslrootcert`, the chain |
//! | `require` | always; a server without TLS is refused | none (encryption only, as libpq); with `sslrootcert`, the chain |
//! | `verify-ca` | always | the chain to a CA in `sslrootcert` |
//! | `verify-full` | always | the chain, and the host name (or IP) the URL names |
//!
//! `require` without `sslrootcert` encrypts but cannot tell the database from anyone on the
//! path who answers in its place; use `verify-full` off the host. `sslrootcert=FILE` is a PEM
//! file of CA certificates; `sslrootcert=system` the public roots built into the server.
//! The two parameters are taken out of the URL before tokio-postgres reads the rest, so every
//! other parameter keeps its meaning. A failed check is [`StorageError::Tls`] with a
//! [`DbTlsKind`], never a silent fall-back to plain text (`prefer` falls back only when the
//! server offers no TLS at all).

use super::error::{StorageError, StorageResult};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a database connection uses TLS (`sslmode`, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never.
    Disable,
    /// When offered; plain otherwise.
    Prefer,
    /// Always, without checking the certificate unless `sslrootcert` is given.
    Require,
    /// Always, checking the chain to `sslrootcert`.
    VerifyCa,
    /// Always, checking the chain and the host name.
    VerifyFull,
}

impl SslMode {
    /// Parses the libpq spelling.
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Why TLS to the database failed: the kind of [`StorageError::Tls`], so callers and
/// tests tell a wrong CA from a wrong host name without reading messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbTlsKind {
    /// The URL's TLS parameters are unusable (unknown `sslmode`, no or unreadable
    /// `sslrootcert`).
    Config,
    /// The server does not offer TLS and `sslmode` requires it.
    NotOffered,
    /// The server's certificate does not chain to a CA in `sslrootcert` (or is expired or
    /// malformed).
    UntrustedCertificate,
    /// The certificate chains to a trusted CA but does not name the host (`verify-full`).
    HostnameMismatch,
    /// Any other TLS failure during the handshake.
    Handshake,
}

impl std::fmt::Display for DbTlsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbTlsKind::Config => "configuration",
            DbTlsKind::NotOffered => "the server offers no TLS",
            DbTlsKind::UntrustedCertificate => "untrusted certificate",
            DbTlsKind::HostnameMismatch => "certificate does not name the host",
            DbTlsKind::Handshake => "handshake failed",
        })
    }
}

fn tls_err(kind: DbTlsKind, detail: impl Into<String>) -> StorageError {
    StorageError::Tls {
        kind,
        detail: detail.into(),
    }
}

/// A database URL with its TLS parameters taken out and turned into a connector.
#[derive(Clone)]
pub struct PgConnect {
    /// The tokio-postgres configuration (everything but the TLS parameters).
    pub config: tokio_postgres::Config,
    /// The connector every connection uses (unused under `disable`).
    pub tls: MakeRustlsConnect,
    /// The mode asked for.
    pub mode: SslMode,
}

impl std::fmt::Debug for PgConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds the password: only the mode is printed.
        f.debug_struct("PgConnect")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PgConnect {
    /// Reads `url` (a `postgres://` URL or a libpq key=value string).
    pub fn from_url(url: &str) -> StorageResult<PgConnect> {
        let (rest, mode, root) = take_tls_params(url)?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| StorageError::Config(format!("database URL: {e}")))?;
        config.ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let tls = MakeRustlsConnect::new(client_config(mode, root.as_ref())?);
        Ok(PgConnect { config, tls, mode })
    }

    /// Opens one connection, its driver task spawned; failures of TLS are
    /// [`StorageError::Tls`].
    pub async fn connect(&self) -> StorageResult<tokio_postgres::Client> {
        let (client, conn) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| connect_error(&e, self.mode))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "database connection closed");
            }
        });
        Ok(client)
    }
}

/// Where the CA certificates come from.
#[derive(Debug, Clone)]
enum RootSource {
    File(PathBuf),
    System,
}

/// Splits `sslmode` and `sslrootcert` off `url`; returns the rest (for tokio-postgres), the
/// mode (default `prefer`) and the root source.
fn take_tls_params(url: &str) -> StorageResult<(String, SslMode, Option<RootSource>)> {
    let (rest, params) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_url(url)
    } else {
        split_key_values(url)?
    };
    let mut mode = SslMode::Prefer;
    let mut root = None;
    for (k, v) in params {
        match k.as_str() {
            "sslmode" => {
                mode = SslMode::parse(&v).ok_or_else(|| {
                    tls_err(
                        DbTlsKind::Config,
                        format!(
                            "sslmode {v:?} is not disable, prefer, require, verify-ca or \
                             verify-full"
                        ),
                    )
                })?;
            }
            _ => {
                root = Some(if v == "system" {
                    RootSource::System
                } else {
                    RootSource::File(PathBuf::from(v))
                });
            }
        }
    }
    if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && root.is_none() {
        return Err(tls_err(
            DbTlsKind::Config,
            format!(
                "sslmode={} needs sslrootcert=FILE (the CA that signed the database's \
                 certificate) or sslrootcert=system",
                mode.as_str()
            ),
        ));
    }
    Ok((rest, mode, root))
}

fn is_tls_param(key: &str) -> bool {
    key == "sslmode" || key == "sslrootcert"
}

/// URL form: the TLS parameters out of the query string, values percent-decoded.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), vec![]);
    };
    let mut keep = vec![];
    let mut taken = vec![];
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if is_tls_param(k) {
            taken.push((k.to_string(), percent_decode(v)));
        } else {
            keep.push(part);
        }
    }
    let rest = if keep.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", keep.join("&"))
    };
    (rest, taken)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// key=value form (`host=db sslmode=verify-full sslrootcert='/etc/ca dir/ca.pem'`): values
/// may be single-quoted, with backslash escapes, as libpq reads them. The other pairs are
/// kept exactly as written.
fn split_key_values(s: &str) -> StorageResult<(String, Vec<(String, String)>)> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut keep: Vec<String> = vec![];
    let mut taken = vec![];
    let bad = || StorageError::Config("database URL: malformed key=value string".into());
    while i < b.len() {
        while i < b.len() && b[i].is_whitespace() {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        let mut key = String::new();
        while i < b.len() && b[i] != '=' && !b[i].is_whitespace() {
            key.push(b[i]);
            i += 1;
        }
        while i < b.len() && b[i].is_whitespace() {
            i += 1;
        }
        if b.get(i) != Some(&'=') {
            return Err(bad());
        }
        i += 1;
        while i < b.len() && b[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&'\'') {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(bad()),
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        value.push(*b.get(i + 1).ok_or_else(bad)?);
                        i += 2;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !b[i].is_whitespace() {
                if b[i] == '\\' {
                    value.push(*b.get(i + 1).ok_or_else(bad)?);
                    i += 2;
                } else {
                    value.push(b[i]);
                    i += 1;
                }
            }
        }
        if is_tls_param(&key) {
            taken.push((key, value));
        } else {
            keep.push(b[start..i].iter().collect());
        }
    }
    Ok((keep.join(" "), taken))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(source: &RootSource) -> StorageResult<RootCertStore> {
    let mut store = RootCertStore::empty();
    match source {
        RootSource::System => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        RootSource::File(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                tls_err(
                    DbTlsKind::Config,
                    format!("sslrootcert {}: {e}", path.display()),
                )
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| unreadable(&e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| unreadable(&e))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(unreadable(&"no usable CA certificate in the file"));
            }
        }
    }
    Ok(store)
}

/// The rustls client configuration for `mode`.
fn client_config(mode: SslMode, root: Option<&RootSource>) -> StorageResult<rustls::ClientConfig> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match root {
        Some(source) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(source)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| tls_err(DbTlsKind::Config, format!("sslrootcert: {e}")))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                // libpq checks the chain whenever a root certificate is given, even under
                // `prefer` and `require`; only `verify-full` checks the name.
                Arc::new(ChainOnly(webpki))
            }
        }
        None => Arc::new(EncryptOnly(provider.clone())),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(DbTlsKind::Config, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `verify-ca`: the chain must lead to a trusted CA; the name is not checked. WebPKI checks
/// the chain before the name, so a name error means the chain held.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` / `require` without `sslrootcert`: any certificate is accepted (libpq's
/// behaviour; encryption against a passive listener only), but the handshake signature must
/// still be made by the certificate's key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Turns a failed connection into a typed TLS error when TLS is what failed; any other
/// failure (unreachable, authentication) stays a configuration error.
pub(crate) fn connect_error(e: &tokio_postgres::Error, mode: SslMode) -> StorageError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let rustls_err = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(r) = rustls_err {
            let kind = match r {
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => DbTlsKind::HostnameMismatch,
                rustls::Error::InvalidCertificate(_) => DbTlsKind::UntrustedCertificate,
                _ => DbTlsKind::Handshake,
            };
            return tls_err(kind, format!("sslmode={}: {r}", mode.as_str()));
        }
        if s.to_string().contains("server does not support TLS") {
            return tls_err(
                DbTlsKind::NotOffered,
                format!(
                    "sslmode={} requires TLS and the database server does not offer it",
                    mode.as_str()
                ),
            );
        }
        source = s.source();
    }
    StorageError::Unavailable(format!("cannot reach PostgreSQL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_both_url_forms() -> StorageResult<()> {
        let (rest, mode, root) = take_tls_params(
            "postgres://u:p@db:5432/x?application_name=fc&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem",
        )?;
        assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=fc");
        assert_eq!(mode, SslMode::VerifyFull);
        assert!(
            matches!(root, Some(RootSource::File(p)) if p == std::path::Path::new("/etc/ca dir/ca.pem"))
        );

        let (rest, mode, root) = take_tls_params(
            "host=db user=u sslmode = verify-ca sslrootcert='/etc/ca dir/c\\'a.pem' dbname=x",
        )?;
        assert_eq!(rest, "host=db user=u dbname=x");
        assert_eq!(mode, SslMode::VerifyCa);
        assert!(
            matches!(root, Some(RootSource::File(p)) if p == std::path::Path::new("/etc/ca dir/c'a.pem"))
        );

        let (rest, mode, root) = take_tls_params("postgres://u@db/x")?;
        assert_eq!(
            (rest.as_str(), mode),
            ("postgres://u@db/x", SslMode::Prefer)
        );
        assert!(root.is_none());
        let (_, _, root) = take_tls_params("postgres://u@db/x?sslmode=require&sslrootcert=system")?;
        assert!(matches!(root, Some(RootSource::System)));
        Ok(())
    }

    #[test]
    fn unusable_tls_parameters_are_configuration_errors() {
        for url in [
            "postgres://u@db/x?sslmode=verify-everything",
            "postgres://u@db/x?sslmode=verify-full",
            "host=db sslmode=verify-ca",
            "host=db sslrootcert='unterminated",
        ] {
            let e = PgConnect::from_url(url).err();
            assert!(
                matches!(
                    e,
                    Some(
                        StorageError::Tls {
                            kind: DbTlsKind::Config,
                            ..
                        } | StorageError::Config(_)
                    )
                ),
                "{url}: {e:?}"
            );
        }
        let e = PgConnect::from_url(
            "postgres://u@db/x?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
        )
        .err();
        assert!(matches!(
            e,
            Some(StorageError::Tls {
                kind: DbTlsKind::Config,
                ..
            })
        ));
    }
}
