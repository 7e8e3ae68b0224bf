//! `fieldcase-server`: serve, and the operator's admin commands.

use clap::{Parser, Subcommand};
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::blobs::BlobDir;
use fieldcase_server::keys::{KeySource, ServerKeys};
use fieldcase_server::storage::{Role, Storage, open_storage};
use fieldcase_server::{AppState, Listen, ServerError, admin, catalogue, maintenance};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "fieldcase-server", version, about = "fieldcase sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve {
        /// Data folder (SQLite file and blobs), created on first start.
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// PostgreSQL URL instead of the embedded SQLite database.
        #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// PEM certificate chain for TLS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS.
        #[arg(long, requires = "tls_cert")]
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
    },
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
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: AdminCommand,
    },
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
    /// Copy the embedded database (online) and the blobs into a new folder, every file
    /// encrypted with age to the recipients given (or, only with --plain, unencrypted).
    Backup {
        /// The new backup folder.
        #[arg(long)]
        out: PathBuf,
        /// Copy only the blobs (the database is PostgreSQL: use pg_dump for it).
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
    /// Restore a backup folder into an empty data folder (--data).
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

/// Verifies a package, prints the report, and fails when anything was found.
fn verify_package(
    file: &std::path::Path,
    trusted: Option<&[String]>,
    json: bool,
) -> Result<(), ServerError> {
    let report = match trusted {
        Some(keys) => fieldcase_core::evidence::verify_package_with_keys(file, keys),
        None => fieldcase_core::evidence::verify_package(file),
    }
    .map_err(|e| ServerError::BadRequest(format!("package {}: {e}", file.display())))?;
    if json {
        print(true, &report)?;
    } else {
        println!(
            "record {}: {} change(s), {} evidence entr(ies), {} signature(s), {} file(s) checked",
            report.record_id,
            report.changes,
            report.evidence_checked,
            report.signatures_checked,
            report.blobs_checked
        );
        for k in &report.device_keys {
            println!("signed by device key {k}");
        }
        for i in &report.issues {
            println!(
                "FINDING {:?}{}: {}",
                i.kind,
                i.evidence_id
                    .as_deref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default(),
                i.detail
            );
        }
        if report.is_clean() {
            println!("OK: no findings");
        }
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(ServerError::Config(format!(
            "{} finding(s) in {}",
            report.issues.len(),
            file.display()
        )))
    }
}

/// Reads a head file written by `admin audit export-head`.
fn read_head(path: &std::path::Path) -> Result<admin::ExportedHead, ServerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::Config(format!("head file {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| ServerError::Config(format!("head file {}: {e}", path.display())))
}

/// The pins of every certificate in a PEM file, in file order.
fn tls_pins(cert: &std::path::Path) -> Result<Vec<String>, ServerError> {
    let pem = std::fs::read(cert)
        .map_err(|e| ServerError::Config(format!("TLS certificate {}: {e}", cert.display())))?;
    let pins = fieldcase_core::sync::SpkiPin::of_pem(&pem)
        .map_err(|e| ServerError::Config(format!("TLS certificate {}: {e}", cert.display())))?;
    Ok(pins.iter().map(ToString::to_string).collect())
}

/// Labels the pins of a chain file for a person: the first is the server's own key.
fn pin_lines(pins: &[String]) -> Vec<String> {
    pins.iter()
        .enumerate()
        .map(|(i, p)| match i {
            0 => format!("{p}  certificate 1 (the server's own key)"),
            _ => format!("{p}  certificate {} (a CA in the chain)", i + 1),
        })
        .collect()
}

fn print<T: serde::Serialize + std::fmt::Debug>(json: bool, v: &T) -> Result<(), ServerError> {
    if json {
        let s = serde_json::to_string_pretty(v).map_err(|e| ServerError::Config(e.to_string()))?;
        println!("{s}");
    } else {
        println!("{v:#?}");
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), ServerError> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            database_url,
            tls_cert,
            tls_key,
            allow_insecure_http,
            trusted_proxies,
            key_dir,
        } => {
            // The pins phones enrol with, so the operator sees the key actually served.
            let pins = tls_cert.as_deref().map(tls_pins).transpose()?;
            let storage = open_storage(&data, database_url.as_deref()).await?;
            let keys =
                KeySource::from_env(key_dir.unwrap_or_else(|| KeySource::default_dir(&data)));
            let mut state = AppState::new(
                storage,
                &keys,
                data.join("blobs"),
                fieldcase_server::app::DEFAULT_MAX_BLOB,
            )
            .await?;
            state.trusted_proxies = Arc::new(fieldcase_server::ratelimit::TrustedProxies::parse(
                &trusted_proxies,
            )?);
            let server = fieldcase_server::start(
                state,
                Listen {
                    addr: listen,
                    tls: tls_cert.zip(tls_key),
                    allow_insecure_http,
                },
            )
            .await?;
            println!("listening on {}", server.addr);
            for line in pin_lines(&pins.unwrap_or_default()) {
                println!("TLS pin {line}");
            }
            tokio::signal::ctrl_c().await?;
            server.shutdown(std::time::Duration::from_secs(10)).await
        }
        Command::TlsPin { cert, json } => {
            let pins = tls_pins(&cert)?;
            if json {
                print(true, &pins)
            } else {
                for line in pin_lines(&pins) {
                    println!("{line}");
                }
                Ok(())
            }
        }
        Command::Admin {
            data,
            database_url,
            key_dir,
            json,
            command,
        } => {
            let key_source =
                KeySource::from_env(key_dir.unwrap_or_else(|| KeySource::default_dir(&data)));
            match &command {
                AdminCommand::Backup {
                    out,
                    blobs_only,
                    recipients,
                    recipients_file,
                    plain,
                } => {
                    if database_url.is_some() && !blobs_only {
                        return Err(ServerError::Config(
                            "back up a PostgreSQL database with pg_dump, and its blobs with \
                             `admin backup --blobs-only`"
                                .into(),
                        ));
                    }
                    if *plain {
                        let m = maintenance::backup(&data, out, *blobs_only, !json).await?;
                        return print(json, &m);
                    }
                    let recipients = fieldcase_server::sealed_backup::parse_recipients(
                        recipients,
                        recipients_file.as_deref(),
                    )?;
                    if recipients.is_empty() {
                        return Err(ServerError::Config(
                            "backups are encrypted: give --recipient age1... (or \
                             --recipients-file), or --plain for an unencrypted copy"
                                .into(),
                        ));
                    }
                    let m = fieldcase_server::sealed_backup::backup(
                        &data,
                        out,
                        recipients,
                        *blobs_only,
                        !json,
                    )
                    .await?;
                    return print(json, &m);
                }
                AdminCommand::VerifyPackage {
                    file,
                    no_trust_list: true,
                } => return verify_package(file, None, json),
                AdminCommand::Catalogue {
                    command: CatalogueCommand::Check { dir, profile },
                } => {
                    // Needs no database: an operator checks a catalogue before touching one.
                    let (_, checked) = catalogue::check(dir, profile)?;
                    if json {
                        return print(json, &checked);
                    }
                    println!(
                        "catalogue {} ({}) is valid: {} item(s), {} file(s), {} bytes, sha256 {}",
                        checked.version,
                        checked.jurisdiction,
                        checked.items,
                        checked.files,
                        checked.size,
                        checked.digest
                    );
                    return Ok(());
                }
                AdminCommand::Restore { from, identity } => {
                    if database_url.is_some() {
                        return Err(ServerError::Config(
                            "restore a PostgreSQL database with pg_restore or psql".into(),
                        ));
                    }
                    if fieldcase_server::sealed_backup::is_sealed(from)? {
                        let identity = identity.as_deref().ok_or_else(|| {
                            ServerError::Config(
                                "this backup is encrypted: give --identity FILE".into(),
                            )
                        })?;
                        let m =
                            fieldcase_server::sealed_backup::restore(from, &data, identity).await?;
                        return print(json, &m);
                    }
                    let m = maintenance::restore(from, &data, !json).await?;
                    return print(json, &m);
                }
                AdminCommand::CaseFile { case, out } => {
                    let storage = open_storage(&data, database_url.as_deref()).await?;
                    let state = AppState::new(
                        storage,
                        &key_source,
                        data.join("blobs"),
                        fieldcase_server::app::DEFAULT_MAX_BLOB,
                    )
                    .await?;
                    let bytes = fieldcase_server::supervision::case_file::write_case_file(
                        &state, case, out,
                    )
                    .await?;
                    return print(
                        json,
                        &serde_json::json!({ "case": case, "out": out, "bytes": bytes }),
                    );
                }
                _ => {}
            }
            let s: Arc<dyn Storage> = open_storage(&data, database_url.as_deref()).await?;
            let s = s.as_ref();
            let keys = || ServerKeys::load(&key_source, s);
            match command {
                AdminCommand::CreateUnit { path, name } => {
                    print(json, &admin::create_unit(s, &path, &name).await?)
                }
                AdminCommand::CreateUser {
                    id,
                    name,
                    role,
                    unit,
                    cert_no,
                } => {
                    let role = Role::parse(&role)
                        .ok_or_else(|| ServerError::BadRequest(format!("unknown role {role}")))?;
                    let user = admin::create_user(s, &id, &name, role, &unit).await?;
                    if cert_no.is_some() {
                        admin::set_cert_no(s, &id, cert_no.as_deref()).await?;
                    }
                    print(json, &user)
                }
                AdminCommand::SetCert { id, cert_no } => {
                    admin::set_cert_no(s, &id, cert_no.as_deref()).await?;
                    print(json, &serde_json::json!({ "user": id, "cert_no": cert_no }))
                }
                AdminCommand::Numbers => print(json, &admin::number_ledger(s).await?),
                AdminCommand::CreateCode {
                    user,
                    ttl_hours,
                    server_url,
                    qr,
                    pins,
                } => print(
                    json,
                    &admin::create_pinned_code(
                        s,
                        &user,
                        ttl_hours,
                        server_url.as_deref(),
                        &pins,
                        qr.as_deref(),
                    )
                    .await?,
                ),
                AdminCommand::ListDevices => print(json, &maintenance::devices(s).await?),
                AdminCommand::Verify => {
                    let blobs = BlobDir::open(data.join("blobs"), u64::MAX)?;
                    let report = maintenance::verify(s, &blobs, !json).await?;
                    print(json, &report)?;
                    if report.ok() {
                        Ok(())
                    } else {
                        Err(ServerError::Config(format!(
                            "{} problem(s) found",
                            report.problems.len()
                        )))
                    }
                }
                AdminCommand::Quarantine { command } => match command {
                    QuarantineCommand::List { all } => {
                        let items = fieldcase_server::quarantine::list(s, all).await?;
                        if json {
                            print(json, &items)
                        } else {
                            for q in &items {
                                println!(
                                    "{:>5}  {:<9} {} {} {}  revoked {}  via {} ({})  {} change(s)",
                                    q.id,
                                    q.status.as_str(),
                                    q.received_at_ms,
                                    q.kind.as_str(),
                                    q.doc_id,
                                    q.revoked_devices,
                                    q.sender_device,
                                    q.sender_user,
                                    q.hashes.split(' ').count()
                                );
                            }
                            Ok(())
                        }
                    }
                    QuarantineCommand::Release { id } => {
                        let k = keys().await?;
                        print(
                            json,
                            &fieldcase_server::quarantine::release(s, &k.signing_key, id).await?,
                        )
                    }
                    QuarantineCommand::Reject { id } => {
                        let k = keys().await?;
                        print(
                            json,
                            &fieldcase_server::quarantine::reject(s, &k.signing_key, id).await?,
                        )
                    }
                },
                AdminCommand::Audit {
                    command: AuditCommand::Verify { head, public_key },
                } => {
                    let public_key = match public_key {
                        Some(hex) => admin::parse_public_key(&hex)?,
                        None => keys().await?.signing_key.verifying_key(),
                    };
                    let external = head.as_deref().map(read_head).transpose()?;
                    if let Some(h) = &external
                        && admin::parse_public_key(&h.public_key)? != public_key
                    {
                        return Err(ServerError::Config(
                            "the head file was signed by another key than --public-key".into(),
                        ));
                    }
                    let check = admin::audit_verify(s, &public_key, external.as_ref()).await?;
                    if json {
                        print(json, &check)?;
                    } else if check.ok {
                        match check.external_head_seq {
                            Some(seq) => println!(
                                "audit trail intact: {} entries, holds the exported head {seq}, \
                                 key {}",
                                check.entries, check.public_key
                            ),
                            None => println!(
                                "audit trail intact: {} entries, key {}",
                                check.entries, check.public_key
                            ),
                        }
                    }
                    match check.problem {
                        None => Ok(()),
                        Some(p) => Err(ServerError::Config(format!("audit trail broken: {p}"))),
                    }
                }
                AdminCommand::Audit {
                    command: AuditCommand::ExportHead { out },
                } => {
                    let k = keys().await?;
                    let head = admin::audit_export_head(s, &k.signing_key).await?;
                    let text = serde_json::to_string_pretty(&head)
                        .map_err(|e| ServerError::Config(e.to_string()))?;
                    let tmp = out.with_extension("partial");
                    std::fs::write(&tmp, format!("{text}\n"))?;
                    std::fs::rename(&tmp, &out)?;
                    if json {
                        print(json, &head)
                    } else {
                        println!(
                            "audit head {} written to {}; audit public key {}",
                            head.head.seq,
                            out.display(),
                            head.public_key
                        );
                        Ok(())
                    }
                }
                AdminCommand::Audit {
                    command: AuditCommand::Show { case },
                } => {
                    let entries = admin::audit_for_case(s, &case).await?;
                    if json {
                        print(json, &entries)
                    } else {
                        for e in &entries {
                            println!(
                                "{:>6}  {}  {:<12} {:<20} {}",
                                e.seq, e.event.at_ms, e.event.action, e.event.actor, e.event.detail
                            );
                        }
                        Ok(())
                    }
                }
                AdminCommand::Keys {
                    command: KeysCommand::RotatePii,
                } => {
                    let r = fieldcase_server::pii_rotation::rotate(&key_source, s).await?;
                    if json {
                        print(json, &r)
                    } else {
                        println!(
                            "PII key {} retired (kept for reading), {} current; {} of {} \
                             parties re-sealed, {} sealed under a key the server does not \
                             hold. Start the servers again: phones get the new key at their \
                             next sync.",
                            r.rotation.retired_key_id,
                            r.rotation.new_key_id,
                            r.reseal.resealed,
                            r.reseal.parties,
                            r.reseal.not_opened
                        );
                        Ok(())
                    }
                }
                AdminCommand::Keys {
                    command: KeysCommand::ResealPii,
                } => {
                    let r = fieldcase_server::pii_rotation::reseal(&key_source, s).await?;
                    if json {
                        print(json, &r)
                    } else {
                        println!(
                            "{} of {} parties re-sealed, {} under the current key already, {} \
                             sealed under a key the server does not hold",
                            r.resealed, r.parties, r.current, r.not_opened
                        );
                        Ok(())
                    }
                }
                AdminCommand::VerifyPackage { file, .. } => {
                    let keys: Vec<String> = s
                        .devices()
                        .await?
                        .into_iter()
                        .map(|d| d.public_key)
                        .collect();
                    verify_package(&file, Some(&keys), json)
                }
                AdminCommand::Backup { .. }
                | AdminCommand::Restore { .. }
                | AdminCommand::CaseFile { .. } => Ok(()),
                AdminCommand::Catalogue { command } => match command {
                    CatalogueCommand::Check { .. } => Ok(()),
                    CatalogueCommand::Publish { dir, profile } => {
                        let k = keys().await?;
                        let p = catalogue::publish(s, &k.signing_key, &dir, &profile).await?;
                        if json {
                            print(json, &p)
                        } else {
                            match p.newly_published {
                                true => println!(
                                    "catalogue {} published ({} bytes, sha256 {}); in force for \
                                     new cases, sent to phones at their next sync",
                                    p.version, p.size, p.digest
                                ),
                                false => println!(
                                    "catalogue {} was published already with this content; \
                                     nothing changed",
                                    p.version
                                ),
                            }
                            Ok(())
                        }
                    }
                    CatalogueCommand::List => {
                        let all = catalogue::list(s).await?;
                        if json {
                            print(json, &all)
                        } else {
                            for c in &all {
                                println!(
                                    "{} {:<12} {:<9} {:>14} {:>8} B  sha256 {}",
                                    if c.current { "*" } else { " " },
                                    c.version,
                                    c.source,
                                    c.published_at_ms,
                                    c.size,
                                    c.digest
                                );
                            }
                            Ok(())
                        }
                    }
                },
                AdminCommand::RevokeDevice { device, id, wipe } => {
                    let id = device.or(id).unwrap_or_default();
                    let wipe = WipeScope::parse(&wipe).ok_or_else(|| {
                        ServerError::BadRequest(format!("--wipe {wipe} is not all or synced-only"))
                    })?;
                    let k = keys().await?;
                    print(
                        json,
                        &admin::revoke_device(s, &k.signing_key, &id, wipe).await?,
                    )
                }
                AdminCommand::RevokeUser { id, wipe } => {
                    let wipe = WipeScope::parse(&wipe).ok_or_else(|| {
                        ServerError::BadRequest(format!("--wipe {wipe} is not all or synced-only"))
                    })?;
                    let k = keys().await?;
                    print(
                        json,
                        &admin::revoke_user(s, &k.signing_key, &id, wipe).await?,
                    )
                }
                AdminCommand::Report {
                    unit,
                    from,
                    to,
                    format,
                    out,
                } => {
                    let k = keys().await?;
                    let written = admin::write_report(
                        s,
                        &k.signing_key,
                        unit.as_deref(),
                        from.as_deref(),
                        to.as_deref(),
                        &format,
                        &out,
                    )
                    .await?;
                    print(json, &written)
                }
                AdminCommand::Stats { unit, from, to } => {
                    let stats =
                        admin::stats(s, unit.as_deref(), from.as_deref(), to.as_deref()).await?;
                    if json {
                        print(json, &stats)
                    } else {
                        println!("{}", admin::stats_text(&stats));
                        Ok(())
                    }
                }
                AdminCommand::DashboardLink {
                    user,
                    base_url,
                    ttl_minutes,
                } => {
                    let link = fieldcase_server::supervision::routes::issue_login_link(
                        s,
                        &user,
                        &base_url,
                        ttl_minutes,
                    )
                    .await?;
                    if json {
                        print(json, &link)
                    } else {
                        println!("{}", link.url);
                        Ok(())
                    }
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
