//! Audio evidence: format sniffing by magic bytes and duration probing.
//!
//! Accepted: WAV, M4A/MP4 audio (AAC in an ISO container, what phones record), raw ADTS AAC,
//! and AMR-NB / AMR-WB (`.amr`, still common on older Android recorders). Anything else is a
//! typed [`CoreError::UnsupportedMedia`]. Durations come from symphonia for WAV and M4A, and
//! from walking the frame headers for ADTS (1024 samples a frame) and AMR (20 ms a frame),
//! which needs no decoder and reads the file once in small buffers.

use super::sealed::EvidenceFile;
use crate::{CoreError, Result};
use std::io::{BufReader, Read};

/// A recognised audio container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// RIFF WAVE.
    Wav,
    /// ISO base media (M4A, MP4, 3GP) audio.
    Mp4,
    /// Raw AAC in ADTS frames.
    Adts,
    /// AMR narrow-band storage format (RFC 4867 section 5).
    AmrNb,
    /// AMR wide-band storage format.
    AmrWb,
}

impl AudioFormat {
    /// The MIME type recorded in the entry.
    pub fn mime(self) -> &'static str {
        match self {
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Mp4 => "audio/mp4",
            AudioFormat::Adts => "audio/aac",
            AudioFormat::AmrNb => "audio/amr",
            AudioFormat::AmrWb => "audio/amr-wb",
        }
    }
}

/// Recognises an audio format from the first bytes of a file.
pub fn sniff(head: &[u8]) -> Option<AudioFormat> {
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        return Some(AudioFormat::Wav);
    }
    if head.starts_with(b"#!AMR-WB\n") {
        return Some(AudioFormat::AmrWb);
    }
    if head.starts_with(b"#!AMR\n") {
        return Some(AudioFormat::AmrNb);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        const BRANDS: &[&[u8; 4]] = &[
            b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"3gp4", b"3gp5", b"3gp6",
            b"dash",
        ];
        if BRANDS.iter().any(|b| &head[8..12] == *b) {
            return Some(AudioFormat::Mp4);
        }
    }
    // ADTS: 12-bit sync word, MPEG layer 0.
    if head.len() >= 7 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
        return Some(AudioFormat::Adts);
    }
    None
}

fn decode_err(reason: impl Into<String>) -> CoreError {
    CoreError::MediaDecode {
        kind: "audio".into(),
        reason: reason.into(),
    }
}

/// The duration in milliseconds of the audio file at `path`, when the format states it.
pub fn duration_ms<'a>(
    file: impl Into<EvidenceFile<'a>>,
    format: AudioFormat,
) -> Result<Option<i64>> {
    let file = file.into();
    match format {
        AudioFormat::Wav | AudioFormat::Mp4 => {
            // symphonia can panic on malformed headers (e.g. an arithmetic overflow in its
            // WAV `fmt` parser, found by the parser fuzz tests): a bad file is a typed error,
            // never a crash of the app. Nothing is shared across the call, so unwinding out of
            // it leaves no broken state behind.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| symphonia_duration(file)))
                .unwrap_or_else(|_| Err(decode_err("malformed audio header")))
        }
        AudioFormat::Adts => adts_duration(file).map(Some),
        AudioFormat::AmrNb | AudioFormat::AmrWb => amr_duration(file, format).map(Some),
    }
}

fn symphonia_duration(file: EvidenceFile<'_>) -> Result<Option<i64>> {
    use symphonia::core::formats::{FormatOptions, TrackType, probe::Hint};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    let f = file.open()?;
    let mss = MediaSourceStream::new(Box::new(f), Default::default());
    let reader = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| decode_err(e.to_string()))?;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| decode_err("no audio track"))?;
    if let (Some(tb), Some(d)) = (track.time_base, track.duration)
        && let Some(t) = tb.calc_duration(d)
    {
        return Ok(i64::try_from(t.as_millis()).ok());
    }
    if let (Some(n), Some(rate)) = (
        track.num_frames,
        track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .and_then(|a| a.sample_rate),
    ) && rate > 0
    {
        return Ok(i64::try_from(n.saturating_mul(1000) / u64::from(rate)).ok());
    }
    Ok(None)
}

/// Reads exactly `buf.len()` bytes, or returns false at a clean end of file.
fn read_frame_part(r: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(decode_err("truncated frame")),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(decode_err(e.to_string())),
        }
    }
    Ok(true)
}

fn skip(r: &mut impl Read, n: u64) -> Result<()> {
    let copied = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| decode_err(e.to_string()))?;
    if copied != n {
        return Err(decode_err("truncated frame"));
    }
    Ok(())
}

/// AMR payload sizes in bytes (excluding the 1-byte frame header) by frame type, RFC 4867;
/// `None` for reserved types.
fn amr_frame_size(format: AudioFormat, ft: u8) -> Option<u64> {
    const NB: [Option<u64>; 16] = [
        Some(12),
        Some(13),
        Some(15),
        Some(17),
        Some(19),
        Some(20),
        Some(26),
        Some(31),
        Some(5),
        None,
        None,
        None,
        None,
        None,
        None,
        Some(0),
    ];
    const WB: [Option<u64>; 16] = [
        Some(17),
        Some(23),
        Some(32),
        Some(36),
        Some(40),
        Some(46),
        Some(50),
        Some(58),
        Some(60),
        Some(5),
        None,
        None,
        None,
        None,
        Some(0),
        Some(0),
    ];
    let table = if format == AudioFormat::AmrWb {
        &WB
    } else {
        &NB
    };
    table.get(usize::from(ft)).copied().flatten()
}

/// Counts AMR frames (20 ms each) by walking the frame headers.
pub fn amr_duration<'a>(file: impl Into<EvidenceFile<'a>>, format: AudioFormat) -> Result<i64> {
    let f = file.into().open()?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let magic_len = if format == AudioFormat::AmrWb { 9 } else { 6 };
    skip(&mut r, magic_len)?;
    let mut frames: i64 = 0;
    let mut header = [0u8; 1];
    while read_frame_part(&mut r, &mut header)? {
        if header[0] & 0x83 != 0 {
            return Err(decode_err("bad AMR frame header padding"));
        }
        let ft = (header[0] >> 3) & 0x0F;
        let size =
            amr_frame_size(format, ft).ok_or_else(|| decode_err("reserved AMR frame type"))?;
        skip(&mut r, size)?;
        frames += 1;
    }
    Ok(frames * 20)
}

/// Sums ADTS frames (1024 samples per raw data block) at their stated sample rate.
pub fn adts_duration<'a>(file: impl Into<EvidenceFile<'a>>) -> Result<i64> {
    const RATES: [u64; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let f = file.into().open()?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let mut samples: u64 = 0;
    let mut rate: Option<u64> = None;
    let mut h = [0u8; 7];
    while read_frame_part(&mut r, &mut h)? {
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            return Err(decode_err("lost ADTS sync"));
        }
        let sf = usize::from((h[2] >> 2) & 0x0F);
        let r_now = *RATES
            .get(sf)
            .ok_or_else(|| decode_err("bad ADTS sample rate"))?;
        if rate.is_some_and(|x| x != r_now) {
            return Err(decode_err("ADTS sample rate changes mid-stream"));
        }
        rate = Some(r_now);
        let len = (u64::from(h[3] & 0x03) << 11) | (u64::from(h[4]) << 3) | u64::from(h[5] >> 5);
        if len < 7 {
            return Err(decode_err("bad ADTS frame length"));
        }
        let blocks = u64::from(h[6] & 0x03) + 1;
        samples += 1024 * blocks;
        skip(&mut r, len - 7)?;
    }
    let rate = rate.ok_or_else(|| decode_err("no ADTS frames"))?;
    Ok(i64::try_from(samples * 1000 / rate).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_tells_formats_apart() {
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Some(AudioFormat::Wav));
        assert_eq!(sniff(b"#!AMR\n\x3c"), Some(AudioFormat::AmrNb));
        assert_eq!(sniff(b"#!AMR-WB\n"), Some(AudioFormat::AmrWb));
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A \0\0"), Some(AudioFormat::Mp4));
        assert_eq!(
            sniff(&[0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]),
            Some(AudioFormat::Adts)
        );
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x00, 0, 0, 0]), None); // MP3
        assert_eq!(sniff(b"OggS\0\x02"), None);
        assert_eq!(sniff(b""), None);
    }
}
