//! The store-key lease and the wipe: what protects a lost or stolen phone.
//!
//! A lease is a duration set by the server (at enrolment or sync). If the phone has not reached
//! the server for longer than that, every read and local write through the public API fails with
//! [`CoreError::Locked`] until a sync reaches the server again, so an offline stolen phone stops
//! showing data. Sync itself is not blocked: it is how the phone unlocks.
//!
//! A wipe (ordered by the server for a revoked device) removes the database, its sidecar files
//! and the blob folder; the handover variant keeps the records not yet synced.

use super::{FieldStore, get_meta, lock, set_meta};
use crate::{CoreError, Result};
use std::sync::atomic::Ordering;

/// Whether the store is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LockState {
    /// Usable.
    Unlocked,
    /// Locked since the lease ran out at `since_ms`.
    Locked {
        /// When the lease ran out.
        since_ms: i64,
    },
}

/// What a wipe keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WipeMode {
    /// Everything goes.
    All,
    /// Records with changes the server has not acknowledged stay, for a handover; everything
    /// already synced goes.
    KeepUnsynced,
}

/// What a wipe removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WipeReport {
    /// Records removed.
    pub records_removed: i64,
    /// Records kept (handover mode).
    pub records_kept: i64,
    /// Whether the database file itself was deleted.
    pub database_deleted: bool,
    /// Evidence files removed (handover mode: those the server confirmed).
    pub blobs_removed: i64,
    /// Evidence files kept (handover mode: those the server has not confirmed).
    pub blobs_kept: i64,
}

/// A document the server holds all of: acknowledged, never refused.
const SYNCED_DOC: &str = "local_change <= synced_change AND rejected IS NULL";

pub(super) fn meta_i64(conn: &rusqlite::Connection, key: &str) -> Result<Option<i64>> {
    Ok(get_meta(conn, key)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok()))
}

impl FieldStore {
    /// Sets (or clears) the lease duration.
    pub fn set_lease(&self, lease_ms: Option<i64>) -> Result<()> {
        let w = lock(&self.writer);
        let v = lease_ms.unwrap_or(0).max(0);
        set_meta(&w.conn, "lease_ms", v.to_string().as_bytes())?;
        self.lease_ms.store(v, Ordering::SeqCst);
        Ok(())
    }

    /// Records that the server was reached (by a sync) at `at_ms`; this renews the lease.
    pub fn record_server_contact(&self, at_ms: i64) -> Result<()> {
        let w = lock(&self.writer);
        set_meta(
            &w.conn,
            "last_server_contact_ms",
            at_ms.to_string().as_bytes(),
        )?;
        self.last_contact_ms.store(at_ms, Ordering::SeqCst);
        Ok(())
    }

    /// The lock state at `now_ms`.
    pub fn lock_state_at(&self, now_ms: i64) -> LockState {
        let lease = self.lease_ms.load(Ordering::SeqCst);
        if lease <= 0 {
            return LockState::Unlocked;
        }
        let since = self
            .last_contact_ms
            .load(Ordering::SeqCst)
            .saturating_add(lease);
        if now_ms > since {
            LockState::Locked { since_ms: since }
        } else {
            LockState::Unlocked
        }
    }

    /// The lock state now.
    pub fn lock_state(&self) -> LockState {
        self.lock_state_at(crate::ids::now_ms())
    }

    /// Fails with [`CoreError::Locked`] when the lease has run out.
    pub(crate) fn guard(&self) -> Result<()> {
        match self.lock_state() {
            LockState::Unlocked => Ok(()),
            LockState::Locked { since_ms } => Err(CoreError::Locked { since_ms }),
        }
    }

    /// Wipes the store. With [`WipeMode::All`] the database, its WAL and marker files and the
    /// blob folder are deleted and the store is consumed; with [`WipeMode::KeepUnsynced`] only
    /// records whose every change the server acknowledged are removed.
    pub fn wipe(self, mode: WipeMode) -> Result<WipeReport> {
        match mode {
            WipeMode::All => {
                let total: i64 =
                    self.read(|c| Ok(c.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))?))?;
                let path = self.path.clone();
                let blob_dir = Some(self.blob_dir().to_path_buf());
                drop(self);
                let mut files = vec![path.clone()];
                for suffix in ["-wal", "-shm", ".install", ".lock"] {
                    let mut name = path
                        .file_name()
                        .map(|n| n.to_os_string())
                        .unwrap_or_default();
                    name.push(suffix);
                    files.push(path.with_file_name(name));
                }
                for f in files {
                    match std::fs::remove_file(&f) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(CoreError::io(&f, e)),
                    }
                }
                if let Some(dir) = blob_dir {
                    match std::fs::remove_dir_all(&dir) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(CoreError::io(&dir, e)),
                    }
                }
                Ok(WipeReport {
                    records_removed: total,
                    database_deleted: true,
                    ..WipeReport::default()
                })
            }
            WipeMode::KeepUnsynced => self.wipe_synced(),
        }
    }

    /// The handover wipe: removes every record the server holds all of (acknowledged and
    /// not refused) and every evidence file the server confirmed, keeps the rest, and leaves
    /// the store open and usable for export or a new enrolment. The credential is erased (it
    /// is revoked) and the sync cursor and known server heads are reset, so after a new
    /// enrolment the kept records go up whole and the feed is read from the start. The store
    /// takes a new Automerge actor: the old one belongs to the revoked device, and the server
    /// holds back that device's later changes.
    pub fn wipe_synced(&self) -> Result<WipeReport> {
        let mut w = lock(&self.writer);
        let tx = w.conn.transaction()?;
        let gone_records = {
            let mut stmt = tx.prepare(&format!("SELECT id, kind FROM docs WHERE {SYNCED_DOC}"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .filter_map(|(id, kind)| {
                    crate::model::RecordKind::parse(&kind)
                        .map(|k| super::RecordChange::new(id, k, super::ChangeOrigin::Wipe))
                })
                .collect::<Vec<_>>()
        };
        let removed = i64::try_from(gone_records.len()).unwrap_or(i64::MAX);
        let gone = format!("(SELECT id FROM docs WHERE {SYNCED_DOC})");
        tx.execute(&format!("DELETE FROM chunks WHERE doc_id IN {gone}"), [])?;
        for (table, col) in [
            ("case_actions", "case_id"),
            ("follow_ups", "case_id"),
            ("cases", "id"),
            ("parties", "id"),
            ("demonstrations", "id"),
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE {col} IN {gone}"), [])?;
        }
        tx.execute(&format!("DELETE FROM docs WHERE {SYNCED_DOC}"), [])?;
        tx.execute("UPDATE docs SET server_heads = NULL", [])?;
        let mut stmt =
            tx.prepare("SELECT path FROM blobs WHERE server_confirmed_at_ms IS NOT NULL")?;
        let confirmed = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        drop(stmt);
        tx.execute(
            "DELETE FROM blobs WHERE server_confirmed_at_ms IS NOT NULL",
            [],
        )?;
        for key in [
            crate::sync::client::META_CREDENTIAL,
            crate::sync::session::META_CURSOR,
        ] {
            tx.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        }
        let mut actor = [0u8; 16];
        crate::ids::random_bytes(&mut actor)?;
        set_meta(&tx, "actor_id", &actor)?;
        let kept: i64 = tx.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))?;
        let blobs_kept: i64 = tx.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))?;
        tx.commit()?;
        w.actor = automerge::ActorId::from(actor.as_slice());
        w.cache = super::docs::DocCache::default();
        // Rewrite the file and empty the WAL so no page of a removed record remains.
        w.conn.execute_batch("VACUUM")?;
        w.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        drop(w);
        self.announce(gone_records);
        // Files go after the rows: a crash in between leaves files no row names, never a
        // row without its file.
        let root = self.blob_dir().to_path_buf();
        for rel in &confirmed {
            let f = root.join(rel);
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CoreError::io(&f, e)),
            }
        }
        Ok(WipeReport {
            records_removed: removed,
            records_kept: kept,
            database_deleted: false,
            blobs_removed: i64::try_from(confirmed.len()).unwrap_or(i64::MAX),
            blobs_kept,
        })
    }
}
