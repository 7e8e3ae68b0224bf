//! Enforcement documents rendered to PDF and read back with real tools: poppler's `pdftotext`
//! must recover the Chinese that was printed, `pdftoppm` rasterises the pages (ink, photos),
//! and `rqrr` decodes the printed QR code from the raster.

use crate::fixtures::{jpeg, signature_png};
use fieldcase_core::CoreError;
use fieldcase_core::documents::render::{
    Block, DocumentFont, Paper, Sheet, SignatureSlot, render_pdf,
};
use image::RgbImage;
use std::path::Path;
use std::process::Command;

const PAPERS: [Paper; 3] = [Paper::A4, Paper::Roll58, Paper::Roll80];
const TITLE: &str = "行政处罚决定书";
const NUMBER: &str = "六城管罚〔2026〕123号";
const AMOUNT: &str = "罚款人民币贰佰元整（¥200.00）";
/// A party name outside GB2312.
const PARTY: &str = "张喆堃";

fn payload() -> String {
    format!(
        "fieldcase:doc?case=0196a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b&doc=0196a3b2-8d5e-7f90-a1b2-c3d4e5f6a7b8&sha256={}",
        "3f2a9c0d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f"
    )
}

fn font() -> DocumentFont {
    DocumentFont::bundled()
}

/// A decision with everything a real one has: party fields, facts, the penalty, an evidence
/// table, two photos (one with EXIF orientation 6), a captured and a blank signature, the QR.
fn decision() -> Sheet {
    let field = |label: &str, value: &str| Block::Field {
        label: label.into(),
        value: value.into(),
    };
    Sheet {
        authority: "六安市城市管理局".into(),
        title: TITLE.into(),
        number: Some(NUMBER.into()),
        blocks: vec![
            field("当事人：", PARTY),
            field(
                "住址：",
                "安徽省六安市金安区梅山南路88号（金安区城市管理执法大队辖区）",
            ),
            Block::Heading("违法事实".into()),
            Block::Paragraph(
                "经查，当事人于2026年5月1日10时许，在六安市金安区梅山南路与皖西路交叉口东北角，\
                 未经批准擅自占用城市道路摆摊经营水果，占道面积约6平方米。执法人员当场进行了劝导，\
                 当事人未按要求改正。以上事实有现场照片、询问笔录等证据证实。\n\
                 当事人的上述行为违反了《城市市容和环境卫生管理条例》第十四条的规定。"
                    .into(),
            ),
            Block::Heading("处罚决定".into()),
            field("处罚决定：", AMOUNT),
            Block::Table {
                header: vec![
                    "序号".into(),
                    "证据名称".into(),
                    "采集时间".into(),
                    "SHA-256（前16位）".into(),
                ],
                rows: vec![
                    vec![
                        "1".into(),
                        "现场照片（占道经营全景）".into(),
                        "2026-05-01 10:03".into(),
                        "3f2a9c0d8e7b6a5f".into(),
                    ],
                    vec![
                        "2".into(),
                        "询问笔录".into(),
                        "2026-05-01 10:20".into(),
                        "9b8a7f6e5d4c3b2a".into(),
                    ],
                ],
                widths: vec![1.0, 4.0, 3.0, 3.5],
            },
            Block::Image {
                caption: "现场照片一：占道经营".into(),
                bytes: jpeg(800, 600, 1, None),
                max_height_mm: 70.0,
            },
            Block::Image {
                caption: "现场照片二：当事人摊位".into(),
                bytes: jpeg(800, 600, 2, Some(6)),
                max_height_mm: 60.0,
            },
            Block::Signatures(vec![
                SignatureSlot {
                    label: "当事人签名".into(),
                    name: PARTY.into(),
                    image: Some(signature_png(600, 200)),
                    date: Some("2026年5月1日".into()),
                },
                SignatureSlot {
                    label: "执法人员".into(),
                    name: "李四（执法证号 34150012）".into(),
                    image: None,
                    date: None,
                },
            ]),
        ],
        qr: Some(payload()),
        footer: Some("本决定书一式两份，一份交当事人，一份存档。".into()),
    }
}

/// Runs a poppler tool; fails (never skips) when poppler-utils is not installed.
fn poppler(tool: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {tool} ({e}): install poppler-utils \
                 (apt-get install poppler-utils, or bash scripts/ensure-tools.sh)"
            )
        });
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The text poppler extracts, pages separated by form feeds.
fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("doc.pdf"), pdf).expect("write");
    let text = poppler("pdftotext", &["-layout", "doc.pdf", "-"], dir.path());
    String::from_utf8(text).expect("pdftotext writes UTF-8")
}

/// Every page rasterised at 150 dpi.
fn rasterise(pdf: &[u8]) -> Vec<RgbImage> {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("doc.pdf"), pdf).expect("write");
    poppler(
        "pdftoppm",
        &["-r", "150", "-png", "doc.pdf", "page"],
        dir.path(),
    );
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| image::open(p).expect("png decodes").to_rgb8())
        .collect()
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn share(img: &RgbImage, f: impl Fn(&image::Rgb<u8>) -> bool) -> f64 {
    img.pixels().filter(|p| f(p)).count() as f64 / f64::from(img.width() * img.height())
}

/// Payloads of the QR codes rqrr finds on `page`.
fn qr_codes(page: &RgbImage) -> Vec<String> {
    let gray = image::DynamicImage::ImageRgb8(page.clone()).to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(gray);
    prepared
        .detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, content)| content))
        .collect()
}

#[test]
fn every_paper_prints_recoverable_chinese_ink_photos_and_a_readable_qr() {
    for paper in PAPERS {
        let pdf = render_pdf(&[decision()], &font(), paper).expect("renders");
        // FIELDCASE_RENDER_OUT=dir keeps the PDFs to look at.
        if let Some(dir) = std::env::var_os("FIELDCASE_RENDER_OUT") {
            std::fs::write(
                Path::new(&dir).join(format!("decision-{paper:?}.pdf")),
                &pdf,
            )
            .expect("write");
        }
        let text = pdftotext(&pdf);
        let flat = squeeze(&text);
        for want in [
            TITLE,
            NUMBER,
            AMOUNT,
            PARTY,
            "六安市城市管理局",
            "扫码核验本文书",
        ] {
            assert!(flat.contains(want), "{paper:?}: {want} not in\n{text}");
        }
        if paper == Paper::A4 {
            // On A4 these fit on one line each and come back exactly as printed.
            for want in [TITLE, NUMBER, AMOUNT] {
                assert!(text.contains(want), "A4: {want} not verbatim in\n{text}");
            }
        }
        let pages = rasterise(&pdf);
        assert!(!pages.is_empty());
        for (i, page) in pages.iter().enumerate() {
            let ink = share(page, |p| p.0.iter().any(|&c| c < 160));
            assert!(
                ink > 0.01,
                "{paper:?} page {} is nearly blank ({ink:.4})",
                i + 1
            );
        }
        // The photos are gradients in colour; text and rules are black on white.
        let colour: f64 = pages
            .iter()
            .map(|p| {
                share(p, |q| {
                    q.0.iter().max().unwrap_or(&0) - q.0.iter().min().unwrap_or(&0) > 40
                })
            })
            .sum();
        assert!(colour > 0.05, "{paper:?}: no photo printed ({colour:.4})");
        let found: Vec<String> = pages.iter().flat_map(qr_codes).collect();
        assert_eq!(found, vec![payload()], "{paper:?}: QR codes found");
        if paper == Paper::A4 {
            eprintln!(
                "A4 decision with two photos: {} bytes, {} pages",
                pdf.len(),
                pages.len()
            );
        } else {
            assert_eq!(pages.len(), 1, "{paper:?}: a roll sheet is one page");
            let (w, h) = pages[0].dimensions();
            assert!(
                h > w * 3,
                "{paper:?}: a roll page is as long as its content ({w}x{h})"
            );
        }
    }
}

#[test]
fn a_character_missing_from_the_font_refuses_the_document() {
    let mut sheet = decision();
    sheet.blocks.push(Block::Field {
        label: "当事人：".into(),
        value: "张𠀀".into(),
    });
    if let Block::Signatures(slots) = &mut sheet.blocks[9] {
        slots[0].name = "王😀".into();
    }
    for paper in PAPERS {
        match render_pdf(std::slice::from_ref(&sheet), &font(), paper) {
            Err(CoreError::MissingGlyphs { chars }) => assert_eq!(chars, "😀𠀀"),
            other => panic!(
                "{paper:?}: expected MissingGlyphs, got {:?}",
                other.map(|b| b.len())
            ),
        }
    }
    assert_eq!(font().missing_glyphs("张𠀀\n\t"), vec!['𠀀']);
}

#[test]
fn the_same_input_renders_to_the_same_bytes() {
    for paper in PAPERS {
        let a = render_pdf(&[decision()], &font(), paper).expect("renders");
        let b = render_pdf(&[decision()], &font(), paper).expect("renders");
        assert!(a == b, "{paper:?}: two renders differ");
        // Not a timestamp in sight.
        let raw = String::from_utf8_lossy(&a);
        assert!(
            !raw.contains("/CreationDate") && !raw.contains("/ModDate"),
            "{paper:?}"
        );
    }
}

#[test]
fn a_long_sheet_runs_onto_numbered_pages_and_each_sheet_counts_its_own() {
    let facts =
        "当事人在城市道路两侧擅自摆摊设点，影响市容和交通通行，执法人员多次劝导后仍未改正。"
            .repeat(40);
    let long = Sheet {
        authority: "六安市城市管理局".into(),
        title: "现场检查笔录".into(),
        number: Some("六城管检〔2026〕7号".into()),
        blocks: vec![
            Block::Paragraph(facts.clone()),
            Block::PageBreak,
            Block::Paragraph("以上笔录已向当事人宣读，当事人确认无误。".into()),
        ],
        qr: None,
        footer: None,
    };
    let short = Sheet {
        title: "责令改正通知书".into(),
        blocks: vec![Block::Paragraph("请于三日内改正。".into())],
        ..Sheet::default()
    };
    let pdf = render_pdf(&[long, short], &font(), Paper::A4).expect("renders");
    let text = pdftotext(&pdf);
    // Extraction keeps no spaces between CJK characters ("第 1 页" comes back "第1页").
    let pages: Vec<String> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .map(squeeze)
        .collect();
    let n = pages.len() - 1; // the last page is the second sheet
    assert!(n >= 3, "the long sheet took {n} pages");
    for (i, page) in pages[..n].iter().enumerate() {
        let want = squeeze(&format!("第 {} 页 共 {n} 页", i + 1));
        assert!(page.contains(&want), "page {} lacks {want}: {page}", i + 1);
    }
    assert!(pages[1].contains(&squeeze(&format!("第 2 页 共 {n} 页"))));
    assert!(pages[n].contains("第1页共1页"), "{}", pages[n]);
    // The page break put the closing line on a page of its own.
    assert!(pages[n - 1].contains("以上笔录已向当事人宣读"));
    assert!(!pages[n - 2].contains("以上笔录已向当事人宣读"));
}

#[test]
fn printed_lines_obey_chinese_line_breaking() {
    let text = "经查，当事人（张喆堃）于2026年5月1日在《城市道路管理条例》所称的城市道路上，\
                擅自占道经营；执法人员劝导后，当事人称：“马上收摊。”但未改正！\
                依据「六安市城市管理办法」〔2026〕第3号，罚款¥200.00元。"
        .repeat(6);
    let sheet = Sheet {
        title: "询问笔录".into(),
        blocks: vec![Block::Paragraph(text)],
        ..Sheet::default()
    };
    let pdf = render_pdf(&[sheet], &font(), Paper::Roll58).expect("renders");
    let out = pdftotext(&pdf);
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(lines.len() > 20, "{out}");
    for l in &lines {
        let first = l.chars().next().unwrap_or(' ');
        let last = l.chars().next_back().unwrap_or(' ');
        assert!(
            !"，。、；：？！）》」』〕”".contains(first),
            "line starts with {first}: {l}"
        );
        assert!(!"（《「『〔“".contains(last), "line ends with {last}: {l}");
    }
    assert!(squeeze(&out).contains("¥200.00"), "{out}");
}

#[test]
fn unreadable_images_and_empty_input_are_errors() {
    let mut sheet = decision();
    sheet.blocks.push(Block::Image {
        caption: "损坏的照片".into(),
        bytes: b"\xFF\xD8\xFF\xE0 not really a jpeg".to_vec(),
        max_height_mm: 50.0,
    });
    assert!(matches!(
        render_pdf(&[sheet], &font(), Paper::A4),
        Err(CoreError::Render(_))
    ));
    let mut sheet = decision();
    if let Block::Signatures(slots) = &mut sheet.blocks[9] {
        slots[1].image = Some(b"garbage".to_vec());
    }
    assert!(matches!(
        render_pdf(&[sheet], &font(), Paper::Roll80),
        Err(CoreError::Render(_))
    ));
    assert!(render_pdf(&[], &font(), Paper::A4).is_err());
}

#[test]
fn a_font_passed_in_is_used_and_a_bad_one_is_refused() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fonts/NotoSansCJKsc-fieldcase.otf"
    ))
    .expect("font file");
    let font = DocumentFont::from_bytes(bytes).expect("parses");
    let pdf = render_pdf(&[decision()], &font, Paper::Roll80).expect("renders");
    assert!(squeeze(&pdftotext(&pdf)).contains(NUMBER));
    assert!(matches!(
        DocumentFont::from_bytes(vec![0; 64]),
        Err(CoreError::Render(_))
    ));
}
