//! Turns sheets into pages of positioned drawing operations.
//!
//! Positions are points (1/72 inch) from the top-left corner of the page, y growing
//! downwards. Text is measured with the font's own advances and wrapped by [`super::linebreak`],
//! so what the PDF writer draws is exactly what was measured. A4 sheets flow over as many
//! pages as they need, with the page number ("第 N 页 共 M 页") and footer on each; on a roll
//! everything is stacked in one column and the page is as long as its content.

use super::font::DocumentFont;
use super::images::{self, Picture};
use super::linebreak::{self, Line};
use super::{Block, Paper, Sheet};
use crate::Result;

/// Points per millimetre.
pub(crate) const MM: f32 = 72.0 / 25.4;

/// Characters the layout prints of its own (page numbers, date blanks, the QR caption), so
/// that a font without them is refused before anything is drawn.
pub(crate) const OWN_TEXT: &str = "第页共 0123456789：日期年月　扫码核验本文书";

/// The caption under the QR code.
pub(crate) const QR_CAPTION: &str = "扫码核验本文书";

/// One drawing operation.
#[derive(Clone)]
pub(crate) enum Op {
    /// One line of text; `spacing` is added after every character but the last.
    Text {
        x: f32,
        baseline: f32,
        size: f32,
        text: String,
        spacing: f32,
        bold: bool,
    },
    /// Rectangles filled in one gray (0 black, 255 white), as one path.
    Rects { rects: Vec<[f32; 4]>, gray: u8 },
    /// A straight line.
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
        dashed: bool,
    },
    /// An image in the box `[x, y, w, h]`.
    Image { rect: [f32; 4], picture: Picture },
}

/// A laid-out page.
pub(crate) struct PageOut {
    pub width: f32,
    pub height: f32,
    pub ops: Vec<Op>,
}

/// Sizes and measures of one paper.
pub(crate) struct Style {
    pub roll: bool,
    pub page_w: f32,
    pub page_h: f32,
    pub margin_l: f32,
    pub margin_r: f32,
    pub margin_t: f32,
    pub margin_b: f32,
    pub authority: f32,
    pub title: f32,
    pub number: f32,
    pub heading: f32,
    pub body: f32,
    pub table: f32,
    pub small: f32,
    pub leading: f32,
    pub signature_h: f32,
    pub qr: f32,
}

impl Style {
    pub(crate) fn for_paper(paper: Paper) -> Style {
        match paper {
            Paper::A4 => Style {
                roll: false,
                page_w: 210.0 * MM,
                page_h: 297.0 * MM,
                margin_l: 25.0 * MM,
                margin_r: 20.0 * MM,
                margin_t: 25.0 * MM,
                margin_b: 25.0 * MM,
                authority: 16.0,
                title: 22.0,
                number: 12.0,
                heading: 14.0,
                body: 12.0,
                table: 10.5,
                small: 9.0,
                leading: 1.6,
                signature_h: 16.0 * MM,
                qr: 28.0 * MM,
            },
            Paper::Roll58 | Paper::Roll80 => {
                let wide = paper == Paper::Roll80;
                let printable = if wide { 72.0 } else { 48.0 };
                let paper_w = if wide { 80.0 } else { 58.0 };
                let side = (paper_w - printable) / 2.0 * MM;
                let k = if wide { 1.15 } else { 1.0 };
                Style {
                    roll: true,
                    page_w: paper_w * MM,
                    page_h: f32::INFINITY,
                    margin_l: side,
                    margin_r: side,
                    margin_t: 3.0 * MM,
                    margin_b: 8.0 * MM,
                    authority: 9.5 * k,
                    title: 12.0 * k,
                    number: 8.0 * k,
                    heading: 9.5 * k,
                    body: 8.5 * k,
                    table: 8.0 * k,
                    small: 7.0 * k,
                    leading: 1.4,
                    signature_h: 13.0 * MM,
                    qr: if wide { 34.0 * MM } else { 30.0 * MM },
                }
            }
        }
    }

    pub(crate) fn text_width(&self) -> f32 {
        self.page_w - self.margin_l - self.margin_r
    }
}

/// Horizontal placement of a line within the text width.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

/// The cursor that places content on pages, opening a new page when one is full.
pub(crate) struct Flow<'a> {
    pub font: &'a DocumentFont,
    pub st: &'a Style,
    pub pages: Vec<Vec<Op>>,
    pub y: f32,
    pub bottom: f32,
    pub left: f32,
    pub width: f32,
    fresh: bool,
}

impl<'a> Flow<'a> {
    pub(crate) fn new(font: &'a DocumentFont, st: &'a Style, bottom: f32) -> Self {
        Flow {
            font,
            st,
            pages: vec![Vec::new()],
            y: st.margin_t,
            bottom,
            left: st.margin_l,
            width: st.text_width(),
            fresh: true,
        }
    }

    /// Height a whole empty page offers.
    pub(crate) fn page_room(&self) -> f32 {
        self.bottom - self.st.margin_t
    }

    /// Whether nothing was placed on the current page yet.
    pub(crate) fn fresh(&self) -> bool {
        self.fresh
    }

    /// Makes room for `h` points: a new page unless they fit (or the page is still empty).
    pub(crate) fn need(&mut self, h: f32) {
        if self.y + h > self.bottom + 0.01 && !self.fresh {
            self.new_page();
        }
    }

    pub(crate) fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = self.st.margin_t;
        self.fresh = true;
    }

    /// Vertical space, dropped at the top of a page.
    pub(crate) fn gap(&mut self, h: f32) {
        if !self.fresh {
            self.y += h;
        }
    }

    pub(crate) fn op(&mut self, op: Op) {
        if let Some(p) = self.pages.last_mut() {
            p.push(op);
        }
        self.fresh = false;
    }

    pub(crate) fn line_h(&self, size: f32) -> f32 {
        size * self.st.leading
    }

    /// Wraps `text` (no line feeds) at `size`.
    pub(crate) fn wrap(&self, text: &str, size: f32, first: f32, rest: f32) -> Vec<Line> {
        let font = self.font;
        // A tab is drawn as a space (`text_op`), so it is measured as one.
        linebreak::wrap(text, first, rest, &|c| {
            font.advance_em(if c == '\t' { ' ' } else { c }) * size
        })
    }

    /// Text op for one line whose box starts at `top` and is `line_h` tall.
    pub(crate) fn text_op(&self, x: f32, top: f32, line_h: f32, size: f32, text: &str) -> Op {
        let (asc, desc) = (self.font.ascent_em(), self.font.descent_em());
        let baseline = top + (line_h - (asc + desc) * size) / 2.0 + asc * size;
        Op::Text {
            x,
            baseline,
            size,
            text: text.replace('\t', " "),
            spacing: 0.0,
            bold: false,
        }
    }

    /// Places one line at the cursor (breaking the page first if needed).
    pub(crate) fn line(&mut self, line: &Line, size: f32, x: f32, avail: f32, how: LineStyle) {
        let lh = self.line_h(size);
        self.need(lh);
        let dx = match how.align {
            Align::Left => 0.0,
            Align::Center => (avail - line.width) / 2.0,
            Align::Right => avail - line.width,
        };
        let mut op = self.text_op(x + dx.max(0.0), self.y, lh, size, &line.text);
        if let Op::Text { spacing, bold, .. } = &mut op {
            *bold = how.bold;
            if how.justify {
                *spacing = justify(line, avail, size);
            }
        }
        self.op(op);
        self.y += lh;
    }

    /// Wraps and places a run of text (no line feeds).
    pub(crate) fn text(&mut self, text: &str, size: f32, indent: f32, how: LineStyle) {
        let (x, w) = (self.left, self.width);
        let lines = self.wrap(text, size, w - indent, w);
        let n = lines.len();
        for (i, l) in lines.iter().enumerate() {
            let ind = if i == 0 { indent } else { 0.0 };
            let how = LineStyle {
                justify: how.justify && i + 1 < n,
                ..how
            };
            self.line(l, size, x + ind, w - ind, how);
        }
    }
}

/// How a line is set.
#[derive(Clone, Copy)]
pub(crate) struct LineStyle {
    pub align: Align,
    pub bold: bool,
    pub justify: bool,
}

impl LineStyle {
    pub(crate) const LEFT: LineStyle = LineStyle {
        align: Align::Left,
        bold: false,
        justify: false,
    };
    pub(crate) const BODY: LineStyle = LineStyle {
        justify: true,
        ..LineStyle::LEFT
    };
    pub(crate) const CENTER_BOLD: LineStyle = LineStyle {
        align: Align::Center,
        bold: true,
        justify: false,
    };
}

/// Extra space between characters that makes `line` fill `avail`, if that space is small
/// enough to read as one word (a text extractor starts a new word at about 0.1 em).
fn justify(line: &Line, avail: f32, size: f32) -> f32 {
    let n = line.text.chars().count();
    if n < 2 {
        return 0.0;
    }
    let per = (avail - line.width) / (n - 1) as f32;
    if per > 0.0 && per <= 0.08 * size {
        per
    } else {
        0.0
    }
}

/// Lays out one sheet into its pages.
pub(crate) fn sheet(s: &Sheet, font: &DocumentFont, st: &Style) -> Result<Vec<PageOut>> {
    // Footer lines take their room at the bottom of every A4 page.
    let probe = Flow::new(font, st, f32::INFINITY);
    let footer_lines: Vec<Line> = s
        .footer
        .iter()
        .flat_map(|f| f.split('\n'))
        .flat_map(|p| probe.wrap(p, st.small, st.text_width(), st.text_width()))
        .collect();
    let footer_h = footer_lines.len() as f32 * probe.line_h(st.small);
    let bottom = if st.roll {
        f32::INFINITY
    } else {
        st.page_h - st.margin_b - footer_h - if footer_h > 0.0 { 2.0 * MM } else { 0.0 }
    };
    let mut flow = Flow::new(font, st, bottom);
    header(&mut flow, s);
    for block in &s.blocks {
        place(&mut flow, block)?;
    }
    if let Some(payload) = &s.qr {
        flow.qr(payload)?;
    }
    if st.roll {
        if !footer_lines.is_empty() {
            flow.gap(st.body);
            for l in &footer_lines {
                flow.line(l, st.small, flow.left, flow.width, LineStyle::LEFT);
            }
        }
        let height = flow.y + st.margin_b;
        let ops = flow.pages.into_iter().flatten().collect();
        return Ok(vec![PageOut {
            width: st.page_w,
            height,
            ops,
        }]);
    }
    let total = flow.pages.len();
    let mut out = Vec::with_capacity(total);
    for (i, mut ops) in std::mem::take(&mut flow.pages).into_iter().enumerate() {
        let lh = flow.line_h(st.small);
        let mut y = st.page_h - st.margin_b - footer_h;
        for l in &footer_lines {
            ops.push(flow.text_op(flow.left, y, lh, st.small, &l.text));
            y += lh;
        }
        let number = format!("第 {} 页 共 {} 页", i + 1, total);
        let w = font.width(&number, st.small);
        let x = (st.page_w - w) / 2.0;
        ops.push(flow.text_op(x, st.page_h - 16.0 * MM, lh, st.small, &number));
        out.push(PageOut {
            width: st.page_w,
            height: st.page_h,
            ops,
        });
    }
    Ok(out)
}

/// Authority, title and number, centred above the body.
fn header(flow: &mut Flow<'_>, s: &Sheet) {
    let st = flow.st;
    if !s.authority.trim().is_empty() {
        flow.text(
            s.authority.trim(),
            st.authority,
            0.0,
            LineStyle::CENTER_BOLD,
        );
    }
    if !s.title.trim().is_empty() {
        flow.gap(st.title * 0.15);
        flow.text(s.title.trim(), st.title, 0.0, LineStyle::CENTER_BOLD);
    }
    if let Some(n) = s.number.as_deref().filter(|n| !n.trim().is_empty()) {
        let how = LineStyle {
            align: if st.roll { Align::Center } else { Align::Right },
            ..LineStyle::LEFT
        };
        flow.text(n.trim(), st.number, 0.0, how);
    }
    flow.gap(st.body * 0.8);
}

fn place(flow: &mut Flow<'_>, block: &Block) -> Result<()> {
    let st = flow.st;
    match block {
        Block::Heading(t) => {
            flow.gap(st.heading * 0.5);
            // Keep a heading with the first line under it.
            flow.need(flow.line_h(st.heading) + flow.line_h(st.body));
            for p in t.lines() {
                flow.text(
                    p.trim(),
                    st.heading,
                    0.0,
                    LineStyle {
                        bold: true,
                        ..LineStyle::LEFT
                    },
                );
            }
        }
        Block::Paragraph(t) => {
            for p in t.lines() {
                let p = p.trim_start_matches([' ', '\u{3000}', '\t']).trim_end();
                flow.text(p, st.body, 2.0 * st.body, LineStyle::BODY);
            }
        }
        Block::Field { label, value } => flow.field(label, value),
        Block::Table {
            header,
            rows,
            widths,
        } => {
            if st.roll {
                flow.stacked_table(header, rows);
            } else {
                flow.table(header, rows, widths);
            }
        }
        Block::Image {
            caption,
            bytes,
            max_height_mm,
        } => {
            let picture = images::prepare(bytes)?;
            flow.picture(&picture, caption, *max_height_mm);
        }
        Block::Signatures(slots) => {
            let pictures = slots
                .iter()
                .map(|s| s.image.as_deref().map(images::prepare).transpose())
                .collect::<Result<Vec<_>>>()?;
            flow.signatures(slots, &pictures);
        }
        Block::PageBreak => {
            if st.roll {
                flow.cut_line();
            } else if !flow.fresh() {
                flow.new_page();
            }
        }
    }
    Ok(())
}
