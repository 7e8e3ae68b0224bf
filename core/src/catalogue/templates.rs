//! The document templates of a jurisdiction (执法文书格式): data in the profile's
//! `documents.json`, versioned with the rest of the catalogue, so a document issued under one
//! catalogue version is re-drawn from that version's template forever after.
//!
//! A template is a list of blocks whose text holds `{placeholders}`. Which placeholders exist
//! is fixed here ([`KNOWN_FIELDS`], [`PARTY_FIELDS`]) and every template is checked against
//! them when the catalogue loads, so a typo in the data is refused before any phone prints a
//! document with a hole in it.

use super::Confirmable;
use crate::model::DocumentKind;
use serde::{Deserialize, Serialize};

/// The templates of one catalogue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentTemplates {
    /// The bureau's abbreviation in document numbers (`六城管`).
    pub number_prefix: Confirmable<String>,
    /// How a number is written: `{prefix}{series}〔{year}〕{seq}号`.
    pub number_format: String,
    /// One template per document kind.
    pub templates: Vec<Template>,
}

/// How a document treats the party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyUse {
    /// The document is addressed to the party: no party, no document.
    Required,
    /// The party is printed when known (a scene record may precede identification).
    Optional,
}

/// One document's template.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Template {
    /// Which document.
    pub kind: DocumentKind,
    /// Printed title.
    pub title: String,
    /// The number series (`罚`); unnumbered documents (笔录, 送达回证) have none.
    #[serde(default)]
    pub series: Option<String>,
    /// Whether the party must be known.
    pub party: PartyUse,
    /// The articles the document itself rests on (not the violation's, which come from the
    /// item).
    pub basis: Vec<TemplateBasis>,
    /// What the officer types when issuing (the questions and answers of an inquiry, how a
    /// document was served).
    #[serde(default)]
    pub inputs: Vec<TemplateInput>,
    /// The body, in order.
    pub blocks: Vec<TemplateBlock>,
}

/// An article a document rests on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateBasis {
    /// Law id in the catalogue's law table.
    pub law: String,
    /// Article.
    #[serde(default)]
    pub article: Option<String>,
    /// Whether the article was read in a public text.
    pub confirmed: bool,
    /// The article's words, as read.
    #[serde(default)]
    pub text: Option<String>,
}

/// A value the officer supplies when issuing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateInput {
    /// The field name it fills.
    pub name: String,
    /// What the form asks.
    pub label: String,
    /// Whether issuing needs it.
    pub required: bool,
}

/// One block of a template.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateBlock {
    /// A section heading.
    Heading {
        /// Text with placeholders.
        text: String,
    },
    /// Body text.
    Paragraph {
        /// Text with placeholders.
        text: String,
        /// Printed only when this field is non-empty.
        #[serde(default)]
        when: Option<String>,
    },
    /// `label：value`.
    Field {
        /// Label.
        label: String,
        /// Text with placeholders.
        text: String,
        /// Printed only when this field is non-empty.
        #[serde(default)]
        when: Option<String>,
    },
    /// Photos of the case (display copies, redacted ones left out), at most `max`.
    Photos {
        /// How many.
        max: usize,
    },
    /// The questions and answers of an inquiry (the `qa` input, one line each).
    Qa,
    /// The issuing authority and the date, where the seal goes.
    Seal,
    /// Signature lines.
    Signatures {
        /// Who signs.
        slots: Vec<SignatureUse>,
    },
}

/// One signature line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureUse {
    /// Printed label.
    pub label: String,
    /// `party` (the captured signature evidence, if any) or `officers`.
    pub who: String,
}

/// Every field the document builder fills from the case, the catalogue and the roster.
pub const KNOWN_FIELDS: &[&str] = &[
    "authority",
    "issued_date",
    "issued_at",
    "case_ref",
    "document_number",
    "occurred_at",
    "place",
    "violation_name",
    "violation_facts",
    "officers",
    "basis_prohibition",
    "basis_penalty",
    "basis_correction",
    "basis_exemption",
    "penalty_text",
    "amount_yuan",
    "amount_words",
    "payment_text",
    "correction_deadline",
    "correction_items",
    "pledge_text",
    "pledge_deadline",
    "exemption_reason",
    "proposed_penalty_text",
    "prior_notice_date",
    "statement_days",
    "hearing_text",
    "rights_text",
    "served_title",
    "served_number",
];

/// The party's fields: printed from the party record at render time, never stored in the
/// case (they are personal data); the document binds them by hash.
pub const PARTY_FIELDS: &[&str] = &[
    "party_name",
    "party_id_number",
    "party_address",
    "party_phone",
];

impl DocumentTemplates {
    /// The template of `kind`.
    pub fn get(&self, kind: DocumentKind) -> Option<&Template> {
        self.templates.iter().find(|t| t.kind == kind)
    }

    /// Writes a number in the bureau's form.
    pub fn format_number(&self, series: &str, year: i32, seq: i64) -> String {
        self.number_format
            .replace("{prefix}", &self.number_prefix.value)
            .replace("{series}", series)
            .replace("{year}", &year.to_string())
            .replace("{seq}", &seq.to_string())
    }

    /// Every problem of the templates, each in a sentence: kinds missing or doubled, unknown
    /// placeholders, inputs colliding with builder fields, series shared by two kinds.
    pub fn problems(&self, law_known: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        for k in DocumentKind::ALL {
            match self.templates.iter().filter(|t| t.kind == k).count() {
                0 => out.push(format!("documents: no template for {}", k.as_str())),
                1 => {}
                _ => out.push(format!("documents: two templates for {}", k.as_str())),
            }
        }
        for f in ["{prefix}", "{series}", "{year}", "{seq}"] {
            if !self.number_format.contains(f) {
                out.push(format!("documents: number_format lacks {f}"));
            }
        }
        let mut series = std::collections::BTreeMap::new();
        for t in &self.templates {
            let name = t.kind.as_str();
            if let Some(s) = &t.series
                && let Some(other) = series.insert(s.clone(), name)
            {
                out.push(format!("documents: series {s} used by {other} and {name}"));
            }
            for b in &t.basis {
                if !law_known(&b.law) {
                    out.push(format!("documents: {name} cites unknown law {}", b.law));
                }
            }
            let inputs: Vec<&str> = t.inputs.iter().map(|i| i.name.as_str()).collect();
            for i in &inputs {
                if KNOWN_FIELDS.contains(i) || PARTY_FIELDS.contains(i) {
                    out.push(format!(
                        "documents: {name} input {i} collides with a built field"
                    ));
                }
            }
            let known = |f: &str| {
                KNOWN_FIELDS.contains(&f) || PARTY_FIELDS.contains(&f) || inputs.contains(&f)
            };
            for b in &t.blocks {
                let (texts, when): (Vec<&str>, Option<&str>) = match b {
                    TemplateBlock::Heading { text } => (vec![text], None),
                    TemplateBlock::Paragraph { text, when } => (vec![text], when.as_deref()),
                    TemplateBlock::Field { label, text, when } => {
                        (vec![label, text], when.as_deref())
                    }
                    TemplateBlock::Qa => {
                        if !inputs.contains(&"qa") {
                            out.push(format!("documents: {name} has a qa block but no qa input"));
                        }
                        (vec![], None)
                    }
                    _ => (vec![], None),
                };
                for text in texts {
                    match placeholders(text) {
                        Err(e) => out.push(format!("documents: {name}: {e}")),
                        Ok(ps) => {
                            for p in ps {
                                if !known(p) {
                                    out.push(format!(
                                        "documents: {name} uses unknown field {{{p}}}"
                                    ));
                                }
                            }
                        }
                    }
                }
                if let Some(w) = when
                    && !known(w)
                {
                    out.push(format!(
                        "documents: {name} is conditional on unknown field {w}"
                    ));
                }
            }
            if !matches!(t.blocks.last(), Some(TemplateBlock::Signatures { .. })) {
                out.push(format!(
                    "documents: {name} does not end with its signatures"
                ));
            }
        }
        out
    }
}

/// The placeholder names of `text`, in order; an unclosed or nested brace is an error.
pub fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed brace in {text:?}"))?;
        let name = &after[..close];
        if name.is_empty() || name.contains('{') {
            return Err(format!("bad placeholder in {text:?}"));
        }
        out.push(name);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("stray brace in {text:?}"));
    }
    Ok(out)
}

/// Fills the placeholders of `text` with `value(name)`; `None` for a name means the field is
/// missing, which the caller reports.
pub fn fill(text: &str, value: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed brace in {text:?}"))?;
        let name = &after[..close];
        out.push_str(&value(name).ok_or_else(|| name.to_string())?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_checked() {
        assert_eq!(
            placeholders("经查，{party_name}于{occurred_at}").ok(),
            Some(vec!["party_name", "occurred_at"])
        );
        assert!(placeholders("{unclosed").is_err());
        assert!(placeholders("stray}").is_err());
        assert!(placeholders("{}").is_err());
    }

    #[test]
    fn fill_reports_the_missing_field() {
        let v = |n: &str| (n == "a").then(|| "甲".to_string());
        assert_eq!(fill("{a}和{a}", &v).ok(), Some("甲和甲".into()));
        assert_eq!(fill("{a}和{b}", &v).err(), Some("b".into()));
    }
}
