//! The restore epoch: a random id in the server's settings that a restore from a backup
//! replaces, announced in every sync reply.
//!
//! Phones keep a feed cursor and remember what the server holds of each document and evidence
//! file. A server restored from a backup is behind both: its feed numbers are reused for new
//! writes below a phone's cursor, and changes and files the phone sent after the backup are
//! gone although the phone believes them delivered. Nothing in the data itself tells a phone
//! this happened, so the server says it: a phone that sees an epoch other than the one it
//! last synced under reads the feed from 0 and offers everything again
//! (`docs/sync-protocol.md`, "Restore epoch").
//!
//! The id lives in the database, not the data folder, so that it travels with the database
//! (every server process on one PostgreSQL database announces the same one) and so that a
//! restore that forgets to renew it is impossible through `admin restore`, which writes it.

use crate::error::Result;
use crate::storage::Storage;
use std::sync::{Arc, Mutex, Weak};

/// The settings key.
pub const SETTING: &str = "restore_epoch";

/// A new epoch: 16 random bytes, hex.
pub fn new_epoch() -> Result<String> {
    Ok(hex::encode(crate::auth::random::<16>()?))
}

/// The epoch in force, created on first use.
pub async fn current(storage: &dyn Storage) -> Result<String> {
    let bytes = storage
        .setting_or_insert(SETTING, new_epoch()?.into_bytes())
        .await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Replaces the epoch with a new one (after a restore) and returns it. Deleting first and
/// inserting after is not atomic, and need not be: a crash in between leaves no epoch, and
/// the first start creates a new random one, which phones read as the same news.
pub async fn renew(storage: &dyn Storage) -> Result<String> {
    storage.delete_setting(SETTING).await?;
    let fresh = new_epoch()?;
    let stored = storage
        .setting_or_insert(SETTING, fresh.into_bytes())
        .await?;
    Ok(String::from_utf8_lossy(&stored).into_owned())
}

/// The epoch of each storage a server of this process runs on, so a sync request costs no
/// settings query. A storage is known by its allocation: the cache holds a `Weak` to it, which
/// keeps the address from being reused by a later storage (a restarted server in tests) while
/// the entry exists; entries whose storage is gone are dropped on the next miss. The epoch of
/// a running server never changes: a restore happens into a stopped server's database.
static CACHE: Mutex<Vec<(Weak<dyn Storage>, String)>> = Mutex::new(Vec::new());

/// The epoch of `storage`, read once per storage and process.
pub async fn cached(storage: &Arc<dyn Storage>) -> Result<String> {
    let key = Arc::downgrade(storage);
    if let Some(epoch) = lookup(&key) {
        return Ok(epoch);
    }
    let epoch = current(storage.as_ref()).await?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(w, _)| w.strong_count() > 0);
    if !cache.iter().any(|(w, _)| Weak::ptr_eq(w, &key)) {
        cache.push((key, epoch.clone()));
    }
    Ok(epoch)
}

fn lookup(key: &Weak<dyn Storage>) -> Option<String> {
    let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .iter()
        .find(|(w, _)| Weak::ptr_eq(w, key))
        .map(|(_, e)| e.clone())
}
