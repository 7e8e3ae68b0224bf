//! Placing the blocks that are more than running text: labelled fields, tables, pictures,
//! signature slots, the QR code.

use super::images::Picture;
use super::layout::{Align, Flow, LineStyle, MM, Op, QR_CAPTION};
use super::linebreak::Line;
use super::{SignatureSlot, qr};
use crate::Result;

/// Table cell padding, points.
const PAD_X: f32 = 3.0;
const PAD_Y: f32 = 2.5;
/// Rule width, points.
const RULE: f32 = 0.5;
/// Gray of a table's header row.
const HEADER_GRAY: u8 = 232;

/// The wrapped text of one signature slot.
struct SlotText {
    label: Vec<Line>,
    below: Vec<Line>,
}

/// A table row: each cell's wrapped lines.
type Row = Vec<Vec<Line>>;

impl Flow<'_> {
    /// "当事人：" then the value, its later lines hanging under the value's first.
    pub(crate) fn field(&mut self, label: &str, value: &str) {
        let size = self.st.body;
        let label_w = self.font.width(label, size);
        let (x, w) = (self.left, self.width);
        // A label longer than about half the line puts the value under it, indented.
        let (hang, label_alone) = if label_w > w * 0.45 {
            (2.0 * size, true)
        } else {
            (label_w, false)
        };
        // Each line with whether it ends its paragraph (those are not justified).
        let mut lines: Vec<(Line, bool)> = Vec::new();
        for p in value.lines() {
            let wrapped = self.wrap(p.trim_end(), size, w - hang, w - hang);
            let n = wrapped.len();
            lines.extend(
                wrapped
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| (l, i + 1 == n)),
            );
        }
        if label_alone || lines.is_empty() {
            let label_line = Line {
                text: label.to_string(),
                width: label_w,
            };
            self.line(&label_line, size, x, w, LineStyle::LEFT);
        }
        let lh = self.line_h(size);
        for (i, (l, last)) in lines.iter().enumerate() {
            if i == 0 && !label_alone {
                // Label and first value line share a line and a page.
                self.need(lh);
                let op = self.text_op(x, self.y, lh, size, label);
                self.op(op);
            }
            let how = LineStyle {
                justify: !last,
                ..LineStyle::LEFT
            };
            self.line(l, size, x + hang, w - hang, how);
        }
    }

    fn row_lines(&self, cells: &[String], cols: &[f32]) -> Row {
        let size = self.st.table;
        cols.iter()
            .enumerate()
            .map(|(i, cw)| {
                let text = cells.get(i).map(String::as_str).unwrap_or("");
                let inner = (cw - 2.0 * PAD_X).max(size);
                text.lines()
                    .flat_map(|p| self.wrap(p.trim(), size, inner, inner))
                    .collect()
            })
            .collect()
    }

    fn row_height(&self, row: &Row) -> f32 {
        let n = row.iter().map(Vec::len).max().unwrap_or(0).max(1);
        n as f32 * self.line_h(self.st.table) + 2.0 * PAD_Y
    }

    /// Draws `row` (all of it) at the cursor, without checking the page.
    fn draw_row(&mut self, row: &Row, cols: &[f32], shaded: bool) {
        let size = self.st.table;
        let lh = self.line_h(size);
        let h = self.row_height(row);
        let (top, w) = (self.y, cols.iter().sum::<f32>());
        if shaded {
            self.op(Op::Rects {
                rects: vec![[self.left, top, w, h]],
                gray: HEADER_GRAY,
            });
        }
        let mut x = self.left;
        for (cell, cw) in row.iter().zip(cols) {
            for (i, l) in cell.iter().enumerate() {
                let op = self.text_op(x + PAD_X, top + PAD_Y + i as f32 * lh, lh, size, &l.text);
                self.op(op);
            }
            x += cw;
        }
        let rule = |from, to| Op::Line {
            from,
            to,
            width: RULE,
            dashed: false,
        };
        let (l, r) = (self.left, self.left + w);
        self.op(rule((l, top), (r, top)));
        self.op(rule((l, top + h), (r, top + h)));
        let mut x = l;
        self.op(rule((x, top), (x, top + h)));
        for cw in cols {
            x += cw;
            self.op(rule((x, top), (x, top + h)));
        }
        self.y += h;
    }

    /// A ruled table; the header row is repeated on every page the table runs onto, and a
    /// row taller than a page is split between its lines.
    pub(crate) fn table(&mut self, header: &[String], rows: &[Vec<String>], widths: &[f32]) {
        let ncols = rows
            .iter()
            .map(Vec::len)
            .chain([header.len()])
            .max()
            .unwrap_or(0);
        if ncols == 0 {
            return;
        }
        let valid = widths.len() == ncols && widths.iter().all(|w| w.is_finite() && *w > 0.0);
        let weights: Vec<f32> = if valid {
            widths.to_vec()
        } else {
            vec![1.0; ncols]
        };
        let sum: f32 = weights.iter().sum();
        let cols: Vec<f32> = weights.iter().map(|w| w / sum * self.width).collect();
        let head = (!header.is_empty()).then(|| self.row_lines(header, &cols));
        // A header taller than a third of a page is not worth repeating.
        let head = head.filter(|h| self.row_height(h) < self.page_room() / 3.0);
        let head_h = head.as_ref().map_or(0.0, |h| self.row_height(h));
        self.gap(self.st.body * 0.4);
        let first_h = rows.first().map_or(0.0, |r| {
            self.row_height(&self.row_lines(r, &cols))
                .min(self.page_room() - head_h)
        });
        self.need(head_h + first_h);
        if let Some(h) = &head {
            self.draw_row(h, &cols, true);
        }
        let lh = self.line_h(self.st.table);
        for cells in rows {
            let mut row = self.row_lines(cells, &cols);
            loop {
                let h = self.row_height(&row);
                if self.y + h <= self.bottom + 0.01 {
                    self.draw_row(&row, &cols, false);
                    break;
                }
                let fits_fresh = h <= self.page_room() - head_h;
                let k = ((self.bottom - self.y - 2.0 * PAD_Y) / lh).floor();
                if !fits_fresh && k >= 1.0 {
                    let k = k as usize;
                    let part: Row = row.iter().map(|c| c[..k.min(c.len())].to_vec()).collect();
                    self.draw_row(&part, &cols, false);
                    for c in &mut row {
                        c.drain(..k.min(c.len()));
                    }
                }
                self.new_page();
                if let Some(h) = &head {
                    self.draw_row(h, &cols, true);
                }
            }
        }
        self.gap(self.st.body * 0.4);
    }

    /// On a roll a table is a list of records: "header：cell" for each column, a dashed
    /// rule between rows.
    pub(crate) fn stacked_table(&mut self, header: &[String], rows: &[Vec<String>]) {
        for (i, cells) in rows.iter().enumerate() {
            if i > 0 {
                self.cut_line();
            }
            for (j, cell) in cells.iter().enumerate() {
                match header.get(j).filter(|h| !h.trim().is_empty()) {
                    Some(h) => self.field(&format!("{}：", h.trim()), cell),
                    None => {
                        for p in cell.lines() {
                            self.text(p.trim(), self.st.body, 0.0, LineStyle::LEFT);
                        }
                    }
                }
            }
        }
    }

    /// A dashed rule across the text width (a roll's page break).
    pub(crate) fn cut_line(&mut self) {
        let h = self.st.body;
        self.need(h);
        let y = self.y + h / 2.0;
        self.op(Op::Line {
            from: (self.left, y),
            to: (self.left + self.width, y),
            width: RULE,
            dashed: true,
        });
        self.y += h;
    }

    /// A photo scaled to the text width and `max_height_mm`, keeping its aspect, captioned.
    pub(crate) fn picture(&mut self, p: &Picture, caption: &str, max_height_mm: f32) {
        let size = self.st.small;
        let cap: Vec<Line> = caption
            .lines()
            .flat_map(|l| self.wrap(l.trim(), size, self.width, self.width))
            .filter(|l| !l.text.is_empty())
            .collect();
        let cap_h = cap.len() as f32 * self.line_h(size) + size * 0.5;
        let max_h = if max_height_mm.is_finite() && max_height_mm > 0.0 {
            max_height_mm * MM
        } else {
            90.0 * MM
        };
        let box_h = max_h.min(self.page_room() - cap_h).max(10.0 * MM);
        let (w, h) = fit(p, self.width, box_h);
        self.gap(size * 0.5);
        self.need(h + cap_h);
        let x = self.left + (self.width - w) / 2.0;
        self.op(Op::Image {
            rect: [x, self.y, w, h],
            picture: p.clone(),
        });
        self.y += h + size * 0.5;
        let how = LineStyle {
            align: Align::Center,
            ..LineStyle::LEFT
        };
        for l in &cap {
            self.line(l, size, self.left, self.width, how);
        }
    }

    /// Signature slots, two abreast on A4 and one under another on a roll: the label, the
    /// captured signature or a blank line to sign on, the printed name, the date.
    pub(crate) fn signatures(&mut self, slots: &[SignatureSlot], pictures: &[Option<Picture>]) {
        let cols = if self.st.roll {
            1
        } else {
            slots.len().clamp(1, 2)
        };
        let gutter = 8.0 * MM;
        let col_w = (self.width - gutter * (cols - 1) as f32) / cols as f32;
        let size = self.st.body;
        let lh = self.line_h(size);
        self.gap(size);
        for (r, chunk) in slots.chunks(cols).enumerate() {
            let texts: Vec<SlotText> = chunk.iter().map(|s| self.slot_text(s, col_w)).collect();
            let most = |f: fn(&SlotText) -> usize| texts.iter().map(f).max().unwrap_or(0) as f32;
            let label_h = most(|t| t.label.len()) * lh;
            let below_h = most(|t| t.below.len()) * lh;
            if r > 0 {
                self.gap(size * 0.6);
            }
            self.need(label_h + self.st.signature_h + below_h);
            let top = self.y;
            let rule_y = top + label_h + self.st.signature_h;
            for (i, t) in texts.iter().enumerate() {
                let x = self.left + i as f32 * (col_w + gutter);
                for (k, l) in t.label.iter().enumerate() {
                    let op = self.text_op(x, top + k as f32 * lh, lh, size, &l.text);
                    self.op(op);
                }
                if let Some(p) = pictures.get(r * cols + i).and_then(Option::as_ref) {
                    let (pw, ph) = fit(p, col_w * 0.9, self.st.signature_h - 2.0);
                    self.op(Op::Image {
                        rect: [x + 2.0, rule_y - ph - 1.0, pw, ph],
                        picture: p.clone(),
                    });
                }
                self.op(Op::Line {
                    from: (x, rule_y),
                    to: (x + col_w * 0.9, rule_y),
                    width: 0.6,
                    dashed: false,
                });
                for (k, l) in t.below.iter().enumerate() {
                    let op = self.text_op(x, rule_y + k as f32 * lh, lh, size, &l.text);
                    self.op(op);
                }
            }
            self.y = rule_y + below_h;
        }
    }

    /// A slot's label above the line, and its name and date below, wrapped to `w`.
    fn slot_text(&self, slot: &SignatureSlot, w: f32) -> SlotText {
        let size = self.st.body;
        let label = slot.label.trim();
        let label = if label.is_empty() || label.ends_with('：') || label.ends_with(':') {
            label.to_string()
        } else {
            format!("{label}：")
        };
        let date = match slot.date.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => format!("日期：{d}"),
            _ => "日期：　　　　年　　月　　日".to_string(),
        };
        let wrap = |t: &str| self.wrap(t, size, w, w);
        let mut below = Vec::new();
        for p in slot.name.lines().map(str::trim).filter(|p| !p.is_empty()) {
            below.extend(wrap(p));
        }
        below.extend(wrap(&date));
        SlotText {
            label: if label.is_empty() {
                Vec::new()
            } else {
                wrap(&label)
            },
            below,
        }
    }

    /// The QR code with its caption, centred, with a quiet zone the reader needs.
    ///
    /// Modules and the code's corner fall on a grid of 1/150 inch, so at 150, 300 and 600 dpi
    /// every module edge is a device pixel edge: crisp on laser printers and in scans, with no
    /// half-grey rows that a decoder may read either way.
    pub(crate) fn qr(&mut self, payload: &str) -> Result<()> {
        const UNIT: f32 = 72.0 / 150.0;
        let snap = |v: f32| (v / UNIT).round() * UNIT;
        let (n, runs) = qr::runs(payload)?;
        let want = self.st.qr.min(self.width * 0.8) / n as f32;
        let m = (want / UNIT).round().max(1.0) * UNIT;
        let side = m * n as f32;
        let quiet = qr::QUIET as f32 * m;
        let size = self.st.small;
        let lh = self.line_h(size);
        self.gap(self.st.body * 0.5);
        self.need(quiet + side + quiet + lh);
        let x0 = snap(self.left + (self.width - side) / 2.0);
        let y0 = snap(self.y + quiet);
        let rects = runs
            .iter()
            .map(|&(r, c, len)| [x0 + c as f32 * m, y0 + r as f32 * m, len as f32 * m, m])
            .collect();
        self.op(Op::Rects { rects, gray: 0 });
        self.y = y0 + side + quiet;
        let cap = Line {
            text: QR_CAPTION.to_string(),
            width: self.font.width(QR_CAPTION, size),
        };
        let how = LineStyle {
            align: Align::Center,
            ..LineStyle::LEFT
        };
        self.line(&cap, size, self.left, self.width, how);
        Ok(())
    }
}

/// The largest size of `p` within `w` x `h` keeping its aspect.
fn fit(p: &Picture, w: f32, h: f32) -> (f32, f32) {
    let (pw, ph) = (p.width.max(1) as f32, p.height.max(1) as f32);
    let k = (w / pw).min(h / ph);
    (pw * k, ph * k)
}
