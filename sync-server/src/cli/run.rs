//! Runs a parsed command line.

use super::output::{pin_lines, print, read_head, tls_pins, verify_package};
use super::{
    AdminCommand, AuditCommand, CatalogueCommand, Cli, Command, KeysCommand, QuarantineCommand,
};
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::config::{LogFormat, ServerConfig};
use fieldcase_server::keys::{KeySource, ServerKeys};
use fieldcase_server::storage::{Role, Storage, open_storage};
use fieldcase_server::{AppState, Listen, ServerError, admin, catalogue, maintenance};
use std::sync::Arc;

/// Logging for this run: `serve` follows its settings; every other command writes text.
fn init_logging(format: LogFormat) {
    fieldcase_server::telemetry::init_logging(format);
}

/// `serve`: opens storage, keys and blobs as the settings say, serves until SIGTERM or
/// Ctrl-C, then drains.
async fn serve(config: ServerConfig) -> Result<(), ServerError> {
    let s = &config.server;
    let data = s
        .data
        .clone()
        .ok_or_else(|| ServerError::Config("no data folder".into()))?;
    // The pins phones enrol with, so the operator sees the key actually served.
    let pins = s.tls_cert.as_deref().map(tls_pins).transpose()?;
    let storage = fieldcase_server::storage::open_storage_with(
        &data,
        s.database_url.as_deref(),
        config.limits.db_pool_size,
    )
    .await?;
    let keys = KeySource::from_env(
        s.key_dir
            .clone()
            .unwrap_or_else(|| KeySource::default_dir(&data)),
    );
    let blobs = config
        .blobs
        .open(&data, config.limits.max_blob_bytes)
        .await?;
    tracing::info!(location = %blobs.location(), "evidence store");
    let mut state = AppState::with_blobs(storage, &keys, Arc::new(blobs))
        .await?
        .with_settings(config.limits.clone(), &config.rate);
    // Created on first start (announced to phones; a restore replaces it).
    fieldcase_server::restore_epoch::current(state.storage.as_ref()).await?;
    state.trusted_proxies = Arc::new(fieldcase_server::ratelimit::TrustedProxies::parse(
        &s.trusted_proxies,
    )?);
    let server = fieldcase_server::start(
        state,
        Listen {
            addr: s.listen,
            tls: s.tls_cert.clone().zip(s.tls_key.clone()),
            allow_insecure_http: s.allow_insecure_http,
        },
    )
    .await?;
    println!("listening on {}", server.addr);
    for line in pin_lines(&pins.unwrap_or_default()) {
        println!("TLS pin {line}");
    }
    stop_signal().await?;
    let grace = s.shutdown_grace_secs;
    eprintln!("stopping: no new connections; finishing requests in flight ({grace} s at most)");
    server.shutdown(std::time::Duration::from_secs(grace)).await
}

pub(crate) async fn run(cli: Cli) -> Result<(), ServerError> {
    if !matches!(cli.command, Command::Serve(_) | Command::Config(_)) {
        init_logging(LogFormat::Text);
    }
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            init_logging(config.server.log_format);
            serve(config).await
        }
        Command::Config(args) => {
            init_logging(LogFormat::Text);
            let config = args.resolve()?;
            print!("{}", config.to_toml_redacted()?);
            Ok(())
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
            config,
            blob_store,
            json,
            command,
        } => {
            let key_source =
                KeySource::from_env(key_dir.unwrap_or_else(|| KeySource::default_dir(&data)));
            let blob_settings = blob_store.resolve(config.as_deref())?;
            if blob_settings.url.is_some()
                && matches!(
                    command,
                    AdminCommand::Backup { .. } | AdminCommand::Restore { .. }
                )
            {
                // A backup that silently left the evidence out would not restore a case file.
                return Err(ServerError::Config(
                    "evidence is in object storage: `admin backup`/`restore` copy the folder \
                     store only. Back up the database (`admin backup` without --blob-store) and \
                     keep the bucket versioned or replicated by the object store (see \
                     docs/operator-guide.md, Backup and restore)"
                        .into(),
                ));
            }
            match &command {
                AdminCommand::Backup {
                    out,
                    blobs_only,
                    recipients,
                    recipients_file,
                    plain,
                } => {
                    if *plain {
                        let m = maintenance::backup(
                            &data,
                            out,
                            *blobs_only,
                            database_url.as_deref(),
                            !json,
                        )
                        .await?;
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
                        database_url.as_deref(),
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
                    let url = database_url.as_deref();
                    if fieldcase_server::sealed_backup::is_sealed(from)? {
                        let identity = identity.as_deref().ok_or_else(|| {
                            ServerError::Config(
                                "this backup is encrypted: give --identity FILE".into(),
                            )
                        })?;
                        let m =
                            fieldcase_server::sealed_backup::restore(from, &data, identity, url)
                                .await?;
                        return print(json, &m);
                    }
                    let m = maintenance::restore(from, &data, url, !json).await?;
                    return print(json, &m);
                }
                AdminCommand::CaseFile { case, out } => {
                    let storage = open_storage(&data, database_url.as_deref()).await?;
                    let blobs = blob_settings
                        .open(&data, fieldcase_server::app::DEFAULT_MAX_BLOB)
                        .await?;
                    let state = AppState::with_blobs(storage, &key_source, Arc::new(blobs)).await?;
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
                    let blobs = blob_settings.open(&data, u64::MAX).await?;
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

/// Waits for Ctrl-C or, on Unix, SIGTERM (what systemd, container runtimes and `kill` send):
/// either stops the server gracefully instead of killing it mid-request.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
