//! Phone numbers as officers type them: mainland mobiles and landlines, service numbers, and
//! (for holders of non-mainland documents) international numbers.
//!
//! What is accepted and the form it is kept in:
//! - mobile: 11 digits `1[3-9]…`, with or without `+86`, `0086` or `86` in front → `13812345678`;
//! - landline: area code (`010`, `02X`, or `0` and three digits) and a subscriber number of 7 or
//!   8 digits not starting with 0 or 1, written with or without `+86` (which drops the area
//!   code's 0), hyphens, spaces or parentheses → `0564-3331234`; an extension after `转` (or
//!   after a last hyphen when the digits before it already make a whole number) →
//!   `0564-3331234转123`;
//! - service numbers `400` and `800` (10 digits) → `4008123123`, for units only: a person's
//!   phone must reach the person, and a company's switchboard does not;
//! - international: `+` or `00` then 7 to 15 digits (E.164), not starting with 0 →
//!   `+85291234567`, only when the party's document is not a mainland one.
//!
//! The kept form parses again to itself, so a number checked on one phone checks the same on
//! the server.

use super::PhoneProblem;

/// Longest input looked at (a number with spaces, prefix and extension is far shorter).
const MAX_INPUT_CHARS: usize = 40;
/// Longest extension.
const MAX_EXTENSION_DIGITS: usize = 6;

/// What the number may be, beyond a mainland mobile or landline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PhoneRules {
    /// A number with an international prefix other than +86.
    pub international: bool,
    /// A 400 or 800 service number.
    pub service: bool,
}

/// Checks `raw` and returns the kept form.
pub(super) fn normalise_phone(raw: &str, rules: PhoneRules) -> Result<String, PhoneProblem> {
    if raw.chars().count() > MAX_INPUT_CHARS {
        return Err(PhoneProblem::Length);
    }
    let raw: String = raw.trim().chars().map(narrow).collect();
    let (main, explicit_ext) = match raw.split_once('转') {
        Some((m, e)) => (m, Some(e.trim())),
        None => (raw.as_str(), None),
    };
    if main
        .chars()
        .any(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '+')))
    {
        return Err(PhoneProblem::Characters);
    }
    let compact: String = main
        .chars()
        .filter(|c| !matches!(c, ' ' | '(' | ')'))
        .collect();
    if compact.is_empty() {
        return Err(PhoneProblem::Length);
    }
    if compact[1..].contains('+') {
        return Err(PhoneProblem::Characters);
    }
    let explicit = match explicit_ext {
        Some(e) => Some(extension(e)?),
        None => None,
    };
    let groups: Vec<&str> = compact.split('-').collect();
    if groups.iter().any(|g| g.is_empty()) {
        return Err(PhoneProblem::Characters);
    }
    let digits: String = groups.concat();
    let (number, ext) = match national(&digits, rules) {
        Ok(n) => (n, explicit),
        // A last hyphen group the rest does without is an extension (`0564-3331234-123`).
        Err(problem) => match (groups.split_last(), explicit) {
            (Some((last, rest)), None) if !rest.is_empty() => {
                match national(&rest.concat(), rules) {
                    Ok(n @ Number::Landline(_)) => (n, Some(extension(last)?)),
                    _ => return Err(problem),
                }
            }
            _ => return Err(problem),
        },
    };
    match (number, ext) {
        (Number::Landline(n), Some(e)) => Ok(format!("{n}转{e}")),
        (Number::Landline(n) | Number::Other(n), None) => Ok(n),
        (Number::Other(_), Some(_)) => Err(PhoneProblem::Extension),
    }
}

enum Number {
    /// A landline, which may take an extension.
    Landline(String),
    /// A mobile, service or international number.
    Other(String),
}

/// Full-width digits and signs (typed on a Chinese keyboard) as ASCII.
fn narrow(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(u32::from(c) - 0xFF10 + u32::from('0')).unwrap_or(c),
        '＋' => '+',
        '－' | '—' | '–' => '-',
        '（' => '(',
        '）' => ')',
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn extension(e: &str) -> Result<String, PhoneProblem> {
    let e = e.trim();
    if e.is_empty() || e.len() > MAX_EXTENSION_DIGITS || !e.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhoneProblem::Extension);
    }
    Ok(e.to_string())
}

/// A number of digits (and a leading `+`), without separators or extension.
fn national(d: &str, rules: PhoneRules) -> Result<Number, PhoneProblem> {
    if let Some(intl) = d.strip_prefix('+').or_else(|| d.strip_prefix("00")) {
        if let Some(cn) = intl.strip_prefix("86") {
            return mainland_after_86(cn, rules);
        }
        if !rules.international {
            return Err(PhoneProblem::International);
        }
        if !(7..=15).contains(&intl.len()) || !intl.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneProblem::Length);
        }
        if intl.starts_with('0') {
            return Err(PhoneProblem::Characters);
        }
        return Ok(Number::Other(format!("+{intl}")));
    }
    if d.len() == 13 && d.starts_with("861") {
        return mainland_after_86(&d[2..], rules);
    }
    mainland(d, rules)
}

/// The national part after +86: a mobile, or a landline whose area code lost its 0.
fn mainland_after_86(d: &str, rules: PhoneRules) -> Result<Number, PhoneProblem> {
    if (d.starts_with('1') && d.len() == 11) || d.starts_with('0') {
        mainland(d, rules)
    } else {
        mainland(&format!("0{d}"), rules)
    }
}

fn mainland(d: &str, rules: PhoneRules) -> Result<Number, PhoneProblem> {
    let b = d.as_bytes();
    match b.first() {
        Some(b'1') => {
            if b.len() != 11 {
                return Err(PhoneProblem::Length);
            }
            if !(b'3'..=b'9').contains(&b[1]) {
                return Err(PhoneProblem::MobilePrefix);
            }
            Ok(Number::Other(d.to_string()))
        }
        Some(b'0') => landline(d).map(Number::Landline),
        Some(b'4' | b'8') if b.len() == 10 && (d.starts_with("400") || d.starts_with("800")) => {
            if rules.service {
                Ok(Number::Other(d.to_string()))
            } else {
                Err(PhoneProblem::ServiceNumber)
            }
        }
        // A local number without its area code.
        Some(b'2'..=b'9') if (7..=8).contains(&b.len()) => Err(PhoneProblem::AreaCode),
        _ => Err(PhoneProblem::Length),
    }
}

fn landline(d: &str) -> Result<String, PhoneProblem> {
    let b = d.as_bytes();
    let area_len = match (b.get(1), b.get(2)) {
        (Some(b'1'), Some(b'0')) | (Some(b'2'), Some(_)) => 3,
        (Some(b'3'..=b'9'), Some(_)) => 4,
        _ => return Err(PhoneProblem::AreaCode),
    };
    let Some(subscriber) = d.get(area_len..) else {
        return Err(PhoneProblem::Length);
    };
    if !(7..=8).contains(&subscriber.len()) {
        return Err(PhoneProblem::Length);
    }
    if subscriber.starts_with(['0', '1']) {
        return Err(PhoneProblem::Subscriber);
    }
    Ok(format!("{}-{subscriber}", &d[..area_len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAINLAND: PhoneRules = PhoneRules {
        international: false,
        service: false,
    };
    const UNIT: PhoneRules = PhoneRules {
        international: false,
        service: true,
    };
    const ABROAD: PhoneRules = PhoneRules {
        international: true,
        service: false,
    };

    #[test]
    fn mobiles_in_every_written_form() {
        for raw in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "0086 13812345678",
            "86 13812345678",
            "8613812345678",
            "１３８１２３４５６７８",
            " 13812345678 ",
        ] {
            assert_eq!(
                normalise_phone(raw, MAINLAND).as_deref(),
                Ok("13812345678"),
                "{raw}"
            );
        }
        assert_eq!(
            normalise_phone("19912345678", MAINLAND).as_deref(),
            Ok("19912345678")
        );
    }

    #[test]
    fn landlines_with_area_codes_and_extensions() {
        for (raw, kept) in [
            ("0564-3331234", "0564-3331234"),
            ("05643331234", "0564-3331234"),
            ("(0564) 333 1234", "0564-3331234"),
            ("0564-333-1234", "0564-3331234"),
            ("+86 564 3331234", "0564-3331234"),
            ("010-62345678", "010-62345678"),
            ("021 5123 4567", "021-51234567"),
            ("0564-3331234-123", "0564-3331234转123"),
            ("0564-3331234转123", "0564-3331234转123"),
            ("0564 3331234 转 8", "0564-3331234转8"),
            ("010-62345678-8001", "010-62345678转8001"),
        ] {
            assert_eq!(normalise_phone(raw, MAINLAND).as_deref(), Ok(kept), "{raw}");
            assert_eq!(
                normalise_phone(kept, MAINLAND).as_deref(),
                Ok(kept),
                "the kept form {kept} parses to itself"
            );
        }
    }

    #[test]
    fn each_problem_is_named() {
        let long = "1".repeat(41);
        for (raw, want) in [
            ("12812345678", PhoneProblem::MobilePrefix),
            ("1381234567", PhoneProblem::Length),
            ("138123456789", PhoneProblem::Length),
            ("1381234567a", PhoneProblem::Characters),
            ("138.1234.5678", PhoneProblem::Characters),
            ("138+12345678", PhoneProblem::Characters),
            ("3331234", PhoneProblem::AreaCode),
            ("0164-3331234", PhoneProblem::AreaCode),
            ("0564-0331234", PhoneProblem::Subscriber),
            ("0564-1331234", PhoneProblem::Subscriber),
            ("0564-33312", PhoneProblem::Length),
            ("0564-3331234转", PhoneProblem::Extension),
            ("0564-3331234转1234567", PhoneProblem::Extension),
            ("13812345678转12", PhoneProblem::Extension),
            ("+44 20 7946 0958", PhoneProblem::International),
            ("004420 7946 0958", PhoneProblem::International),
            ("400-812-3123", PhoneProblem::ServiceNumber),
            ("", PhoneProblem::Length),
            ("--", PhoneProblem::Characters),
            (long.as_str(), PhoneProblem::Length),
        ] {
            assert_eq!(normalise_phone(raw, MAINLAND), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn service_numbers_for_units_and_foreign_numbers_under_the_override() {
        assert_eq!(
            normalise_phone("400-812-3123", UNIT).as_deref(),
            Ok("4008123123")
        );
        assert_eq!(
            normalise_phone("800 812 3123", UNIT).as_deref(),
            Ok("8008123123")
        );
        assert_eq!(
            normalise_phone("+44 20 7946 0958", ABROAD).as_deref(),
            Ok("+442079460958")
        );
        assert_eq!(
            normalise_phone("00852 9123 4567", ABROAD).as_deref(),
            Ok("+85291234567")
        );
        // +86 keeps the mainland rules even under the override.
        assert_eq!(
            normalise_phone("+86 12812345678", ABROAD),
            Err(PhoneProblem::MobilePrefix)
        );
        assert_eq!(
            normalise_phone("+86 138 1234 5678", ABROAD).as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            normalise_phone("+44 123", ABROAD),
            Err(PhoneProblem::Length)
        );
        assert_eq!(
            normalise_phone("+0123456789", ABROAD),
            Err(PhoneProblem::Characters)
        );
    }
}
