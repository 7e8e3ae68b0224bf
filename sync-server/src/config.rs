//! The server's settings: one TOML file (`serve --config FILE`), environment variables over
//! it, command-line flags over both.
//!
//! Precedence, lowest first: built-in defaults, the file, `FIELDCASE_<SECTION>_<KEY>`
//! variables (`FIELDCASE_LIMITS_MAX_DOCS_PER_SYNC=500`; the value is read as a TOML value, so
//! numbers, booleans, arrays and inline tables work, and anything else is a string), then the
//! flags and the variables clap reads for them (`FIELDCASE_DATABASE_URL`,
//! `FIELDCASE_KEY_DIR`, ...). Every table refuses unknown keys, so a misspelt limit is an
//! error at start rather than a default silently kept. `fieldcase-server config` prints the
//! settings in force with secrets hidden.
//!
//! Every limit that was a constant in the code is here, with the same default; the defaults
//! are listed in `docs/operator-guide.md` and checked against this file by a test.

use crate::error::{Result, ServerError};
use crate::ratelimit::Budget;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `serve` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where and how to serve.
    pub server: ServerSection,
    /// Sizes, counts and times.
    pub limits: Limits,
    /// Request budgets.
    pub rate: RateLimits,
    /// Where evidence is kept: the folder `<data>/blobs`, or S3-compatible object storage.
    pub blobs: crate::blobs::BlobStoreSettings,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, for a log collector.
    Json,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Data folder (SQLite file, blob folder, default key folder). Required.
    pub data: Option<PathBuf>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PostgreSQL URL; absent: the embedded SQLite database.
    pub database_url: Option<String>,
    /// PEM certificate chain for TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP off loopback (only behind a TLS-terminating proxy).
    pub allow_insecure_http: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// Key folder; default `<data>/keys`.
    pub key_dir: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Seconds requests in flight may take to finish after SIGTERM or Ctrl-C.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            data: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            database_url: None,
            tls_cert: None,
            tls_key: None,
            allow_insecure_http: false,
            trusted_proxies: Vec::new(),
            key_dir: None,
            log_format: LogFormat::Text,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body (a sync batch or a blob chunk), bytes, after gzip is undone.
    pub max_body_bytes: usize,
    /// Largest blob (a photo or recording), bytes.
    pub max_blob_bytes: u64,
    /// Documents one sync request may carry.
    pub max_docs_per_sync: usize,
    /// Bytes of changes a sync reply carries before further wants wait for the next request.
    pub reply_budget_bytes: usize,
    /// Bytes one device's unfinished uploads may declare together.
    pub max_pending_upload_bytes: u64,
    /// Idle seconds after which another device may take over an upload of the same blob.
    pub upload_takeover_after_secs: u64,
    /// Hours after which an untouched partial upload is removed.
    pub partial_max_age_hours: u64,
    /// PostgreSQL connections per server instance.
    pub db_pool_size: usize,
    /// Hours a dashboard session lasts.
    pub dashboard_session_hours: u64,
}

/// Bytes in a mebibyte.
const MIB: u64 = 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * MIB as usize,
            max_blob_bytes: 1024 * MIB,
            max_docs_per_sync: 2000,
            reply_budget_bytes: 2 * MIB as usize,
            max_pending_upload_bytes: 2048 * MIB,
            upload_takeover_after_secs: 3600,
            partial_max_age_hours: 72,
            db_pool_size: 16,
            dashboard_session_hours: 12,
        }
    }
}

impl Limits {
    /// Refuses settings that would stop the server working (a zero pool, a body too small
    /// for one blob chunk's headers, ...).
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(ServerError::Config(format!("limits.{what}")));
        if self.max_body_bytes < 64 * 1024 {
            return bad("max_body_bytes must be at least 65536");
        }
        if self.max_docs_per_sync == 0 {
            return bad("max_docs_per_sync must be at least 1");
        }
        if self.reply_budget_bytes == 0 {
            return bad("reply_budget_bytes must be at least 1");
        }
        if self.db_pool_size == 0 {
            return bad("db_pool_size must be at least 1");
        }
        if self.dashboard_session_hours == 0 {
            return bad("dashboard_session_hours must be at least 1");
        }
        if self.max_pending_upload_bytes < self.max_blob_bytes {
            return bad("max_pending_upload_bytes must be at least max_blob_bytes");
        }
        Ok(())
    }

    /// [`Limits::dashboard_session_hours`] in milliseconds.
    pub fn session_ttl_ms(&self) -> i64 {
        i64::try_from(self.dashboard_session_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
    }
}

/// `[rate]`: token buckets, `{ burst = N, per_second = R }` each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Per device on authenticated routes.
    pub device: Budget,
    /// Per client address on enrolment.
    pub enrol: Budget,
    /// Per client address on public pages and dashboard login links.
    pub public: Budget,
    /// Per client address, requests with an unknown or malformed credential.
    pub bad_credential: Budget,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            device: Budget::DEVICE,
            enrol: Budget::ENROL,
            public: Budget::PUBLIC,
            bad_credential: Budget::BAD_CREDENTIAL,
        }
    }
}

impl RateLimits {
    fn check(&self) -> Result<()> {
        for (name, b) in [
            ("device", self.device),
            ("enrol", self.enrol),
            ("public", self.public),
            ("bad_credential", self.bad_credential),
        ] {
            if !(b.burst >= 1.0 && b.per_second > 0.0 && b.burst.is_finite()) {
                return Err(ServerError::Config(format!(
                    "rate.{name}: burst must be at least 1 and per_second above 0"
                )));
            }
        }
        Ok(())
    }
}

/// Prefix of the variables that override the file.
pub const ENV_PREFIX: &str = "FIELDCASE_";

impl ServerConfig {
    /// Defaults, then `file`, then the `FIELDCASE_<SECTION>_<KEY>` variables of `env`.
    /// Flags are applied by the caller afterwards.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ServerError::Config(format!("config file {}: {e}", path.display()))
                })?;
                text.parse::<toml::Table>().map_err(|e| {
                    ServerError::Config(format!("config file {}: {e}", path.display()))
                })?
            }
            None => toml::Table::new(),
        };
        for (section, key) in Self::keys()? {
            let var = format!(
                "{ENV_PREFIX}{}_{}",
                section.to_ascii_uppercase(),
                key.to_ascii_uppercase()
            );
            let Some(raw) = env(&var) else { continue };
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(t) = entry else {
                return Err(ServerError::Config(format!("[{section}] must be a table")));
            };
            t.insert(key, env_value(&raw));
        }
        let config: ServerConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ServerError::Config(format!("settings: {e}")))?;
        Ok(config)
    }

    /// Every `(section, key)` a file may set, read off the defaults so the list cannot drift
    /// from the structs.
    pub fn keys() -> Result<Vec<(String, String)>> {
        let value = toml::Value::try_from(ServerConfig::default())
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let mut out = Vec::new();
        if let toml::Value::Table(sections) = value {
            for (section, v) in sections {
                if let toml::Value::Table(keys) = v {
                    out.extend(keys.keys().map(|k| (section.clone(), k.clone())));
                }
            }
        }
        // Optional settings with no default are absent from the serialised defaults.
        for key in ["data", "database_url", "tls_cert", "tls_key", "key_dir"] {
            out.push(("server".into(), key.into()));
        }
        for key in ["url", "endpoint", "region"] {
            out.push(("blobs".into(), key.into()));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Refuses settings that cannot work.
    pub fn check(&self) -> Result<()> {
        if self.server.data.is_none() {
            return Err(ServerError::Config(
                "no data folder: give --data or server.data in the config file".into(),
            ));
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ServerError::Config(
                "tls_cert and tls_key go together".into(),
            ));
        }
        if self.blobs.url.is_none()
            && (self.blobs.endpoint.is_some() || self.blobs.region.is_some())
        {
            return Err(ServerError::Config(
                "blobs.endpoint and blobs.region need blobs.url (s3://bucket[/prefix])".into(),
            ));
        }
        if let Some(url) = &self.blobs.url {
            crate::blobs::store::parse_s3_url(url)?;
        }
        self.limits.check()?;
        self.rate.check()
    }

    /// The settings as TOML, with the database password hidden.
    pub fn to_toml_redacted(&self) -> Result<String> {
        let mut shown = self.clone();
        shown.server.database_url = shown.server.database_url.as_deref().map(redact_url);
        toml::to_string(&shown).map_err(|e| ServerError::Config(e.to_string()))
    }
}

/// A variable's text as a TOML value: `500` a number, `true` a boolean, `[..]`/`{..}` an array
/// or table; anything that does not parse is a string (paths, URLs).
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn file_then_environment_over_defaults() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("server.toml");
        std::fs::write(
            &file,
            "[server]\ndata = \"/srv/fc\"\nlisten = \"0.0.0.0:9000\"\nlog_format = \"json\"\n\
             [limits]\nmax_docs_per_sync = 500\nreply_budget_bytes = 1000\n\
             [rate]\ndevice = { burst = 10, per_second = 1.5 }\n",
        )?;
        let c = ServerConfig::load(
            Some(&file),
            env_of(&[
                ("FIELDCASE_LIMITS_MAX_DOCS_PER_SYNC", "700"),
                ("FIELDCASE_SERVER_KEY_DIR", "/run/keys"),
                ("FIELDCASE_SERVER_ALLOW_INSECURE_HTTP", "true"),
            ]),
        )?;
        assert_eq!(c.server.data.as_deref(), Some(Path::new("/srv/fc")));
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.server.log_format, LogFormat::Json);
        assert_eq!(c.server.key_dir.as_deref(), Some(Path::new("/run/keys")));
        assert!(c.server.allow_insecure_http);
        // The variable wins over the file; untouched keys keep the file's or the default.
        assert_eq!(c.limits.max_docs_per_sync, 700);
        assert_eq!(c.limits.reply_budget_bytes, 1000);
        assert_eq!(c.limits.db_pool_size, Limits::default().db_pool_size);
        assert_eq!(c.rate.device.burst, 10.0);
        assert_eq!(c.rate.enrol, Budget::ENROL);
        c.check()
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("server.toml");
        for (text, needle) in [
            ("[limits]\nmax_doc_per_sync = 5\n", "max_doc_per_sync"),
            ("[limit]\nmax_docs_per_sync = 5\n", "limit"),
            (
                "[limits]\nmax_docs_per_sync = \"many\"\n",
                "max_docs_per_sync",
            ),
            ("[server]\nlisten = \"nowhere\"\n", "listen"),
            ("[server\n", "config file"),
        ] {
            std::fs::write(&file, text)?;
            let err = ServerConfig::load(Some(&file), |_| None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        let err = ServerConfig::load(None, env_of(&[("FIELDCASE_LIMITS_DB_POOL_SIZE", "-3")]));
        assert!(err.is_err());
        let mut c = ServerConfig::load(None, |_| None)?;
        assert!(c.check().is_err(), "no data folder");
        c.server.data = Some("/srv/fc".into());
        c.limits.db_pool_size = 0;
        assert!(c.check().is_err());
        c.limits.db_pool_size = 4;
        c.rate.public.per_second = 0.0;
        assert!(c.check().is_err());
        Ok(())
    }

    #[test]
    fn printed_settings_hide_the_database_password_and_load_back() -> Result<()> {
        let mut c = ServerConfig::default();
        c.server.data = Some("/srv/fc".into());
        c.server.database_url = Some("postgres://fc:hunter2@db.internal/fieldcase".into());
        let text = c.to_toml_redacted()?;
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("postgres://fc:***@db.internal/fieldcase"));
        let back: ServerConfig =
            toml::from_str(&text).map_err(|e| ServerError::Config(e.to_string()))?;
        assert_eq!(back.limits, c.limits);
        Ok(())
    }

    #[test]
    fn every_key_is_in_the_operator_guide() -> Result<()> {
        let guide = include_str!("../../docs/operator-guide.md");
        for (section, key) in ServerConfig::keys()? {
            assert!(
                guide.contains(&format!("`{section}.{key}`")),
                "docs/operator-guide.md does not list `{section}.{key}`"
            );
        }
        Ok(())
    }
}
