//! Parser robustness: random and mutated bytes fed to the EXIF reader, the audio sniffer and
//! duration probes (WAV, AMR-NB/WB, ADTS, M4A) and the image decode path. Each must return a
//! value or a typed error, never panic, and never allocate without bound. (cargo-fuzz needs a
//! nightly toolchain; these proptest runs give the same kind of coverage on stable.)

use crate::fixtures::{adts, amr_nb, jpeg, m4a_sample, signature_png, wav};
use fieldcase_core::CoreError;
use fieldcase_core::evidence::audio::{self, AudioFormat};
use fieldcase_core::evidence::exif::read_exif;
use fieldcase_core::evidence::image::{self as img, ImageFormat};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Seeds to mutate, built once.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        vec![
            jpeg(64, 48, 1, Some(6)),
            signature_png(40, 20),
            wav(50, 8000, 2),
            amr_nb(12, 3),
            adts(6, 4),
            std::fs::read(m4a_sample()).unwrap_or_default(),
        ]
    })
}

/// A seed file with a few bytes overwritten, a slice cut out, or its tail truncated.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..6usize,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
        any::<prop::sample::Index>(),
        0..4u8,
    )
        .prop_map(|(which, flips, cut, mode)| {
            let mut b = seeds()[which].clone();
            if b.is_empty() {
                return b;
            }
            for (at, v) in flips {
                let i = at.index(b.len());
                b[i] = v;
            }
            let c = cut.index(b.len());
            match mode {
                0 => b.truncate(c),
                1 => {
                    let end = (c + 64).min(b.len());
                    b.drain(c..end);
                }
                2 => {
                    let mut tail = b.split_off(c);
                    b.extend(std::iter::repeat_n(0xFF, 32));
                    b.append(&mut tail);
                }
                _ => {}
            }
            b
        })
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        // Random bodies behind real magic numbers, so the parsers get past the sniffing.
        (
            prop::sample::select(vec![
                b"\xFF\xD8\xFF\xE1".to_vec(),
                b"\x89PNG\r\n\x1a\n".to_vec(),
                b"RIFF\x00\x10\x00\x00WAVEfmt ".to_vec(),
                b"#!AMR\n".to_vec(),
                b"#!AMR-WB\n".to_vec(),
                b"\xFF\xF1\x50\x80".to_vec(),
                b"\x00\x00\x00\x18ftypM4A ".to_vec(),
            ]),
            prop::collection::vec(any::<u8>(), 0..2048)
        )
            .prop_map(|(mut head, body)| {
                head.extend(body);
                head
            }),
    ]
}

fn typed(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::MediaDecode { .. }
            | CoreError::ImageTooLarge { .. }
            | CoreError::UnsupportedMedia { .. }
            | CoreError::Io { .. }
    )
}

/// Runs every probe on `bytes`; panics (failing the property) only through assertions.
fn probe_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;

    let _ = read_exif(&mut std::io::Cursor::new(bytes));
    let _ = img::png_dimensions(bytes);
    for format in [ImageFormat::Jpeg, ImageFormat::Png] {
        for orientation in [None, Some(6), Some(200)] {
            if let Err(e) = img::decode(&path, format, orientation) {
                prop_assert!(typed(&e), "untyped image error {e:?}");
            }
        }
    }
    let sniffed = audio::sniff(bytes);
    let formats = [
        AudioFormat::Wav,
        AudioFormat::Mp4,
        AudioFormat::Adts,
        AudioFormat::AmrNb,
        AudioFormat::AmrWb,
    ];
    for format in sniffed.into_iter().chain(formats) {
        match audio::duration_ms(&path, format) {
            Ok(Some(ms)) => prop_assert!(ms >= 0, "negative duration {ms}"),
            Ok(None) => {}
            Err(e) => prop_assert!(typed(&e), "untyped audio error {e:?}"),
        }
    }
    for format in [AudioFormat::AmrNb, AudioFormat::AmrWb] {
        if let Err(e) = audio::amr_duration(&path, format) {
            prop_assert!(typed(&e), "untyped AMR error {e:?}");
        }
    }
    if let Err(e) = audio::adts_duration(&path) {
        prop_assert!(typed(&e), "untyped ADTS error {e:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_a_parser(bytes in any_bytes()) {
        probe_all(&bytes)?;
    }

    #[test]
    fn mutated_media_never_panics_a_parser(bytes in mutated()) {
        probe_all(&bytes)?;
    }
}

#[test]
fn the_unmutated_seeds_parse() {
    let s = seeds();
    assert!(s.iter().all(|b| !b.is_empty()), "every seed file exists");
    assert_eq!(audio::sniff(&s[2]), Some(AudioFormat::Wav));
    assert_eq!(audio::sniff(&s[3]), Some(AudioFormat::AmrNb));
    assert_eq!(audio::sniff(&s[4]), Some(AudioFormat::Adts));
    assert_eq!(audio::sniff(&s[5]), Some(AudioFormat::Mp4));
    assert_eq!(img::png_dimensions(&s[1]), Some((40, 20)));
}

/// Found by `mutated_media_never_panics_a_parser`: a WAV `fmt` chunk whose channel count
/// times bytes per sample overflows 16 bits panicked inside symphonia (debug builds).
#[test]
fn a_wav_header_that_overflows_the_block_align_is_a_typed_error() {
    let mut b = wav(20, 8000, 9);
    // Channels at offset 22 (u16 LE).
    b[22..24].copy_from_slice(&40_000u16.to_le_bytes());
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("overflow.wav");
    std::fs::write(&path, &b).expect("write");
    match audio::duration_ms(&path, AudioFormat::Wav) {
        Ok(_) => {}
        Err(e) => assert!(typed(&e), "{e:?}"),
    }
}
