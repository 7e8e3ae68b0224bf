//! EXIF of captured images: the camera's capture time, GPS position and orientation.
//!
//! EXIF is a claim made by the camera: it is recorded and signed as found, next to the
//! device's own clock reading and location fix, never in place of them. Missing or unreadable
//! EXIF is normal (screenshots, signature pads) and yields empty fields, not an error.

use exif::{In, Reader, Tag, Value};
use std::io::{BufRead, Seek};

/// What the EXIF block said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExifInfo {
    /// `DateTimeOriginal` as written (`YYYY:MM:DD HH:MM:SS`), with `OffsetTimeOriginal`
    /// appended when present.
    pub datetime_original: Option<String>,
    /// GPS latitude and longitude in decimal degrees (WGS-84; south and west negative).
    pub gps: Option<(f64, f64)>,
    /// Orientation tag 1..=8.
    pub orientation: Option<u16>,
}

/// Reads EXIF from a JPEG, PNG, TIFF, WebP or HEIF stream.
pub fn read_exif<R: BufRead + Seek>(r: &mut R) -> ExifInfo {
    let Ok(exif) = Reader::new().read_from_container(r) else {
        return ExifInfo::default();
    };
    let ascii = |tag| -> Option<String> {
        match &exif.get_field(tag, In::PRIMARY)?.value {
            Value::Ascii(v) => v
                .first()
                .map(|s| String::from_utf8_lossy(s).trim().to_string())
                .filter(|s| !s.is_empty() && s.is_ascii() && s.len() <= 40),
            _ => None,
        }
    };
    let datetime_original =
        ascii(Tag::DateTimeOriginal).map(|dt| match ascii(Tag::OffsetTimeOriginal) {
            Some(off) => format!("{dt}{off}"),
            None => dt,
        });
    let orientation = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u16::try_from(v).ok())
        .filter(|v| (1..=8).contains(v));
    let coord = |val: Tag, reference: Tag, neg: u8| -> Option<f64> {
        let f = exif.get_field(val, In::PRIMARY)?;
        let Value::Rational(parts) = &f.value else {
            return None;
        };
        if parts.len() < 3 || parts.iter().take(3).any(|r| r.denom == 0) {
            return None;
        }
        let deg = parts[0].to_f64() + parts[1].to_f64() / 60.0 + parts[2].to_f64() / 3600.0;
        let sign = match &exif.get_field(reference, In::PRIMARY)?.value {
            Value::Ascii(v) if v.first().and_then(|s| s.first()) == Some(&neg) => -1.0,
            _ => 1.0,
        };
        Some(sign * deg)
    };
    let gps = match (
        coord(Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S'),
        coord(Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W'),
    ) {
        (Some(lat), Some(lon))
            if lat.is_finite()
                && lon.is_finite()
                && (-90.0..=90.0).contains(&lat)
                && (-180.0..=180.0).contains(&lon) =>
        {
            Some((lat, lon))
        }
        _ => None,
    };
    ExifInfo {
        datetime_original,
        gps,
        orientation,
    }
}

/// Builds a TIFF-structured EXIF block with the given fields (for tests and tools that make
/// sample photos): DateTimeOriginal, GPS position and Orientation.
pub fn build_exif_block(datetime: &str, lat: f64, lon: f64, orientation: u16) -> Vec<u8> {
    use exif::experimental::Writer;
    use exif::{Field, Rational};
    fn dms(v: f64) -> Vec<Rational> {
        let v = v.abs();
        let d = v.trunc();
        let m = ((v - d) * 60.0).trunc();
        let s = (v - d - m / 60.0) * 3600.0;
        vec![
            Rational::from((d as u32, 1)),
            Rational::from((m as u32, 1)),
            Rational::from(((s * 10_000.0).round() as u32, 10_000)),
        ]
    }
    let fields = [
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![orientation]),
        },
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![datetime.as_bytes().to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![if lat < 0.0 {
                b"S".to_vec()
            } else {
                b"N".to_vec()
            }]),
        },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(dms(lat)),
        },
        Field {
            tag: Tag::GPSLongitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![if lon < 0.0 {
                b"W".to_vec()
            } else {
                b"E".to_vec()
            }]),
        },
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(dms(lon)),
        },
    ];
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    // Writing to memory cannot fail for these well-formed fields; an empty block (no EXIF)
    // is the harmless fallback.
    if w.write(&mut out, false).is_err() {
        return Vec::new();
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_we_write_reads_back() {
        let block = build_exif_block("2026:09:21 14:03:05", 31.7349, -116.5079, 6);
        assert!(!block.is_empty());
        // Wrap as a minimal JPEG: SOI, APP1 "Exif\0\0" + TIFF, EOI.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        let len = (block.len() + 8) as u16;
        jpeg.extend_from_slice(&len.to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(&block);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        let info = read_exif(&mut std::io::Cursor::new(jpeg));
        assert_eq!(
            info.datetime_original.as_deref(),
            Some("2026:09:21 14:03:05")
        );
        assert_eq!(info.orientation, Some(6));
        let (lat, lon) = info.gps.unwrap_or_default();
        assert!((lat - 31.7349).abs() < 1e-6, "{lat}");
        assert!((lon + 116.5079).abs() < 1e-6, "{lon}");
    }

    #[test]
    fn no_exif_is_empty_not_an_error() {
        let info = read_exif(&mut std::io::Cursor::new(b"not an image".to_vec()));
        assert_eq!(info, ExifInfo::default());
    }
}
