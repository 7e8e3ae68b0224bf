//! The folder store's reads: a stored blob is the file `<root>/<aa>/<sha>`; unfinished
//! uploads are in `<root>/partial/` and never listed as blobs.

use super::{ByteStream, StoredBlob};
use crate::blobs::BlobDir;
use futures::StreamExt;
use std::path::Path;

/// Whether `name` is a stored blob's file name in folder `aa`.
fn blob_name(aa: &str, name: &str) -> bool {
    name.len() == 64
        && name.starts_with(aa)
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobDir {
    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The size of stored blob `sha` (a checked, lowercase id); `None` when absent.
    pub(crate) async fn stored_size(&self, sha: &str) -> std::io::Result<Option<u64>> {
        match tokio::fs::metadata(self.final_path(sha)).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Bytes `start..start + count` of stored blob `sha`, streamed from its file.
    pub(crate) async fn read_range(
        &self,
        sha: &str,
        start: u64,
        count: u64,
    ) -> std::io::Result<Option<ByteStream>> {
        let file = match tokio::fs::File::open(self.final_path(sha)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            crate::blobs::ranged_body(file, start, count).await?.boxed(),
        ))
    }

    /// Every stored blob: the files `<aa>/<sha>` (a partial upload or a stray file is not
    /// one). Blocking.
    pub(crate) fn list_stored(&self) -> std::io::Result<Vec<StoredBlob>> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(&self.root)? {
            let dir = dir?;
            let aa = dir.file_name().to_string_lossy().to_string();
            if aa.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path())? {
                let f = f?;
                let name = f.file_name().to_string_lossy().to_string();
                let meta = f.metadata()?;
                if meta.is_file() && blob_name(&aa, &name) {
                    out.push(StoredBlob {
                        sha256: name,
                        size: meta.len(),
                    });
                }
            }
        }
        Ok(out)
    }
}
