//! The catalogue is complete for what the code can say, and well formed.

use super::*;
use crate::CoreError;
use crate::evidence::IssueKind;
use crate::rules::{RefusalCode, Role};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Both languages, non-empty, the same placeholders.
fn assert_complete(code: &str) {
    for lang in Lang::ALL {
        let t = template(code, lang).unwrap_or_else(|| panic!("{code} has no {lang:?} text"));
        assert!(!t.trim().is_empty(), "{code} is empty in {lang:?}");
    }
}

/// Every `.rs` file under `dir`, without its `#[cfg(test)] mod tests` part.
fn sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs")
            && p.file_name().is_some_and(|n| n != "tests.rs")
            && let Ok(text) = std::fs::read_to_string(&p)
        {
            let cut = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
            out.push((p, text[..cut].to_string()));
        }
    }
}

/// The string literal given as first argument after each `prefix` in `text`.
fn first_literals<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = text[at + prefix.len()..].trim_start();
        if let Some(lit) = rest.strip_prefix('"')
            && let Some(end) = lit.find('"')
        {
            out.push(&lit[..end]);
        }
    }
    out
}

#[test]
fn every_text_has_both_languages_and_the_same_placeholders() {
    assert!(codes().count() > 200);
    for code in codes() {
        assert_complete(code);
        let (zh, en) = (template(code, Lang::ZhCn), template(code, Lang::En));
        assert_eq!(
            zh.map(placeholders),
            en.map(placeholders),
            "{code}: placeholders differ"
        );
        assert_ne!(zh, en, "{code}: the Chinese text is the English one");
    }
}

#[test]
fn codes_are_unique_across_files() {
    let dir = manifest().join("messages");
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut files = 0;
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        files += 1;
        let name = p.display().to_string();
        let table: toml::Table = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| t.parse().map_err(|e: toml::de::Error| e.to_string()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for code in table.keys() {
            if let Some(first) = seen.insert(code.clone(), name.clone()) {
                panic!("{code} is in both {first} and {name}");
            }
        }
    }
    assert!(files >= 7);
    // Every code of every file is compiled in: the build read the whole folder.
    assert_eq!(seen.len(), codes().count());
    assert!(seen.keys().all(|c| has(c)));
}

#[test]
fn text_fills_arguments_and_never_fails() {
    assert_eq!(
        text("error.too_large", Lang::En, &[("limit", "10")]).as_deref(),
        Some("The data exceeds the limit of 10 bytes; nothing was merged")
    );
    assert_eq!(
        text("error.too_large", Lang::ZhCn, &[("limit", "10")]).as_deref(),
        Some("数据超过 10 字节的上限，未合并任何内容")
    );
    // A missing argument stays visible; an unknown code is none.
    assert_eq!(
        text("error.too_large", Lang::En, &[]).as_deref(),
        Some("The data exceeds the limit of {limit} bytes; nothing was merged")
    );
    assert_eq!(text("error.no_such_thing", Lang::En, &[]), None);
    assert_eq!(fill("{a} and {b", &[("a", "1")]), "1 and {b");
    assert_eq!(fill("{}{x}", &[("x", "{y}")]), "{}{y}");
    assert_eq!(
        Message::new("error.no_such_thing").text(Lang::ZhCn),
        "error.no_such_thing"
    );
}

#[test]
fn labels_in_arguments_follow_the_language() {
    let m = Message::new("condition.tier_exemptable.unmet")
        .label("tier", "label.tier.serious")
        .labels(
            "tiers",
            vec!["label.tier.minor".into(), "label.tier.general".into()],
        );
    assert_eq!(
        m.text(Lang::ZhCn),
        "情节档次“较重”不在免罚范围内（可免罚档次：轻微、一般）"
    );
    assert_eq!(
        m.text(Lang::En),
        "Tier Serious is not exemptable (exemptable: Minor, General)"
    );
    // A value the catalogue has no label for shows as itself.
    let m = Message::new("invalid.field").label("field", "field.persuasion.outcome");
    assert_eq!(m.text(Lang::En), "persuasion.outcome is not valid");
}

/// Every refusal code; the `match` stops compiling when a code is added without it.
fn every_refusal() -> Vec<RefusalCode> {
    use RefusalCode as R;
    let all = vec![
        R::Malformed,
        R::OutOfScope,
        R::Immutable,
        R::HistoryAltered,
        R::ForgedAuthor,
        R::UnknownOfficer,
        R::UnknownViolation,
        R::InvalidAction,
        R::ExemptionInvalid,
        R::DecisionInvalid,
        R::SignatureInvalid,
        R::ReviewInvalid,
        R::CaseClosed,
        R::LifecycleInvalid,
        R::FlagCleared,
        R::ForeignActor,
        R::PenaltyUnlawful,
        R::ProcedureInvalid,
        R::DocumentInvalid,
    ];
    for c in &all {
        match c {
            R::Malformed
            | R::OutOfScope
            | R::Immutable
            | R::HistoryAltered
            | R::ForgedAuthor
            | R::UnknownOfficer
            | R::UnknownViolation
            | R::InvalidAction
            | R::ExemptionInvalid
            | R::DecisionInvalid
            | R::SignatureInvalid
            | R::ReviewInvalid
            | R::CaseClosed
            | R::LifecycleInvalid
            | R::FlagCleared
            | R::ForeignActor
            | R::PenaltyUnlawful
            | R::ProcedureInvalid
            | R::DocumentInvalid => {}
        }
    }
    all
}

#[test]
fn every_refusal_code_is_worded() {
    for c in every_refusal() {
        assert_complete(&format!("refused.{}", c.as_str()));
        let e: CoreError = crate::rules::Refusal {
            code: c,
            detail: "x".into(),
        }
        .into();
        assert_eq!(e.message().code, format!("refused.{}", c.as_str()));
    }
    for c in [
        crate::sync::wire::CODE_QUARANTINED,
        crate::sync::wire::CODE_DEFERRED,
        crate::sync::wire::CODE_TOO_LARGE,
    ] {
        assert_complete(&format!("refused.{c}"));
    }
}

#[test]
fn every_core_error_has_a_worded_code() {
    let io = || std::io::Error::other("x");
    let errors = vec![
        CoreError::UnknownViolationCode { code: "X".into() },
        CoreError::UnknownTier {
            code: "X".into(),
            tier: "minor".into(),
            party_type: "unit".into(),
        },
        CoreError::InvalidCoordinates {
            lat: 99.0,
            lon: 0.0,
        },
        CoreError::invalid("place.accuracy_m", "must be >= 0"),
        CoreError::invalid("no_such_field", "whatever"),
        CoreError::CaseClosed {
            case_id: "c".into(),
        },
        RefusalCode::ForgedAuthor.into_refusal(),
        CoreError::not_allowed("own_decision", "x"),
        CoreError::NotEligible {
            reasons: vec!["x".into()],
            unmet: vec![Message::new("condition.pledge.unmet")],
        },
        CoreError::not_found("follow-up", "f"),
        CoreError::not_found("evidence file", "f"),
        CoreError::MalformedDocument {
            doc_id: "d".into(),
            reason: "x".into(),
        },
        CoreError::Catalogue { reason: "x".into() },
        CoreError::Storage(rusqlite::Error::QueryReturnedNoRows),
        CoreError::WrongKey,
        CoreError::StoreInUse,
        CoreError::Automerge(automerge::AutomergeError::Fail),
        CoreError::Io {
            path: "p".into(),
            source: io(),
        },
        CoreError::PiiUnavailable {
            party_id: "p".into(),
        },
        CoreError::PartyMatchKeyUnavailable,
        CoreError::NoDocumentNumber {
            series: "罚".into(),
            year: 2026,
        },
        CoreError::Locked { since_ms: 1 },
        CoreError::Network { reason: "x".into() },
        CoreError::Unauthorized { wipe: None },
        CoreError::Server {
            status: 429,
            code: "rate_limited".into(),
            message: "x".into(),
        },
        CoreError::Server {
            status: 418,
            code: "teapot".into(),
            message: "x".into(),
        },
        CoreError::Protocol { reason: "x".into() },
        CoreError::Cancelled,
        CoreError::NotEnrolled,
        CoreError::CertificatePinMismatch,
        CoreError::DiskFull { path: "p".into() },
        CoreError::UnsupportedMedia {
            kind: "photo".into(),
            detail: "gif".into(),
        },
        CoreError::ImageTooLarge {
            width: 1,
            height: 1,
        },
        CoreError::TooLarge {
            what: "x".into(),
            limit: 1,
        },
        CoreError::MediaDecode {
            kind: "image".into(),
            reason: "x".into(),
        },
        CoreError::Signing { reason: "x".into() },
        CoreError::SegmentOutOfOrder {
            recording_id: "r".into(),
            index: 3,
        },
        CoreError::Package { reason: "x".into() },
        CoreError::BlobHashMismatch {
            expected: "a".into(),
            actual: "b".into(),
        },
        CoreError::MissingGlyphs {
            chars: "龘".into()
        },
        CoreError::Render("x".into()),
        CoreError::SchemaTooNew {
            found: 9,
            supported: 1,
        },
    ];
    for e in &errors {
        let m = e.message();
        assert_complete(&m.code);
        for lang in Lang::ALL {
            let t = m.text(lang);
            assert!(
                !t.contains('{'),
                "{e:?} leaves a placeholder in {lang:?}: {t}"
            );
        }
    }
    let said = |e: &CoreError| e.message().text(Lang::ZhCn);
    assert_eq!(said(&errors[9]), "本机没有该回访记录，请同步后再试");
    assert_eq!(errors[3].message().code, "invalid.place.accuracy_m");
    assert_eq!(errors[4].message().code, "invalid.field");
    assert_eq!(errors[24].message().code, "server.rate_limited");
    assert_eq!(errors[25].message().code, "error.server");
}

impl RefusalCode {
    fn into_refusal(self) -> CoreError {
        crate::rules::Refusal {
            code: self,
            detail: "x".into(),
        }
        .into()
    }
}

#[test]
fn every_not_allowed_code_is_worded() {
    let mut files = Vec::new();
    sources(&manifest().join("src"), &mut files);
    let mut n = 0;
    for (path, text) in &files {
        for code in first_literals(text, "not_allowed(") {
            n += 1;
            assert!(
                has(&format!("not_allowed.{code}")),
                "{}: not_allowed({code:?}) has no text",
                path.display()
            );
            assert_complete(&format!("not_allowed.{code}"));
        }
    }
    assert!(n >= 25, "found only {n} not_allowed sites");
}

#[test]
fn every_field_an_input_check_names_has_a_label() {
    let mut files = Vec::new();
    sources(&manifest().join("src"), &mut files);
    sources(&manifest().join("../ffi/src"), &mut files);
    let prefixes = [
        "CoreError::invalid(",
        "FieldcaseError::invalid(",
        "check_person(",
        "check_text(",
        "check_time(",
        "check_enrolled_author(",
        "key32(",
    ];
    let mut fields = std::collections::BTreeSet::new();
    for (_, text) in &files {
        for p in prefixes {
            fields.extend(first_literals(text, p));
        }
    }
    // Fields the FFI names when it maps core errors.
    fields.extend([
        "violation_code",
        "tier",
        "place",
        "catalogue",
        "file",
        "changes",
        "segment",
        "package",
        "text",
        "photo",
        "audio",
        "signature",
    ]);
    assert!(fields.len() > 60, "found only {} fields", fields.len());
    let missing: Vec<_> = fields.iter().filter(|f| !has(&field_label(f))).collect();
    assert!(missing.is_empty(), "fields without a label: {missing:?}");
}

#[test]
fn every_condition_is_worded_met_and_unmet() {
    let mut files = Vec::new();
    sources(&manifest().join("src/rules"), &mut files);
    sources(&manifest().join("src/store/ops"), &mut files);
    let mut n = 0;
    for (_, text) in &files {
        for (at, _) in text.match_indices("\"condition.") {
            let lit = &text[at + 1..];
            let code = &lit[..lit.find('"').unwrap_or(0)];
            if !code.contains('{') {
                n += 1;
                assert_complete(code);
            }
        }
        for code in first_literals(text, "met_or_not(") {
            n += 1;
            assert_complete(&format!("condition.{code}.met"));
            assert_complete(&format!("condition.{code}.unmet"));
        }
    }
    assert!(n >= 12, "found only {n} condition texts");
}

#[test]
fn every_verification_issue_and_role_has_a_label() {
    use IssueKind as I;
    let issues = [
        I::HistoryInvalid,
        I::HistoryMismatch,
        I::MalformedEntry,
        I::DuplicateEvidenceId,
        I::WrongRecord,
        I::SignatureInvalid,
        I::UnknownDeviceKey,
        I::BlobMissing,
        I::SignedAfterRevocation,
        I::BlobHashMismatch,
        I::BlobSizeMismatch,
        I::SegmentChainBroken,
        I::SegmentChainIncomplete,
        I::EvidenceRemoved,
        I::RedactionRemoved,
        I::RedactionInvalid,
        I::DecisionSignatureInvalid,
        I::ReviewSignatureInvalid,
        I::LifecycleSignatureInvalid,
        I::ManifestInvalid,
        I::ManifestSignatureInvalid,
        I::FileMismatch,
    ];
    // Exhaustive: a new kind stops this compiling until it is listed above.
    let _ = |k: I| match k {
        I::HistoryInvalid
        | I::HistoryMismatch
        | I::MalformedEntry
        | I::DuplicateEvidenceId
        | I::WrongRecord
        | I::SignatureInvalid
        | I::UnknownDeviceKey
        | I::BlobMissing
        | I::SignedAfterRevocation
        | I::BlobHashMismatch
        | I::BlobSizeMismatch
        | I::SegmentChainBroken
        | I::SegmentChainIncomplete
        | I::EvidenceRemoved
        | I::RedactionRemoved
        | I::RedactionInvalid
        | I::DecisionSignatureInvalid
        | I::ReviewSignatureInvalid
        | I::LifecycleSignatureInvalid
        | I::ManifestInvalid
        | I::ManifestSignatureInvalid
        | I::FileMismatch => (),
    };
    for k in issues {
        let wire = serde_json::to_value(k)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        assert_complete(&format!("label.verification_issue.{wire}"));
    }
    // `DecisionView.review_reasons` (core/src/rules/discretion.rs).
    let discretion =
        std::fs::read_to_string(manifest().join("src/rules/discretion.rs")).unwrap_or_default();
    let reasons = first_literals(&discretion, "review_reasons.push(");
    assert!(reasons.len() >= 4);
    for r in reasons {
        assert_complete(&format!("label.review_reason.{r}"));
    }
    for r in [
        Role::Officer,
        Role::Volunteer,
        Role::Reviewer,
        Role::Supervisor,
        Role::Operator,
    ] {
        assert_complete(&format!("label.role.{}", r.as_str()));
    }
}

#[test]
fn every_code_the_server_sends_is_worded() {
    let path = manifest().join("../sync-server/src/error.rs");
    let Ok(text) = std::fs::read_to_string(&path) else {
        panic!("cannot read {}", path.display());
    };
    let mut n = 0;
    for (at, _) in text.match_indices("StatusCode::") {
        let rest = &text[at..];
        let Some(comma) = rest.find(',') else {
            continue;
        };
        let after = rest[comma + 1..].trim_start();
        if let Some(lit) = after.strip_prefix('"')
            && let Some(end) = lit.find('"')
        {
            n += 1;
            assert_complete(&format!("server.{}", &lit[..end]));
        }
    }
    assert!(n >= 12, "found only {n} server codes");
}
