//! Amounts written out in capital numerals (大写金额), as decisions print them so a figure
//! cannot be altered by adding a digit.

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const SMALL: [&str; 4] = ["", "拾", "佰", "仟"];
const BIG: [&str; 4] = ["", "万", "亿", "万亿"];

/// Whole yuan in capitals: 200 → 贰佰元整, 1050 → 壹仟零伍拾元整, 0 → 零元整.
pub fn yuan_in_words(yuan: i64) -> String {
    if yuan <= 0 {
        return "零元整".into();
    }
    // Groups of four digits, lowest first.
    let mut groups = Vec::new();
    let mut n = yuan as u64;
    while n > 0 {
        groups.push((n % 10_000) as usize);
        n /= 10_000;
    }
    let mut out = String::new();
    let mut zero_pending = false;
    for (gi, &g) in groups.iter().enumerate().rev() {
        if g == 0 {
            zero_pending = !out.is_empty();
            continue;
        }
        if (zero_pending || g < 1000) && !out.is_empty() {
            out.push('零');
        }
        zero_pending = false;
        let digits = [g / 1000, g / 100 % 10, g / 10 % 10, g % 10];
        let mut inner_zero = false;
        let mut started = false;
        for (i, &d) in digits.iter().enumerate() {
            if d == 0 {
                inner_zero = started;
                continue;
            }
            if inner_zero {
                out.push('零');
                inner_zero = false;
            }
            started = true;
            out.push(DIGITS[d]);
            out.push_str(SMALL[3 - i]);
        }
        out.push_str(BIG.get(gi).copied().unwrap_or(""));
    }
    out.push_str("元整");
    out
}

/// A small count in Chinese numerals, as periods are written in documents: 3 → 三, 15 → 十五,
/// 60 → 六十; other numbers stay in figures.
pub fn count_zh(n: i64) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => D[n as usize].to_string(),
        10..=19 => format!("十{}", if n == 10 { "" } else { D[(n - 10) as usize] }),
        20..=99 => format!(
            "{}十{}",
            D[(n / 10) as usize],
            if n % 10 == 0 {
                ""
            } else {
                D[(n % 10) as usize]
            }
        ),
        _ => n.to_string(),
    }
}

/// 人民币贰佰元整（¥200.00）.
pub fn yuan_text(yuan: i64) -> String {
    format!("人民币{}（¥{yuan}.00）", yuan_in_words(yuan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals() {
        for (n, w) in [
            (0, "零元整"),
            (5, "伍元整"),
            (10, "壹拾元整"),
            (200, "贰佰元整"),
            (1050, "壹仟零伍拾元整"),
            (1005, "壹仟零伍元整"),
            (3000, "叁仟元整"),
            (20_000, "贰万元整"),
            (100_000, "壹拾万元整"),
            (100_500, "壹拾万零伍佰元整"),
            (1_000_001, "壹佰万零壹元整"),
            (12_345_678, "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元整"),
            (100_000_000, "壹亿元整"),
        ] {
            assert_eq!(yuan_in_words(n), w, "{n}");
        }
        assert_eq!(yuan_text(200), "人民币贰佰元整（¥200.00）");
        for (n, w) in [
            (3, "三"),
            (5, "五"),
            (10, "十"),
            (15, "十五"),
            (60, "六十"),
            (90, "九十"),
            (120, "120"),
        ] {
            assert_eq!(count_zh(n), w);
        }
    }
}
