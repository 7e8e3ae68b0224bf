//! The lines burned into a photo's display copy: capture time in Beijing time, place and its
//! source, officer, device, case and the original's hash, in Chinese where the document font
//! is built in.

use super::entry::EvidencePlace;
use super::ingest::CaptureInfo;

/// `YYYY-MM-DD HH:MM:SS` in China Standard Time (UTC+8).
fn china_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // H. Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The watermark's words: Chinese where the document font is built in, English capitals for
/// the ASCII bitmap font otherwise.
struct WatermarkWords {
    time: &'static str,
    zone: &'static str,
    skew: &'static str,
    place: &'static str,
    none: &'static str,
    accuracy: &'static str,
    metres: &'static str,
    from_exif: &'static str,
    from_device: &'static str,
    officer: &'static str,
    device: &'static str,
    case: &'static str,
}

#[cfg(feature = "bundled-font")]
const WORDS: WatermarkWords = WatermarkWords {
    time: "时间",
    zone: "北京时间",
    skew: "设备时钟偏差",
    place: "位置",
    none: "无",
    accuracy: "精度",
    metres: "米",
    from_exif: "照片EXIF",
    from_device: "设备定位",
    officer: "执法人员",
    device: "设备",
    case: "案件",
};

#[cfg(not(feature = "bundled-font"))]
const WORDS: WatermarkWords = WatermarkWords {
    time: "TIME",
    zone: "UTC+8",
    skew: "CLOCK SKEW",
    place: "GPS",
    none: "NONE",
    accuracy: "ACC",
    metres: "M",
    from_exif: "exif",
    from_device: "device",
    officer: "OFFICER",
    device: "DEVICE",
    case: "CASE",
};

/// The lines burned into a display copy. Characters the watermark font cannot draw come out
/// as `?` ([`img::burn_in`]).
pub(super) fn watermark_lines(
    record_id: &str,
    capture: &CaptureInfo,
    skew: bool,
    place: Option<&EvidencePlace>,
    device_id: &str,
    sha_hex: &str,
) -> Vec<String> {
    let w = &WORDS;
    let time = format!(
        "{} {} {}{}",
        w.time,
        china_time(capture.device_time_ms),
        w.zone,
        if skew {
            format!(" {}", w.skew)
        } else {
            String::new()
        }
    );
    let gps = match place {
        Some(p) => {
            let acc = p
                .accuracy_m
                .map(|a| format!(" {} {a:.0}{}", w.accuracy, w.metres))
                .unwrap_or_default();
            let source = match p.source.as_str() {
                "exif" => w.from_exif,
                "device" => w.from_device,
                other => other,
            };
            format!(
                "{} {}{:.6} {}{:.6}{acc} ({source})",
                w.place,
                if p.lat < 0.0 { 'S' } else { 'N' },
                p.lat.abs(),
                if p.lon < 0.0 { 'W' } else { 'E' },
                p.lon.abs(),
            )
        }
        None => format!("{} {}", w.place, w.none),
    };
    vec![
        time,
        gps,
        format!(
            "{} {} {} {}",
            w.officer, capture.officer, w.device, device_id
        ),
        format!("{} {}", w.case, record_id),
        format!("SHA256 {}", &sha_hex[..32.min(sha_hex.len())]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_time_formats_utc_plus_8() {
        // 2026-09-21T06:03:05Z is 14:03:05 in Beijing.
        assert_eq!(china_time(1_789_970_585_000), "2026-09-21 14:03:05");
        assert_eq!(china_time(0), "1970-01-01 08:00:00");
    }
}
