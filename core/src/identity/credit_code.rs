//! The unified social credit code of GB 32100-2015 (统一社会信用代码) that identifies a unit.
//!
//! Eighteen characters from a set of 31 (digits and capitals without I, O, S, V and Z, which
//! read like 1, 0, 5, U and 2): the registering department (1), the kind of organisation (1),
//! the registering authority's region code (6 digits), the organisation code of GB 11714 (9)
//! and a check character. The check is `31 - (Σ value × 3^(i-1) mod 31) mod 31`, looked up in
//! the same set.
//!
//! The organisation code's own check digit (position 17) is not tested: the standard's check
//! covers every position already. A few codes issued in the 2015 pilot areas (some in Fujian)
//! fail even the standard's check; such a unit is registered under `IdDocument::Other`, which
//! `docs/ffi.md` tells the app to offer.

use super::IdProblem;

/// The character set, in value order.
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// `3^(i-1) mod 31` for positions 1 to 17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn value(c: u8) -> Option<u32> {
    CHARSET
        .iter()
        .position(|&x| x == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// The check character of the first 17 characters of a credit code, or `None` when
/// `first17` is not 17 characters of the set.
///
/// Public so that test fixtures and generators can make valid codes.
pub fn credit_code_check_character(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (&c, w) in b.iter().zip(WEIGHTS) {
        sum += value(c)? * w;
    }
    let check = (31 - sum % 31) % 31;
    CHARSET.get(check as usize).map(|&c| char::from(c))
}

/// Checks a normalised (upper-cased, no spaces) credit code.
pub(super) fn check_credit_code(n: &str) -> Result<(), IdProblem> {
    let b = n.as_bytes();
    if !b.iter().all(|&c| value(c).is_some()) {
        return Err(IdProblem::Characters);
    }
    if b.len() != 18 {
        return Err(IdProblem::Length);
    }
    let region = &b[2..8];
    // Six digits; the first two a province-level code, or 10 for the central authorities.
    let province_ok = region.iter().all(u8::is_ascii_digit)
        && matches!(
            u32::from(region[0] - b'0') * 10 + u32::from(region[1] - b'0'),
            10..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65
        );
    if !province_ok {
        return Err(IdProblem::Region);
    }
    if credit_code_check_character(&n[..17]) != Some(char::from(b[17])) {
        return Err(IdProblem::CheckCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_check(first17: &str) -> String {
        let c = credit_code_check_character(first17).unwrap_or('?');
        format!("{first17}{c}")
    }

    #[test]
    fn the_check_character_follows_the_standard() {
        // The worked example of the standard's text: 91350100M000100Y4 checks to 3.
        assert_eq!(credit_code_check_character("91350100M000100Y4"), Some('3'));
        assert_eq!(check_credit_code("91350100M000100Y43"), Ok(()));
        assert_eq!(
            check_credit_code("91350100M000100Y4Z"),
            Err(IdProblem::Characters),
            "Z is not in the set"
        );
        assert_eq!(
            check_credit_code("91350100M000100Y4A"),
            Err(IdProblem::CheckCharacter)
        );
        assert_eq!(credit_code_check_character("91350100M000100Y"), None);
        assert_eq!(credit_code_check_character("91350100I000100Y4"), None);
    }

    #[test]
    fn lu_an_codes_pass_and_problems_are_named() {
        let good = with_check("92341502MA2N00017");
        assert_eq!(check_credit_code(&good), Ok(()));
        assert_eq!(check_credit_code(&with_check("91341503MA2TK0P1X")), Ok(()));
        assert_eq!(check_credit_code(&with_check("11100000000013127")), Ok(()));
        assert_eq!(check_credit_code(&good[..17]), Err(IdProblem::Length));
        assert_eq!(
            check_credit_code(&with_check("91991502MA2N00017")),
            Err(IdProblem::Region)
        );
        assert_eq!(
            check_credit_code(&with_check("9134150AMA2N00017")),
            Err(IdProblem::Region)
        );
        for banned in ['I', 'O', 'S', 'V', 'Z'] {
            let n = format!("{}{banned}{}", &good[..9], &good[10..]);
            assert_eq!(check_credit_code(&n), Err(IdProblem::Characters), "{n}");
        }
        // Every single-character change is caught.
        for i in 0..18 {
            for &c in CHARSET {
                let mut b = good.clone().into_bytes();
                if b[i] == c {
                    continue;
                }
                b[i] = c;
                let typo = String::from_utf8(b).unwrap_or_default();
                assert!(check_credit_code(&typo).is_err(), "{typo}");
            }
        }
    }
}
