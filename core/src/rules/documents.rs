//! The rules of issued documents: append-only and immutable; the issuer is the author on
//! their own device; the hash is the entry's; the fields are what the case gives; the number
//! is the issuing device's, taken once; a correction names a document of its kind; a receipt
//! names what it serves. The phone runs them before it writes a document, the server on every
//! document it merges, so a client that is not ours cannot raise a fine on a printed 决定书,
//! print another officer's name, or reuse a number.

use super::Refusal;
use super::author::Author;
use super::change::{RefusalCode, RuleContext, appended_typed, refuse, same_author};
use crate::catalogue::{Catalogue, PartyUse};
use crate::documents::fields::{DocumentFrame, derived_fields, number_year};
use crate::model::{CaseRecord, DocumentKind, IssuedDocument};
use std::collections::HashSet;

/// Longest text an officer types into a document (a question-and-answer record).
pub const MAX_INPUT_CHARS: usize = 20_000;

/// What a replica knows beyond the case when it checks documents: who holds and who used
/// document numbers, and the party blocks as the party records give them.
pub trait DocumentLedger {
    /// The device a block holding number `seq` of `series` in `year` was reserved for.
    fn holder(&self, series: &str, year: i32, seq: i64) -> Option<String>;
    /// The document that already took the number, if any is known.
    fn used_by(&self, series: &str, year: i32, seq: i64) -> Option<String>;
    /// Whether [`DocumentLedger::holder`] knows every block (the server): then a number of no
    /// known block is refused. A phone knows only its own blocks.
    fn complete(&self) -> bool;
    /// The SHA-256 of party `party_id`'s block as its record gives it, when this replica can
    /// open the party's personal data (the server, with the bureau's keys); `None` skips the
    /// check.
    fn party_sha256(&self, _party_id: &str) -> Option<String> {
        None
    }
}

/// The ledger of a replica that knows no blocks (lets numbers through for the server).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLedger;

impl DocumentLedger for NoLedger {
    fn holder(&self, _: &str, _: i32, _: i64) -> Option<String> {
        None
    }
    fn used_by(&self, _: &str, _: i32, _: i64) -> Option<String> {
        None
    }
    fn complete(&self) -> bool {
        false
    }
}

fn invalid<T>(detail: impl Into<String>) -> Result<T, Refusal> {
    refuse(RefusalCode::DocumentInvalid, detail)
}

/// Checks the documents `after` adds to `b`.
pub(super) fn check_documents(
    b: &CaseRecord,
    after: &CaseRecord,
    author: &Author,
    case_cat: &Catalogue,
    ctx: &RuleContext<'_>,
) -> Result<(), Refusal> {
    let new = appended_typed("documents", &b.documents, &after.documents, |d| &d.id)?;
    let mut numbers_seen = HashSet::new();
    for d in &after.documents {
        if let Some(n) = &d.number
            && !numbers_seen.insert((n.series.as_str(), n.year, n.seq))
        {
            return invalid(format!("number {} is used twice on the case", n.text));
        }
    }
    for d in new {
        check_one(d, after, author, case_cat, ctx)?;
    }
    Ok(())
}

fn check_one(
    d: &IssuedDocument,
    case: &CaseRecord,
    author: &Author,
    case_cat: &Catalogue,
    ctx: &RuleContext<'_>,
) -> Result<(), Refusal> {
    same_author("documents.issued_by", &d.issued_by, author)?;
    if d.issued_on_device != author.device_id {
        return refuse(
            RefusalCode::ForgedAuthor,
            "documents.issued_on_device must name the device that wrote it",
        );
    }
    if let Some(now) = ctx.now_ms
        && d.issued_at_ms > now + super::change::MAX_CLOCK_AHEAD_MS
    {
        return refuse(
            RefusalCode::ProcedureInvalid,
            "a document may not be dated ahead of the clock",
        );
    }
    if d.sha256 != d.compute_sha256() {
        return invalid(format!("document {} does not match its hash", d.id));
    }
    let doc_cat = ctx.catalogue(&d.catalogue_version)?;
    let Some(templates) = doc_cat.documents() else {
        return invalid(format!(
            "catalogue {} has no document templates",
            d.catalogue_version
        ));
    };
    let Some(template) = templates.get(d.kind) else {
        return invalid(format!("no template for {}", d.kind.as_str()));
    };
    // Earlier documents on the case: what a correction or a receipt may name.
    let pos = case
        .documents
        .iter()
        .position(|x| x.id == d.id)
        .unwrap_or(case.documents.len());
    let earlier = &case.documents[..pos];
    check_number(
        d,
        template.series.as_deref(),
        templates,
        author,
        ctx.numbers,
    )?;
    if let Some(r) = &d.replaces {
        let Some(old) = earlier.iter().find(|x| &x.id == r) else {
            return invalid("a correction names an earlier document of the case");
        };
        if old.kind != d.kind {
            return invalid("a correction replaces a document of its own kind");
        }
        if earlier
            .iter()
            .any(|x| x.replaces.as_deref() == Some(r.as_str()))
        {
            return invalid("that document was already replaced");
        }
    }
    if d.serves.is_some() != (d.kind == DocumentKind::ServiceReceipt) {
        return invalid("only a service receipt names the document it serves");
    }
    let want_decision = match d.kind {
        DocumentKind::OnTheSpotDecision | DocumentKind::PenaltyDecision => {
            case.decision.as_ref().map(|x| x.id.clone())
        }
        _ => None,
    };
    if d.decision_id != want_decision {
        return invalid("decision_id must name the case's decision on a decision document");
    }
    match (template.party, &case.party, &d.party_sha256) {
        (PartyUse::Required, None, _) => {
            return invalid(format!("a {} needs the party", d.kind.as_str()));
        }
        (_, Some(_), None) => return invalid("the party block's hash is missing"),
        (_, None, Some(_)) => return invalid("a party hash on a case without a party"),
        (_, Some(p), Some(printed)) => {
            if let Some(actual) = ctx.numbers.party_sha256(&p.party_id)
                && &actual != printed
            {
                return invalid("the party block printed is not the party's record");
            }
        }
        _ => {}
    }
    let derived = derived_fields(
        DocumentFrame::of(d),
        case,
        earlier,
        case_cat,
        doc_cat,
        ctx.directory,
    )?;
    for (k, v) in &derived {
        if d.fields.get(k) != Some(v) {
            return invalid(format!("field {k} differs from what the case gives"));
        }
    }
    let mut typed = 0;
    for (k, v) in &d.fields {
        if derived.contains_key(k) {
            continue;
        }
        if !template.inputs.iter().any(|i| &i.name == k) {
            return invalid(format!("unknown field {k}"));
        }
        typed += v.chars().count();
    }
    if typed > MAX_INPUT_CHARS {
        return invalid("the typed fields are too long");
    }
    for i in template.inputs.iter().filter(|i| i.required) {
        if d.fields.get(&i.name).is_none_or(|v| v.trim().is_empty()) {
            return invalid(format!("{} needs {}", d.kind.as_str(), i.name));
        }
    }
    Ok(())
}

fn check_number(
    d: &IssuedDocument,
    series: Option<&str>,
    templates: &crate::catalogue::DocumentTemplates,
    author: &Author,
    ledger: &dyn DocumentLedger,
) -> Result<(), Refusal> {
    let (n, series) = match (&d.number, series) {
        (None, None) => return Ok(()),
        (Some(n), Some(s)) => (n, s),
        (None, Some(_)) => return invalid(format!("a {} carries a number", d.kind.as_str())),
        (Some(_), None) => return invalid(format!("a {} is not numbered", d.kind.as_str())),
    };
    if n.series != series
        || n.year != number_year(d.issued_at_ms)
        || n.seq < 1
        || n.text != templates.format_number(series, n.year, n.seq)
    {
        return invalid(format!(
            "number {} is not of the series and year of the document",
            n.text
        ));
    }
    match ledger.holder(&n.series, n.year, n.seq) {
        Some(dev) if dev == author.device_id => {}
        Some(_) => return invalid(format!("number {} belongs to another device", n.text)),
        None if ledger.complete() => {
            return invalid(format!("number {} was never reserved", n.text));
        }
        None => {}
    }
    if let Some(other) = ledger.used_by(&n.series, n.year, n.seq)
        && other != d.id
    {
        return invalid(format!("number {} was already used", n.text));
    }
    Ok(())
}
