//! `document_render`: a 行政处罚决定书 of two A4 pages with two photos, drawn by the phone core
//! (`documents::render::render_pdf` with the bundled CJK font), against the floor of touching
//! its inputs once: hashing the font and the two photos it embeds.

use super::{Result, median, print_line};
use fieldcase_core::documents::render::{
    Block, DocumentFont, Paper, Sheet, SignatureSlot, render_pdf,
};
use sha2::{Digest, Sha256};
use std::time::Instant;

fn photo(w: u32, h: u32, seed: u32) -> Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x * 7 + seed * 13) % 256) as u8,
            ((y * 5 + seed * 29) % 256) as u8,
            (((x + y) * 3) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img)?;
    Ok(out)
}

fn decision(photos: &[Vec<u8>]) -> Sheet {
    let para = "经查，你（单位）于2026年9月21日10时30分在六安市金安区梅山南路，未经批准擅自占用城市道路摆摊设点经营，影响道路通行和市容环境卫生。以上事实有现场检查笔录、询问笔录、照片等证据为证。上述行为违反了《城市道路管理条例》第二十七条第六项的规定。";
    let mut blocks = vec![
        Block::Field {
            label: "当事人：".into(),
            value: "张三丰".into(),
        },
        Block::Field {
            label: "身份证件号码：".into(),
            value: "341502194912310026".into(),
        },
        Block::Paragraph(para.into()),
        Block::Paragraph("依据《城市道路管理条例》第四十二条的规定，本机关决定对你（单位）作出如下行政处罚：罚款人民币贰佰元整（¥200.00）。".into()),
        Block::Paragraph("你（单位）应当自收到本决定书之日起十五日内，到指定的银行或者通过电子支付系统缴纳罚款。到期不缴纳罚款的，本机关可以每日按罚款数额的百分之三加处罚款，加处罚款的数额不得超出罚款的数额。".into()),
        Block::Paragraph("如不服本决定，可以在收到本决定书之日起六十日内向六安市人民政府申请行政复议，或者在六个月内向作出行政行为的行政机关所在地有管辖权的人民法院提起行政诉讼。".into()),
    ];
    for (i, p) in photos.iter().enumerate() {
        blocks.push(Block::Image {
            caption: format!("照片{}　拍摄：2026年9月21日 10时31分", i + 1),
            bytes: p.clone(),
            max_height_mm: 80.0,
        });
    }
    blocks.push(Block::Field {
        label: "执法人员：".into(),
        value: "李四（执法证号：34150012）、王五（执法证号：34150013）".into(),
    });
    blocks.push(Block::Signatures(vec![SignatureSlot {
        label: "当事人签收".into(),
        name: "张三丰".into(),
        image: None,
        date: Some("2026年12月6日".into()),
    }]));
    Sheet {
        authority: "六安市城市管理局".into(),
        title: "行政处罚决定书".into(),
        number: Some("六城管罚〔2026〕123号".into()),
        blocks,
        qr: Some(format!(
            "fieldcase:doc?case=0190a000-0000-7000-8000-000000000001&doc=0190a000-0000-7000-8000-000000000002&sha256={}",
            "ab".repeat(32)
        )),
        footer: Some("文书依据：《中华人民共和国行政处罚法》第五十九条".into()),
    }
}

/// Median milliseconds to draw the decision, against hashing its inputs.
pub fn document_render(quick: bool) -> Result<()> {
    let runs = if quick { 15 } else { 60 };
    let photos = vec![photo(1600, 1200, 1)?, photo(1600, 1200, 2)?];
    let font = DocumentFont::bundled();
    let font_bytes = include_bytes!("../../../core/fonts/NotoSansCJKsc-fieldcase.otf");
    let sheet = decision(&photos);
    let mut size = 0;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for k in 0..runs + 3 {
        let t = Instant::now();
        let pdf = render_pdf(std::slice::from_ref(&sheet), &font, Paper::A4)?;
        let ours_ms = t.elapsed().as_secs_f64() * 1e3;
        size = pdf.len();
        let t = Instant::now();
        let mut h = Sha256::new();
        h.update(font_bytes);
        for p in &photos {
            h.update(p);
        }
        std::hint::black_box(h.finalize());
        let base_ms = t.elapsed().as_secs_f64() * 1e3;
        if k >= 3 {
            ours.push(ours_ms);
            base.push(base_ms);
        }
    }
    eprintln!(
        "document_render: {size} bytes of PDF, font {} bytes",
        font_bytes.len()
    );
    print_line(
        "document_render",
        median(&mut ours),
        median(&mut base),
        "floor",
        "ms",
    );
    Ok(())
}
