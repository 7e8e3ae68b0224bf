//! What the admin commands print: package reports, head files and TLS pins.

use fieldcase_server::{ServerError, admin};

/// Verifies a package, prints the report, and fails when anything was found.
pub(super) fn verify_package(
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
pub(super) fn read_head(path: &std::path::Path) -> Result<admin::ExportedHead, ServerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::Config(format!("head file {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| ServerError::Config(format!("head file {}: {e}", path.display())))
}

/// The pins of every certificate in a PEM file, in file order.
pub(super) fn tls_pins(cert: &std::path::Path) -> Result<Vec<String>, ServerError> {
    let pem = std::fs::read(cert)
        .map_err(|e| ServerError::Config(format!("TLS certificate {}: {e}", cert.display())))?;
    let pins = fieldcase_core::sync::SpkiPin::of_pem(&pem)
        .map_err(|e| ServerError::Config(format!("TLS certificate {}: {e}", cert.display())))?;
    Ok(pins.iter().map(ToString::to_string).collect())
}

/// Labels the pins of a chain file for a person: the first is the server's own key.
pub(super) fn pin_lines(pins: &[String]) -> Vec<String> {
    pins.iter()
        .enumerate()
        .map(|(i, p)| match i {
            0 => format!("{p}  certificate 1 (the server's own key)"),
            _ => format!("{p}  certificate {} (a CA in the chain)", i + 1),
        })
        .collect()
}

pub(super) fn print<T: serde::Serialize + std::fmt::Debug>(
    json: bool,
    v: &T,
) -> Result<(), ServerError> {
    if json {
        let s = serde_json::to_string_pretty(v).map_err(|e| ServerError::Config(e.to_string()))?;
        println!("{s}");
    } else {
        println!("{v:#?}");
    }
    Ok(())
}
