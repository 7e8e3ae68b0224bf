//! Chinese line breaking: where a line may end, and greedy filling with real advances.
//!
//! The rules are those of Chinese typesetting (GB/T 15834 punctuation, the 禁则 of W3C
//! "Requirements for Chinese Text Layout"): a line may break between any two CJK characters,
//! but never before closing punctuation (，。、；：？！）》」』〕…) nor after opening
//! punctuation (（《「『〔…); a run of Latin letters or digits ("¥200.00", "2026-05-01") stays
//! whole unless it is longer than a line. A pair that may not be split moves to the next line
//! together (推入), so no punctuation hangs into the margin.

/// Characters that may not start a line.
fn no_start(c: char) -> bool {
    matches!(
        c,
        '，' | '。'
            | '、'
            | '；'
            | '：'
            | '？'
            | '！'
            | '）'
            | '》'
            | '」'
            | '』'
            | '〕'
            | '】'
            | '〗'
            | '〙'
            | '〛'
            | '〉'
            | '］'
            | '｝'
            | '”'
            | '’'
            | '…'
            | '‥'
            | '—'
            | '·'
            | '・'
            | '〃'
            | '々'
            | '〆'
            | '％'
            | '‰'
            | '℃'
            | '．'
            | '｡'
            | '､'
            | '｣'
            | ','
            | '.'
            | ';'
            | ':'
            | '?'
            | '!'
            | ')'
            | ']'
            | '}'
            | '%'
    )
}

/// Characters that may not end a line.
fn no_end(c: char) -> bool {
    matches!(
        c,
        '（' | '《'
            | '「'
            | '『'
            | '〔'
            | '【'
            | '〖'
            | '〘'
            | '〚'
            | '〈'
            | '［'
            | '｛'
            | '“'
            | '‘'
            | '('
            | '['
            | '{'
            | '¥'
            | '￥'
            | '$'
            | '№'
            | '＃'
    )
}

/// Characters that join into an unbreakable word with their neighbours: Latin letters,
/// digits and the punctuation found inside numbers, dates, plate numbers and addresses.
fn is_word_char(c: char) -> bool {
    (c.is_ascii_graphic() && !matches!(c, '(' | ')' | '[' | ']' | '{' | '}'))
        || (('\u{00A1}'..='\u{024F}').contains(&c) && !no_end(c))
}

/// One line of a wrapped paragraph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    /// The characters drawn (spaces at the break are dropped).
    pub text: String,
    /// Its width at the size it was wrapped for.
    pub width: f32,
}

/// An unbreakable piece: a CJK character, a word, or a run of spaces.
#[derive(Debug)]
struct Atom {
    start: usize,
    end: usize,
    space: bool,
}

fn atoms(text: &str) -> Vec<Atom> {
    let mut out: Vec<Atom> = Vec::new();
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        let space = c == ' ' || c == '\t' || c == '\u{3000}';
        if let Some(last) = out.last_mut() {
            let prev = text[..i].chars().next_back();
            let joins = prev.is_some_and(|p| {
                (space && last.space)
                    || (!space && !last.space && is_word_char(p) && is_word_char(c))
            });
            if joins {
                last.end = end;
                continue;
            }
        }
        out.push(Atom {
            start: i,
            end,
            space,
        });
    }
    out
}

/// Whether a line may break between `a` and `b` (adjacent atoms of `text`).
fn may_break(text: &str, a: &Atom, b: &Atom) -> bool {
    if b.space {
        return false; // spaces stay on the line they follow and are dropped at its end
    }
    let last = text[a.start..a.end].chars().next_back();
    let first = text[b.start..b.end].chars().next();
    !(last.is_some_and(no_end) || first.is_some_and(no_start))
}

/// Wraps `text` (no line feeds) into lines of at most `first` (the first line) and `rest`
/// (the others) points wide, measuring each character with `advance` (points).
pub(crate) fn wrap(text: &str, first: f32, rest: f32, advance: &dyn Fn(char) -> f32) -> Vec<Line> {
    let atoms = atoms(text);
    let width_of = |s: &str| s.chars().map(advance).sum::<f32>();
    // Groups of atoms between allowed breaks.
    let mut groups: Vec<(usize, usize)> = Vec::new(); // atom index ranges
    for i in 0..atoms.len() {
        match groups.last_mut() {
            Some(g) if !may_break(text, &atoms[i - 1], &atoms[i]) => g.1 = i + 1,
            _ => groups.push((i, i + 1)),
        }
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0.0f32;
    let limit = |n: usize| if n == 0 { first } else { rest };
    let push = |lines: &mut Vec<Line>, cur: &mut String, cur_w: &mut f32| {
        let trimmed = cur.trim_end_matches([' ', '\t', '\u{3000}']);
        let w = *cur_w - width_of(&cur[trimmed.len()..]);
        lines.push(Line {
            text: trimmed.to_string(),
            width: w.max(0.0),
        });
        cur.clear();
        *cur_w = 0.0;
    };
    for &(ga, gb) in &groups {
        let g = &text[atoms[ga].start..atoms[gb - 1].end];
        let gw = width_of(g);
        // Trailing spaces of a group never force a break.
        let ink = g.trim_end_matches([' ', '\t', '\u{3000}']);
        let ink_w = width_of(ink);
        if cur_w + ink_w <= limit(lines.len()) + 0.01 {
            cur.push_str(g);
            cur_w += gw;
            continue;
        }
        if !cur.is_empty() {
            push(&mut lines, &mut cur, &mut cur_w);
        }
        if ink_w <= limit(lines.len()) + 0.01 {
            if !(cur.is_empty() && g.trim().is_empty()) {
                cur.push_str(g);
                cur_w += gw;
            }
            continue;
        }
        // Longer than a whole line: break inside it, character by character.
        for c in g.chars() {
            let w = advance(c);
            if cur_w + w > limit(lines.len()) + 0.01 && !cur.is_empty() {
                push(&mut lines, &mut cur, &mut cur_w);
            }
            if cur.is_empty() && (c == ' ' || c == '\t') {
                continue;
            }
            cur.push(c);
            cur_w += w;
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        push(&mut lines, &mut cur, &mut cur_w);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CJK and fullwidth one em, everything else half.
    fn adv(c: char) -> f32 {
        if c.is_ascii() { 0.5 } else { 1.0 }
    }

    fn texts(t: &str, w: f32) -> Vec<String> {
        wrap(t, w, w, &adv).into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn breaks_anywhere_between_cjk_characters() {
        assert_eq!(texts("城市管理执法", 4.0), ["城市管理", "执法"]);
    }

    #[test]
    fn closing_punctuation_never_starts_a_line() {
        // "理。" would start the second line with 。; 理 moves down with it.
        assert_eq!(texts("城市管理。执法", 4.0), ["城市管", "理。执法"]);
        assert_eq!(texts("甲乙丙丁）。戊", 4.0), ["甲乙丙", "丁）。戊"]);
        for line in texts("当事人张三，男，汉族，住六安市金安区。", 3.0) {
            let c = line.chars().next().unwrap_or(' ');
            assert!(!no_start(c), "{line}");
        }
    }

    #[test]
    fn opening_punctuation_never_ends_a_line() {
        assert_eq!(
            texts("依据《条例》处理", 3.0),
            ["依据", "《条", "例》处", "理"]
        );
        for line in texts("罚款（¥200）（当场）「收据」〔2026〕", 3.0) {
            let c = line.chars().next_back().unwrap_or(' ');
            assert!(!no_end(c), "{line}");
        }
    }

    #[test]
    fn words_and_numbers_stay_whole() {
        // "¥200.00" is 3.5 em: it does not fit after 人民币 on a 5-em line and moves down whole.
        assert_eq!(texts("人民币¥200.00元", 5.0), ["人民币", "¥200.00元"]);
        assert_eq!(texts("plate AB1234 seen", 4.0), ["plate", "AB1234", "seen"]);
    }

    #[test]
    fn a_word_longer_than_a_line_is_split() {
        let lines = texts("0123456789abcdef", 3.0);
        assert_eq!(lines, ["012345", "6789ab", "cdef"]);
    }

    #[test]
    fn first_line_width_differs_and_empty_text_gives_one_line() {
        let l = wrap("一二三四五六", 2.0, 4.0, &adv);
        assert_eq!(l[0].text, "一二");
        assert_eq!(l[1].text, "三四五六");
        assert_eq!(wrap("", 5.0, 5.0, &adv).len(), 1);
    }

    #[test]
    fn widths_are_measured_without_trailing_spaces() {
        let l = wrap("ab cd", 1.5, 1.5, &adv);
        assert_eq!(
            l[0],
            Line {
                text: "ab".into(),
                width: 1.0
            }
        );
    }
}
