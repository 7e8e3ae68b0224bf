//! The citizen identity number of GB 11643-1999 (公民身份号码), and the 18-digit foreign
//! permanent resident ID of 2023 that borrows its check.
//!
//! An 18-character number is six digits of region (the household registration's county under
//! GB/T 2260), eight of birth date, three of sequence and one check character computed by
//! ISO 7064 MOD 11-2. A typo in any one digit, and any swap of two different adjacent digits,
//! changes the check, which is why it is worth refusing at the counter: a mistyped number
//! would register a second party and the first-offence rule would miss the person.

use super::IdProblem;

/// Weights of the 17 body digits, `2^(17-i) mod 11`.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum mod 11.
const CHECK: &[u8; 11] = b"10X98765432";

/// The earliest birth year accepted: anyone born before 1900 holding a card is beyond what
/// an officer will meet, and such a number is far likelier a typo in the year.
const EARLIEST_YEAR: u32 = 1900;

/// Province-level codes in use (GB/T 2260), plus 71 (Taiwan, in the table though the
/// mainland issues no cards under it), 81 and 82 (Hong Kong and Macau residents' residence
/// permits, 港澳居民居住证, since 2018) and 83 (Taiwan residents' residence permits,
/// 台湾居民居住证, since 2018, region 830000). The permits follow GB 11643 exactly, so they
/// are checked as identity numbers.
fn province_in_use(p: u32) -> bool {
    matches!(p, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81..=83)
}

/// The check character of 17 body digits, or `None` when `first17` is not 17 ASCII digits.
///
/// Public so that test fixtures and generators can make valid numbers.
pub fn check_character(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK.get((sum % 11) as usize).map(|&c| char::from(c))
}

/// Checks a normalised (upper-cased, no spaces) citizen identity number against the clock's
/// date `today` (year, month, day, in China's time zone).
pub(super) fn check_id_number(n: &str, today: (u32, u32, u32)) -> Result<(), IdProblem> {
    let b = n.as_bytes();
    if !b.iter().all(|c| c.is_ascii_digit() || *c == b'X') {
        return Err(IdProblem::Characters);
    }
    if b.len() == 15 && b.iter().all(u8::is_ascii_digit) {
        return Err(IdProblem::FirstGeneration);
    }
    if b.len() != 18 {
        return Err(IdProblem::Length);
    }
    // X only as the check character.
    if !b[..17].iter().all(u8::is_ascii_digit) {
        return Err(IdProblem::Characters);
    }
    if !province_in_use(digits(&b[0..2])) {
        return Err(IdProblem::Region);
    }
    let (y, m, d) = (digits(&b[6..10]), digits(&b[10..12]), digits(&b[12..14]));
    if !real_date(y, m, d) || y < EARLIEST_YEAR || (y, m, d) > today {
        return Err(IdProblem::BirthDate);
    }
    if check_character(&n[..17]) != Some(char::from(b[17])) {
        return Err(IdProblem::CheckCharacter);
    }
    Ok(())
}

/// Checks a normalised foreign permanent resident ID (外国人永久居留身份证): the 18-digit
/// number issued since December 2023 (first digit 9, then digits, MOD 11-2 check as for
/// citizens), or the 15-character number of the 2004 and 2017 cards (three letters for the
/// nationality, then 12 digits), still valid until the card expires.
pub(super) fn check_permanent_resident(n: &str) -> Result<(), IdProblem> {
    let b = n.as_bytes();
    if !b.iter().all(u8::is_ascii_alphanumeric) {
        return Err(IdProblem::Characters);
    }
    match b.len() {
        18 => {
            if b[0] != b'9' || !b[..17].iter().all(u8::is_ascii_digit) {
                return Err(IdProblem::Characters);
            }
            if check_character(&n[..17]) != Some(char::from(b[17])) {
                return Err(IdProblem::CheckCharacter);
            }
            Ok(())
        }
        15 => {
            let ok =
                b[..3].iter().all(u8::is_ascii_uppercase) && b[3..].iter().all(u8::is_ascii_digit);
            if ok {
                Ok(())
            } else {
                Err(IdProblem::Characters)
            }
        }
        _ => Err(IdProblem::Length),
    }
}

fn digits(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, c| acc * 10 + u32::from(c - b'0'))
}

fn real_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// The civil date (year, month, day) in China (UTC+8, no daylight saving) at `unix_ms`.
pub(super) fn china_date(unix_ms: i64) -> (u32, u32, u32) {
    let days = (unix_ms + 8 * 3_600_000).div_euclid(86_400_000);
    let (y, m, d) = crate::store::projection::civil_from_days(days);
    (u32::try_from(y).unwrap_or(0), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (u32, u32, u32) = (2026, 12, 7);

    fn with_check(first17: &str) -> String {
        let c = check_character(first17).unwrap_or('?');
        format!("{first17}{c}")
    }

    #[test]
    fn the_check_character_follows_the_standard() {
        // The worked example printed in GB 11643-1999 (Beijing Chaoyang, 1949-12-31).
        assert_eq!(check_character("11010519491231002"), Some('X'));
        assert_eq!(check_character("34150219900307001"), Some('3'));
        assert_eq!(check_character("3415021990030700"), None);
        assert_eq!(check_character("3415021990030700A"), None);
    }

    #[test]
    fn valid_numbers_pass() {
        let numbers = [
            "11010519491231002X".to_string(),
            with_check("34150219900307001"),
            with_check("34150320000229002"),
            with_check("34150419011231003"),
            with_check("83000019880808004"),
            with_check("81000019950505005"),
        ];
        for n in &numbers {
            assert_eq!(check_id_number(n, TODAY), Ok(()), "{n}");
        }
    }

    #[test]
    fn each_problem_is_named() {
        let good = with_check("34150219900307001");
        let mut wrong_check = good[..17].to_string();
        wrong_check.push(if good.ends_with('0') { '1' } else { '0' });
        let cases = [
            (wrong_check, IdProblem::CheckCharacter),
            (with_check("34150219900230001"), IdProblem::BirthDate),
            (with_check("34150219000229001"), IdProblem::BirthDate),
            (with_check("34150220261208001"), IdProblem::BirthDate),
            (with_check("34150218991231001"), IdProblem::BirthDate),
            (with_check("34150219901301001"), IdProblem::BirthDate),
            (with_check("99150219900307001"), IdProblem::Region),
            (with_check("16150219900307001"), IdProblem::Region),
            (good[..17].to_string(), IdProblem::Length),
            (format!("{good}1"), IdProblem::Length),
            ("34150219900307A018".to_string(), IdProblem::Characters),
            ("3415021990030700X1".to_string(), IdProblem::Characters),
            ("341502900307001".to_string(), IdProblem::FirstGeneration),
        ];
        for (n, want) in cases {
            assert_eq!(check_id_number(&n, TODAY), Err(want), "{n}");
        }
        // Today is accepted, tomorrow is not.
        assert_eq!(
            check_id_number(&with_check("34150220261207001"), TODAY),
            Ok(())
        );
    }

    #[test]
    fn every_single_digit_typo_is_caught() {
        let good = with_check("34150219900307001");
        for i in 14..18 {
            for d in b'0'..=b'9' {
                let mut b = good.clone().into_bytes();
                if b[i] == d {
                    continue;
                }
                b[i] = d;
                let typo = String::from_utf8(b).unwrap_or_default();
                assert!(check_id_number(&typo, TODAY).is_err(), "{typo}");
            }
        }
    }

    #[test]
    fn permanent_resident_ids_of_both_generations() {
        let new = with_check("93115619850102001");
        assert_eq!(check_permanent_resident(&new), Ok(()));
        let mut bad = new[..17].to_string();
        bad.push(if new.ends_with('0') { '1' } else { '0' });
        assert_eq!(
            check_permanent_resident(&bad),
            Err(IdProblem::CheckCharacter)
        );
        assert_eq!(
            check_permanent_resident(&with_check("34150219900307001")),
            Err(IdProblem::Characters)
        );
        assert_eq!(check_permanent_resident("USA110085010112"), Ok(()));
        assert_eq!(
            check_permanent_resident("US1110085010112"),
            Err(IdProblem::Characters)
        );
        assert_eq!(
            check_permanent_resident("USA11008501"),
            Err(IdProblem::Length)
        );
    }

    #[test]
    fn china_date_turns_at_beijing_midnight() {
        // 2026-12-06T16:00:00Z is midnight of the 7th in Beijing.
        assert_eq!(china_date(1_796_572_800_000 - 1), (2026, 12, 6));
        assert_eq!(china_date(1_796_572_800_000), (2026, 12, 7));
        assert_eq!(china_date(0), (1970, 1, 1));
        assert_eq!(china_date(951_782_400_000), (2000, 2, 29));
    }
}
