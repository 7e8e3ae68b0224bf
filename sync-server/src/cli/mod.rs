//! The command line: the subcommands and their arguments.

mod output;
mod run;

pub(crate) use run::run;

use clap::{Parser, Subcommand};
use fieldcase_server::config::ServerConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "fieldcase-server", version, about = "fieldcase sync server")]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve(ServeArgs),
    /// Print the settings `serve` would run with (file, environment and flags merged, the
    /// database password hidden) and check them; exits non-zero if they cannot work.
    Config(ServeArgs),
    /// Print the pins (`sha256/<base64>` of each certificate's key) of a PEM certificate
    /// file, for the phones' enrolment options. Give the file `serve --tls-cert` loads: the
    /// first pin is the server's own key, the others those of the CAs in its chain. Pin the
    /// key of the CA that signs the server's certificates, or (also) the next key before
    /// rotating the server's own.
    TlsPin {
        /// PEM certificate file (a chain, or a CA certificate alone).
        #[arg(long)]
        cert: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Operator commands.
    Admin {
        /// Data folder.
        #[arg(long)]
        data: PathBuf,
        /// PostgreSQL URL instead of the embedded SQLite database.
        #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Key folder (party-match, PII and audit signing keys), kept apart from the
        /// database and its backups; default `<data>/keys`, created 0700 on first start.
        /// `FIELDCASE_PARTY_MATCH_KEY`, `FIELDCASE_PII_KEY` and `FIELDCASE_AUDIT_SIGNING_KEY`
        /// (hex) take precedence over its files.
        #[arg(long, env = "FIELDCASE_KEY_DIR")]
        key_dir: Option<PathBuf>,
        /// The settings file `serve` runs with: its `[blobs]` section says where evidence is
        /// (`verify` and `case-file` read it there).
        #[arg(long, env = "FIELDCASE_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        blob_store: BlobStoreArgs,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

impl BlobStoreArgs {
    /// The `[blobs]` settings for `admin`: defaults, the file `config`, `FIELDCASE_BLOBS_*`,
    /// then these flags (the same precedence as `serve`).
    pub(crate) fn resolve(
        &self,
        config: Option<&std::path::Path>,
    ) -> Result<fieldcase_server::blobs::BlobStoreSettings, fieldcase_server::ServerError> {
        let mut b = ServerConfig::load(config, |k| std::env::var(k).ok())?.blobs;
        self.apply(&mut b);
        Ok(b)
    }

    /// Lays the flags given over settings already loaded.
    fn apply(&self, b: &mut fieldcase_server::blobs::BlobStoreSettings) {
        if let Some(v) = &self.url {
            b.url = Some(v.clone());
        }
        if let Some(v) = &self.endpoint {
            b.endpoint = Some(v.clone());
        }
        if let Some(v) = &self.region {
            b.region = Some(v.clone());
        }
        if self.allow_http {
            b.allow_http = true;
        }
    }
}

/// `serve`'s settings from the command line: each flag, when given, overrides the config
/// file and the `FIELDCASE_<SECTION>_<KEY>` variables ([`fieldcase_server::config`]).
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Settings file (TOML); see docs/operator-guide.md for every key and its default.
    #[arg(long, env = "FIELDCASE_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder (SQLite file and blobs), created on first start.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8443].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// PostgreSQL URL instead of the embedded SQLite database.
    #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// PEM certificate chain for TLS.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (only behind a TLS proxy).
    #[arg(long)]
    allow_insecure_http: bool,
    /// A reverse proxy (address or CIDR range) whose `X-Forwarded-For` names the client for
    /// the per-address budgets; repeat, or comma-separate in the variable. Without one the
    /// TCP peer is the client and the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "FIELDCASE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// Key folder (party-match, PII and audit signing keys), kept apart from the
    /// database and its backups; default `<data>/keys`, created 0700 on first start.
    /// `FIELDCASE_PARTY_MATCH_KEY`, `FIELDCASE_PII_KEY` and `FIELDCASE_AUDIT_SIGNING_KEY`
    /// (hex) take precedence over its files.
    #[arg(long, env = "FIELDCASE_KEY_DIR")]
    key_dir: Option<PathBuf>,
    /// Log lines as text or as one JSON object a line [default: text].
    #[arg(long, value_enum)]
    log_format: Option<fieldcase_server::config::LogFormat>,
    #[command(flatten)]
    blob_store: BlobStoreArgs,
}

/// Where `serve` keeps evidence: overrides `[blobs]` of the settings
/// (`fieldcase_server::blobs::BlobStoreSettings`).
#[derive(Debug, clap::Args)]
struct BlobStoreArgs {
    /// Keep evidence in S3-compatible object storage, `s3://bucket[/prefix]`, instead of the
    /// folder `<data>/blobs`. Credentials come from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`.
    #[arg(long = "blob-store", env = "FIELDCASE_BLOB_STORE")]
    url: Option<String>,
    /// The S3 endpoint of a service other than AWS (MinIO, Ceph, a cloud's S3 gateway).
    #[arg(long = "s3-endpoint", env = "FIELDCASE_S3_ENDPOINT")]
    endpoint: Option<String>,
    /// The bucket's region (default `AWS_REGION`, else `us-east-1`).
    #[arg(long = "s3-region", env = "FIELDCASE_S3_REGION")]
    region: Option<String>,
    /// Allow a plain `http://` S3 endpoint (same host or a private network only).
    #[arg(long = "s3-allow-http", env = "FIELDCASE_S3_ALLOW_HTTP")]
    allow_http: bool,
}

impl ServeArgs {
    /// The settings in force: defaults, the file, the variables, then these flags.
    pub(crate) fn resolve(&self) -> Result<ServerConfig, fieldcase_server::ServerError> {
        let mut c = ServerConfig::load(self.config.as_deref(), |k| std::env::var(k).ok())?;
        let s = &mut c.server;
        if let Some(v) = &self.data {
            s.data = Some(v.clone());
        }
        if let Some(v) = self.listen {
            s.listen = v;
        }
        if let Some(v) = &self.database_url {
            s.database_url = Some(v.clone());
        }
        if let Some(v) = &self.tls_cert {
            s.tls_cert = Some(v.clone());
        }
        if let Some(v) = &self.tls_key {
            s.tls_key = Some(v.clone());
        }
        if self.allow_insecure_http {
            s.allow_insecure_http = true;
        }
        if !self.trusted_proxies.is_empty() {
            s.trusted_proxies = self.trusted_proxies.clone();
        }
        if let Some(v) = &self.key_dir {
            s.key_dir = Some(v.clone());
        }
        if let Some(v) = self.log_format {
            s.log_format = v;
        }
        self.blob_store.apply(&mut c.blobs);
        c.check()?;
        Ok(c)
    }
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// Held changes awaiting review (with --all, settled ones too).
    List {
        /// Also those already released or rejected.
        #[arg(long)]
        all: bool,
    },
    /// Merge the held changes into their document.
    Release {
        /// The item id (from `list`).
        id: i64,
    },
    /// Keep the held changes out for good.
    Reject {
        /// The item id (from `list`).
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the chain, every signature and the signed head; exits non-zero on any break.
    /// Without --public-key the key folder's audit key is used; with --head the chain must
    /// also still hold a head exported earlier and kept outside the server.
    Verify {
        /// A head file written by `export-head` (kept outside the server).
        #[arg(long, requires = "public_key")]
        head: Option<PathBuf>,
        /// The audit public key (hex) kept outside the server.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Write the chain's current head, signed with the key folder's audit key, with the
    /// public key, to a file to keep outside the server (print, another system, an auditor).
    ExportHead {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Who did what to one case, in order.
    Show {
        /// The case id.
        #[arg(long)]
        case: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new bureau PII key (the current one is retired and kept in `pii.retired`) and
    /// re-seal every party on the server under it. Stop the servers first and start them
    /// again after: phones receive the new key at their next sync.
    RotatePii,
    /// Re-seal under the current PII key every party still sealed under a retired one (those
    /// phones recorded offline before they learnt the new key); safe while servers run.
    ResealPii,
}

#[derive(Debug, Subcommand)]
enum CatalogueCommand {
    /// Validate a catalogue folder (`base/` and `profiles/ID/`) as phones will; prints every
    /// problem and exits non-zero when there is one.
    Check {
        /// The folder (the layout of `schemas/catalogue/`).
        dir: PathBuf,
        /// The jurisdiction profile (a folder under `profiles/`).
        #[arg(long, default_value = fieldcase_core::catalogue::BUILTIN_PROFILE)]
        profile: String,
    },
    /// Validate, sign with the server's key and publish a catalogue: it is in force for new
    /// cases and goes to every phone at its next sync. Its version must be newer than the one
    /// in force; a version published already with other content is refused.
    Publish {
        /// The folder (the layout of `schemas/catalogue/`).
        dir: PathBuf,
        /// The jurisdiction profile (a folder under `profiles/`).
        #[arg(long, default_value = fieldcase_core::catalogue::BUILTIN_PROFILE)]
        profile: String,
    },
    /// The built-in catalogue and every published one; the one in force is marked.
    List,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a unit.
    CreateUnit {
        /// Path, e.g. luan/jinan/squad-1.
        #[arg(long)]
        path: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Create a user.
    CreateUser {
        /// Id (officer or volunteer number).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// officer, volunteer, reviewer, supervisor or operator.
        #[arg(long)]
        role: String,
        /// Unit path.
        #[arg(long)]
        unit: String,
        /// An officer's enforcement certificate number (执法证号), printed on documents.
        #[arg(long)]
        cert_no: Option<String>,
    },
    /// Set (or with no --cert-no clear) an officer's enforcement certificate number.
    SetCert {
        /// User id.
        #[arg(long)]
        id: String,
        /// 执法证号.
        #[arg(long)]
        cert_no: Option<String>,
    },
    /// The ledger of document numbers: per series and year, numbers reserved, taken, still
    /// held by devices, skipped for good (gaps), taken twice, or taken outside a block.
    Numbers,
    /// Write a case's file (案卷: cover, contents, documents, evidence with hashes and checks)
    /// as one A4 PDF, with the party's personal data.
    CaseFile {
        /// The case id.
        #[arg(long)]
        case: String,
        /// The PDF to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a one-time enrolment code for a user.
    CreateCode {
        /// The user.
        #[arg(long)]
        user: String,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 72)]
        ttl_hours: i64,
        /// Server URL to put into the QR code.
        #[arg(long)]
        server_url: Option<String>,
        /// Write a QR code PNG here.
        #[arg(long)]
        qr: Option<PathBuf>,
        /// A certificate pin (`sha256/<base64>`, see `tls-pin`) to put into the QR code, so
        /// the phone enrols pinned; repeat for the next key. Needs --server-url and --qr.
        #[arg(long = "pin")]
        pins: Vec<String>,
    },
    /// List devices with their last sync and unfinished uploads.
    #[command(visible_alias = "devices")]
    ListDevices,
    /// Revoke a device: its next request is refused and it erases what `--wipe` says.
    #[command(visible_alias = "revoke")]
    RevokeDevice {
        /// Device id.
        #[arg(value_name = "DEVICE", required_unless_present = "id")]
        device: Option<String>,
        /// Device id (the older spelling of DEVICE).
        #[arg(long, conflicts_with = "device")]
        id: Option<String>,
        /// `all` (a lost or stolen phone) or `synced-only` (a phone in hand: records and
        /// evidence not yet synced stay for a handover).
        #[arg(long, default_value = "all", value_parser = ["all", "synced-only"])]
        wipe: String,
    },
    /// Revoke a user: every device (erasing what `--wipe` says), every dashboard session and
    /// every unused login link.
    RevokeUser {
        /// User id.
        #[arg(long)]
        id: String,
        /// `all` or `synced-only`, as for `revoke-device`.
        #[arg(long, default_value = "all", value_parser = ["all", "synced-only"])]
        wipe: String,
    },
    /// Copy the database (online: the embedded one, or with --database-url PostgreSQL with
    /// pg_dump) and then the blobs into a new folder, every file encrypted with age to the
    /// recipients given (or, only with --plain, unencrypted).
    Backup {
        /// The new backup folder.
        #[arg(long)]
        out: PathBuf,
        /// Copy only the blobs.
        #[arg(long)]
        blobs_only: bool,
        /// An age X25519 recipient (`age1...`, from age-keygen) to encrypt to; repeat for
        /// several (e.g. the operator's key and one kept in a safe).
        #[arg(long = "recipient", value_name = "AGE1...")]
        recipients: Vec<String>,
        /// A file of age recipients, one per line (`#` comments allowed).
        #[arg(long)]
        recipients_file: Option<PathBuf>,
        /// Write an unencrypted copy (the backup then holds every record and photo in the
        /// clear): only for a destination that is itself encrypted.
        #[arg(long, conflicts_with_all = ["recipients", "recipients_file"])]
        plain: bool,
    },
    /// Restore a backup folder into an empty data folder (--data) and, for a PostgreSQL
    /// backup, into the new, empty database of --database-url; phones are told (a new restore
    /// epoch) and send again what the backup lacks.
    Restore {
        /// The backup folder.
        #[arg(long)]
        from: PathBuf,
        /// The age identity file (`AGE-SECRET-KEY-1...`) of an encrypted backup.
        #[arg(long)]
        identity: Option<PathBuf>,
    },
    /// Check every document and blob; exits non-zero if anything is wrong.
    Verify,
    /// Changes written on revoked phones, held for review.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The access audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The server's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Write a bureau report (per unit and the total) of a unit subtree and period.
    Report {
        /// Unit subtree (default: the whole city).
        #[arg(long)]
        unit: Option<String>,
        /// Period start: YYYY-MM-DD (China time) or unix ms (default: all time).
        #[arg(long)]
        from: Option<String>,
        /// Period end: YYYY-MM-DD inclusive, or unix ms exclusive (default: all time).
        #[arg(long)]
        to: Option<String>,
        /// xlsx, csv or json.
        #[arg(long)]
        format: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the statistics of a unit subtree and period (`--json` for JSON).
    Stats {
        /// Unit subtree (default: the whole city).
        #[arg(long)]
        unit: Option<String>,
        /// Period start: YYYY-MM-DD (China time) or unix ms.
        #[arg(long)]
        from: Option<String>,
        /// Period end: YYYY-MM-DD inclusive, or unix ms exclusive.
        #[arg(long)]
        to: Option<String>,
    },
    /// Print a one-time dashboard login link for a reviewer or supervisor.
    DashboardLink {
        /// The user.
        #[arg(long)]
        user: String,
        /// The server's address as the browser reaches it.
        #[arg(long, default_value = "https://127.0.0.1:8443")]
        base_url: String,
        /// Minutes the link stays valid.
        #[arg(long, default_value_t = 15)]
        ttl_minutes: i64,
    },
    /// Publish and list catalogues.
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
    /// Verify a case-file package (zip) offline: history, signatures, files. Signing keys
    /// are checked against the devices this server enrolled (unless --no-trust-list). Exits
    /// non-zero on any finding.
    VerifyPackage {
        /// The package file.
        file: PathBuf,
        /// Do not check signing keys against this server's device register (e.g. a package
        /// from another bureau); the keys are still listed.
        #[arg(long)]
        no_trust_list: bool,
    },
}
