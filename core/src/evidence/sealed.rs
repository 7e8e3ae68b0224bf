//! Evidence files sealed at rest: a phone's blob folder holds ciphertext only, so a copied
//! or stolen folder shows no photo, recording or signature.
//!
//! Each file gets its own random 256-bit key; the key is wrapped (XChaCha20-Poly1305) by a
//! wrap key derived from the store key the app keeps in the platform keystore, and written in
//! the file's header. The content follows as 64 KiB chunks, each sealed with
//! ChaCha20-Poly1305 under the file key with a nonce made of the chunk index and a "last
//! chunk" flag (the STREAM construction), so chunks cannot be reordered, dropped or cut off
//! without failing authentication, and any offset can be read without decrypting what comes
//! before it (resumed uploads, media probing that seeks).
//!
//! Layout: `magic (8) | chunk size u32 LE (4) | wrap nonce (24) | wrapped key (48) | chunks`.
//! Every chunk but the last is full; the last holds the rest (possibly nothing). The file's
//! name stays the SHA-256 of the plaintext, which readers check, so a file swapped for another
//! sealed file under the same key is still detected.

use crate::{CoreError, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// First bytes of a sealed file. No accepted evidence format starts with them (JPEG, PNG,
/// WAV, MP4, AMR and ADTS all have their own signatures), so a plain file left from before
/// sealing is told apart by its first bytes.
pub const MAGIC: &[u8; 8] = b"FCSEAL\x00\x01";
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const SEALED_CHUNK: u64 = (CHUNK + TAG) as u64;
/// Bytes before the first chunk.
pub const HEADER: usize = 8 + 4 + 24 + 48;

/// The key that wraps every file key of one store. Derived, never stored.
#[derive(Clone)]
pub struct BlobKey([u8; 32]);

impl std::fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobKey(<redacted>)")
    }
}

impl BlobKey {
    /// The wrap key of the store opened with `store_key` (a separate key from the one
    /// SQLCipher uses, so neither use weakens the other).
    pub fn derive(store_key: &[u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(store_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"fieldcase/evidence-file-wrap/v1");
        BlobKey(mac.finalize().into_bytes().into())
    }
}

fn bad(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.to_string())
}

fn chunk_nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[8] = u8::from(last);
    Nonce::from(n)
}

fn header_aad() -> [u8; 12] {
    let mut aad = [0u8; 12];
    aad[..8].copy_from_slice(MAGIC);
    aad[8..].copy_from_slice(&(CHUNK as u32).to_le_bytes());
    aad
}

/// A fresh file key and the header that carries it wrapped.
fn new_header(key: &BlobKey) -> io::Result<(ChaCha20Poly1305, Vec<u8>)> {
    let mut file_key = [0u8; 32];
    let mut wrap_nonce = [0u8; 24];
    crate::ids::random_bytes(&mut file_key).map_err(io::Error::other)?;
    crate::ids::random_bytes(&mut wrap_nonce).map_err(io::Error::other)?;
    let aad = header_aad();
    let wrapped = XChaCha20Poly1305::new((&key.0).into())
        .encrypt(
            &XNonce::from(wrap_nonce),
            Payload {
                msg: &file_key,
                aad: &aad,
            },
        )
        .map_err(|_| io::Error::other("sealing the file key failed"))?;
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(&aad);
    header.extend_from_slice(&wrap_nonce);
    header.extend_from_slice(&wrapped);
    Ok((ChaCha20Poly1305::new((&file_key).into()), header))
}

/// The file key of a header read from disk; fails when the magic, chunk size or the store
/// key does not match.
fn open_header(key: &BlobKey, header: &[u8]) -> io::Result<ChaCha20Poly1305> {
    let aad = header_aad();
    if header.len() != HEADER || header[..12] != aad {
        return Err(bad("not a sealed evidence file of this version"));
    }
    let file_key = XChaCha20Poly1305::new((&key.0).into())
        .decrypt(
            XNonce::from_slice(&header[12..36]),
            Payload {
                msg: &header[36..],
                aad: &aad,
            },
        )
        .map_err(|_| bad("the evidence file was sealed under another store key"))?;
    ChaCha20Poly1305::new_from_slice(&file_key).map_err(|_| bad("bad file key"))
}

/// Whether the file at `path` is sealed (starts with [`MAGIC`]).
pub fn is_sealed(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n == head.len() && &head == MAGIC)
}

/// Seals everything written to it. Holds back the last (possibly partial) chunk until
/// [`SealedWriter::finish`], because only then is it known to be last.
pub struct SealedWriter<W: Write> {
    out: W,
    cipher: ChaCha20Poly1305,
    next: u64,
    pending: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for SealedWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedWriter")
            .field("chunks_written", &self.next)
            .finish_non_exhaustive()
    }
}

impl<W: Write> SealedWriter<W> {
    /// Starts a sealed file: writes the header with a fresh wrapped file key.
    pub fn new(mut out: W, key: &BlobKey) -> io::Result<Self> {
        let (cipher, header) = new_header(key)?;
        out.write_all(&header)?;
        Ok(SealedWriter {
            out,
            cipher,
            next: 0,
            pending: Vec::with_capacity(CHUNK * 2),
        })
    }

    fn seal(&mut self, plain: &[u8], last: bool) -> io::Result<()> {
        let sealed = self
            .cipher
            .encrypt(&chunk_nonce(self.next, last), plain)
            .map_err(|_| io::Error::other("sealing a chunk failed"))?;
        self.out.write_all(&sealed)?;
        self.next += 1;
        Ok(())
    }

    /// Writes every full chunk that is known not to be the last.
    fn drain(&mut self) -> io::Result<()> {
        let mut start = 0;
        while self.pending.len() - start > CHUNK {
            let chunk = self.pending[start..start + CHUNK].to_vec();
            self.seal(&chunk, false)?;
            start += CHUNK;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Plaintext bytes already sealed to the output (excluding the held-back chunk).
    pub fn sealed_len(&self) -> u64 {
        self.next * CHUNK as u64
    }

    /// Seals the held-back chunk as the last one and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let rest = std::mem::take(&mut self.pending);
        self.seal(&rest, true)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Gives the output back without the held-back chunk: what was written is a valid
    /// prefix to resume from with [`SealedWriter::resume`].
    pub fn suspend(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

impl SealedWriter<File> {
    /// Reopens a file left by [`SealedWriter::suspend`] (or cut short by a crash): keeps its
    /// whole chunks, drops a torn tail, and continues after them. Returns `None` when the
    /// file is not a resumable sealed file of this store (the caller starts over).
    pub fn resume(mut file: File, key: &BlobKey) -> io::Result<Option<Self>> {
        let len = file.metadata()?.len();
        if len < HEADER as u64 {
            return Ok(None);
        }
        let mut header = vec![0u8; HEADER];
        file.seek(SeekFrom::Start(0))?;
        file.read_exact(&mut header)?;
        let Ok(cipher) = open_header(key, &header) else {
            return Ok(None);
        };
        let whole = (len - HEADER as u64) / SEALED_CHUNK;
        file.set_len(HEADER as u64 + whole * SEALED_CHUNK)?;
        file.seek(SeekFrom::End(0))?;
        Ok(Some(SealedWriter {
            out: file,
            cipher,
            next: whole,
            pending: Vec::with_capacity(CHUNK * 2),
        }))
    }
}

impl<W: Write> Write for SealedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.drain()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads a sealed file as its plaintext, with seeking. Every chunk is authenticated before
/// any of its bytes are returned.
pub struct SealedReader<R: Read + Seek> {
    inner: R,
    cipher: ChaCha20Poly1305,
    chunks: u64,
    plain_len: u64,
    pos: u64,
    current: Option<(u64, Vec<u8>)>,
}

impl<R: Read + Seek> std::fmt::Debug for SealedReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedReader")
            .field("plain_len", &self.plain_len)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl<R: Read + Seek> SealedReader<R> {
    /// Opens a sealed stream; checks the header, the store key and the length.
    pub fn new(mut inner: R, key: &BlobKey) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        let mut header = vec![0u8; HEADER];
        inner
            .read_exact(&mut header)
            .map_err(|_| bad("sealed evidence file is shorter than its header"))?;
        let cipher = open_header(key, &header)?;
        let body = len - HEADER as u64;
        let chunks = body.div_ceil(SEALED_CHUNK).max(1);
        let last = body
            .checked_sub((chunks - 1) * SEALED_CHUNK)
            .filter(|l| *l >= TAG as u64)
            .ok_or_else(|| bad("sealed evidence file was cut short"))?;
        let plain_len = (chunks - 1) * CHUNK as u64 + (last - TAG as u64);
        Ok(SealedReader {
            inner,
            cipher,
            chunks,
            plain_len,
            pos: 0,
            current: None,
        })
    }

    /// Plaintext length.
    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    fn load(&mut self, index: u64) -> io::Result<()> {
        if self.current.as_ref().is_some_and(|(i, _)| *i == index) {
            return Ok(());
        }
        let last = index + 1 == self.chunks;
        let sealed_len = if last {
            (self.plain_len - index * CHUNK as u64) as usize + TAG
        } else {
            CHUNK + TAG
        };
        let mut sealed = vec![0u8; sealed_len];
        self.inner
            .seek(SeekFrom::Start(HEADER as u64 + index * SEALED_CHUNK))?;
        self.inner.read_exact(&mut sealed)?;
        let plain = self
            .cipher
            .decrypt(&chunk_nonce(index, last), sealed.as_slice())
            .map_err(|_| bad("sealed evidence file failed authentication"))?;
        self.current = Some((index, plain));
        Ok(())
    }
}

impl<R: Read + Seek> Read for SealedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.plain_len || buf.is_empty() {
            return Ok(0);
        }
        let index = self.pos / CHUNK as u64;
        self.load(index)?;
        let Some((_, plain)) = &self.current else {
            return Ok(0);
        };
        let at = (self.pos - index * CHUNK as u64) as usize;
        let n = (plain.len() - at).min(buf.len());
        buf[..n].copy_from_slice(&plain[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SealedReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.plain_len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

/// A stored file to read as content: where it is, and the key to unseal it with. Parsers
/// take this rather than a path, so they never read ciphertext as media.
#[derive(Clone, Copy, Debug)]
pub struct EvidenceFile<'a> {
    /// The file.
    pub path: &'a Path,
    /// The store's wrap key, when the store seals its files.
    pub key: Option<&'a BlobKey>,
}

impl EvidenceFile<'_> {
    /// Opens the content.
    pub fn open(&self) -> Result<BlobReader> {
        BlobReader::open(self.path, self.key)
    }
}

impl<'a> From<&'a Path> for EvidenceFile<'a> {
    fn from(path: &'a Path) -> Self {
        EvidenceFile { path, key: None }
    }
}

impl<'a> From<&'a std::path::PathBuf> for EvidenceFile<'a> {
    fn from(path: &'a std::path::PathBuf) -> Self {
        EvidenceFile { path, key: None }
    }
}

/// A stored evidence file opened for reading: sealed or (from before sealing, or in a store
/// without a key) plain.
#[derive(Debug)]
pub enum BlobReader {
    /// A plain file.
    Plain(File, u64),
    /// A sealed file.
    Sealed(Box<SealedReader<File>>),
}

impl BlobReader {
    /// Opens `path`, unsealing it with `key` when it is sealed. A sealed file with no key
    /// (or another store's key) is an error, never ciphertext handed out as content.
    pub fn open(path: &Path, key: Option<&BlobKey>) -> Result<Self> {
        let io_err = |e| CoreError::io(path, e);
        let sealed = is_sealed(path).map_err(io_err)?;
        let f = File::open(path).map_err(io_err)?;
        if !sealed {
            let len = f.metadata().map_err(io_err)?.len();
            return Ok(BlobReader::Plain(f, len));
        }
        let Some(key) = key else {
            return Err(CoreError::io(
                path,
                bad("sealed evidence file, but the store was opened without a key"),
            ));
        };
        Ok(BlobReader::Sealed(Box::new(
            SealedReader::new(f, key).map_err(io_err)?,
        )))
    }

    /// Content length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            BlobReader::Plain(_, n) => *n,
            BlobReader::Sealed(r) => r.plain_len(),
        }
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobReader::Plain(f, _) => f.read(buf),
            BlobReader::Sealed(r) => r.read(buf),
        }
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            BlobReader::Plain(f, _) => f.seek(to),
            BlobReader::Sealed(r) => r.seek(to),
        }
    }
}

impl symphonia::core::io::MediaSource for BlobReader {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn key(b: u8) -> BlobKey {
        BlobKey::derive(&[b; 32])
    }

    fn seal(data: &[u8], k: &BlobKey) -> Vec<u8> {
        let mut w = SealedWriter::new(Vec::new(), k).expect("header");
        // Odd write sizes: chunk boundaries must not depend on how the caller writes.
        for part in data.chunks(7_001) {
            w.write_all(part).expect("write");
        }
        w.finish().expect("finish")
    }

    fn unseal(sealed: Vec<u8>, k: &BlobKey) -> io::Result<Vec<u8>> {
        let mut r = SealedReader::new(Cursor::new(sealed), k)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        assert_eq!(out.len() as u64, r.plain_len());
        Ok(out)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_chunk_boundary() {
        let k = key(1);
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let data = sample(n);
            let sealed = seal(&data, &k);
            assert_eq!(
                sealed.len(),
                HEADER + n + TAG * n.div_ceil(CHUNK).max(1),
                "size {n}"
            );
            assert_eq!(unseal(sealed, &k).expect("unseal"), data, "size {n}");
        }
    }

    #[test]
    fn the_plaintext_does_not_appear_in_the_sealed_bytes() {
        let data = b"ID 341504199003071238 phone 13800138000 ".repeat(5000);
        let sealed = seal(&data, &key(2));
        assert!(!sealed.windows(18).any(|w| w == b"341504199003071238"));
    }

    #[test]
    fn another_stores_key_is_refused() {
        let sealed = seal(&sample(1000), &key(3));
        let e = SealedReader::new(Cursor::new(sealed), &key(4)).expect_err("must fail");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn flipped_reordered_and_cut_chunks_fail_authentication() {
        let k = key(5);
        let data = sample(3 * CHUNK + 100);
        let sealed = seal(&data, &k);
        let mut flipped = sealed.clone();
        flipped[HEADER + CHUNK + 40] ^= 1;
        assert!(unseal(flipped, &k).is_err());

        let c = SEALED_CHUNK as usize;
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER, HEADER + c);
        let first = swapped[a..a + c].to_vec();
        let second = swapped[b..b + c].to_vec();
        swapped[a..a + c].copy_from_slice(&second);
        swapped[b..b + c].copy_from_slice(&first);
        assert!(unseal(swapped, &k).is_err());

        // Dropping the real last chunk makes a full chunk the last: its nonce says otherwise.
        let cut = sealed[..HEADER + 3 * c].to_vec();
        assert!(unseal(cut, &k).is_err());
    }

    #[test]
    fn seeking_reads_the_same_bytes_as_reading_through() {
        let k = key(6);
        let data = sample(2 * CHUNK + 999);
        let mut r = SealedReader::new(Cursor::new(seal(&data, &k)), &k).expect("open");
        for at in [
            0u64,
            5,
            CHUNK as u64 - 3,
            CHUNK as u64,
            2 * CHUNK as u64 + 900,
        ] {
            r.seek(SeekFrom::Start(at)).expect("seek");
            let mut buf = [0u8; 50];
            let n = r.read(&mut buf).expect("read");
            let at = at as usize;
            assert_eq!(&buf[..n], &data[at..at + n]);
            assert!(n > 0);
        }
        r.seek(SeekFrom::End(0)).expect("seek");
        assert_eq!(r.read(&mut [0u8; 4]).expect("read"), 0);
    }

    #[test]
    fn a_suspended_file_resumes_and_ends_as_if_written_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("part");
        let k = key(7);
        let data = sample(4 * CHUNK + 321);
        let f = File::create(&p).expect("create");
        let mut w = SealedWriter::new(f, &k).expect("new");
        w.write_all(&data[..2 * CHUNK + 500]).expect("write");
        let sealed_so_far = w.sealed_len();
        assert_eq!(sealed_so_far, 2 * CHUNK as u64);
        let mut f = w.suspend().expect("suspend");
        // A torn tail, as a crash mid-write would leave.
        f.write_all(&[9u8; 100]).expect("tail");
        drop(f);

        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .expect("open");
        let mut w = SealedWriter::resume(f, &k).expect("io").expect("resumable");
        assert_eq!(w.sealed_len(), sealed_so_far);
        w.write_all(&data[sealed_so_far as usize..]).expect("write");
        w.finish().expect("finish");
        let out = unseal(std::fs::read(&p).expect("read"), &k).expect("unseal");
        assert_eq!(out, data);

        let f = File::open(&p).expect("open");
        assert!(
            SealedWriter::resume(f, &key(8)).expect("io").is_none(),
            "another key starts over"
        );
    }
}
