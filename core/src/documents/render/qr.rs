//! The QR code printed at the end of a document, as filled rectangles (vector, so it stays
//! sharp on any printer and at any zoom).

use crate::{CoreError, Result};
use qrcode::{Color, EcLevel, QrCode};

/// Modules of white border a reader needs around the code.
pub(crate) const QUIET: usize = 4;

/// A horizontal run of dark modules: row, first column, length.
pub(crate) type Run = (usize, usize, usize);

/// The code for `payload`: its width in modules and, row by row, its runs of dark modules.
pub(crate) fn runs(payload: &str) -> Result<(usize, Vec<Run>)> {
    // Level M survives a fold, a smudge or a worn roll print of about 15% of the code.
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|e| CoreError::Render(format!("QR code: {e}")))?;
    let n = code.width();
    let colors = code.to_colors();
    let mut out = Vec::new();
    for (row, line) in colors.chunks(n).enumerate() {
        let mut col = 0;
        while col < n {
            if line[col] == Color::Dark {
                let start = col;
                while col < n && line[col] == Color::Dark {
                    col += 1;
                }
                out.push((row, start, col - start));
            } else {
                col += 1;
            }
        }
    }
    Ok((n, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finder_pattern_rows_are_runs() {
        let (n, runs) = runs("fieldcase:doc?case=1").expect("encodes");
        assert_eq!(
            (n - 17) % 4,
            0,
            "a QR code is 17 + 4 x version modules wide"
        );
        // Top row: the two finder patterns' 7-module bars at both ends.
        assert!(runs.contains(&(0, 0, 7)));
        assert!(runs.contains(&(0, n - 7, 7)));
    }

    #[test]
    fn too_long_a_payload_is_a_render_error() {
        assert!(runs(&"x".repeat(5000)).is_err());
    }
}
