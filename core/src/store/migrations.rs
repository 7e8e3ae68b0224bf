//! Numbered schema migrations of the phone store.
//!
//! A migration, once shipped, is never edited: add a new one. `PRAGMA user_version` holds the
//! number of the last one applied; each runs in the transaction that bumps it.

use crate::{CoreError, Result};
use rusqlite::Connection;

/// The migrations, in order; index + 1 is the version each brings the store to.
const MIGRATIONS: &[&str] = &[
    // 1: documents, chunks, sync bookkeeping, projections.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;

    -- One row per record document. local_change counts local writes and merges; sync marks
    -- the value it uploaded in synced_change, so a write during a sync is never lost.
    CREATE TABLE docs (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        heads         BLOB NOT NULL,
        chunk_count   INTEGER NOT NULL,
        next_seq      INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        local_change  INTEGER NOT NULL DEFAULT 1,
        synced_change INTEGER NOT NULL DEFAULT 0,
        server_heads  BLOB,
        rejected      TEXT
    ) WITHOUT ROWID;
    CREATE INDEX docs_dirty ON docs(local_change, synced_change);

    -- Automerge bytes: a snapshot (kind 0) followed by incremental change chunks (kind 1).
    CREATE TABLE chunks (
        doc_id TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        kind   INTEGER NOT NULL,
        bytes  BLOB NOT NULL,
        PRIMARY KEY (doc_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE cases (
        id                     TEXT PRIMARY KEY,
        unit                   TEXT NOT NULL,
        status                 TEXT NOT NULL,
        violation_code         TEXT NOT NULL,
        tier                   TEXT NOT NULL,
        party_id               TEXT,
        party_match_hash       TEXT,
        occurred_at_ms         INTEGER NOT NULL,
        day                    TEXT NOT NULL,
        lat                    REAL NOT NULL,
        lon                    REAL NOT NULL,
        exemption_kind         TEXT,
        exemption_at_ms        INTEGER,
        correction_deadline_ms INTEGER,
        corrected              INTEGER NOT NULL,
        decision_amount_yuan   INTEGER,
        review_required        INTEGER NOT NULL,
        review_outcome         TEXT,
        exemption_conflict     INTEGER NOT NULL,
        closed                 INTEGER NOT NULL,
        action_count           INTEGER NOT NULL,
        evidence_count         INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX cases_open ON cases(closed, unit, occurred_at_ms);
    CREATE INDEX cases_unit_day ON cases(unit, day);
    CREATE INDEX cases_party ON cases(party_match_hash, violation_code, occurred_at_ms);
    CREATE INDEX cases_party_id ON cases(party_id, occurred_at_ms);

    CREATE TABLE case_actions (
        case_id          TEXT NOT NULL,
        action_id        TEXT NOT NULL,
        method           TEXT NOT NULL,
        measure_category TEXT NOT NULL,
        at_ms            INTEGER NOT NULL,
        by_user          TEXT NOT NULL,
        PRIMARY KEY (case_id, action_id)
    ) WITHOUT ROWID;
    CREATE INDEX case_actions_at ON case_actions(at_ms);

    CREATE TABLE follow_ups (
        case_id     TEXT NOT NULL,
        follow_up_id TEXT NOT NULL,
        due_ms      INTEGER NOT NULL,
        done_at_ms  INTEGER,
        corrected   INTEGER,
        PRIMARY KEY (case_id, follow_up_id)
    ) WITHOUT ROWID;
    CREATE INDEX follow_ups_due ON follow_ups(done_at_ms, due_ms);

    CREATE TABLE parties (
        id               TEXT PRIMARY KEY,
        party_type       TEXT NOT NULL,
        unit             TEXT NOT NULL,
        match_hash       TEXT NOT NULL,
        masked_name      TEXT NOT NULL,
        masked_id_number TEXT NOT NULL,
        masked_phone     TEXT
    ) WITHOUT ROWID;
    CREATE INDEX parties_match ON parties(match_hash);

    CREATE TABLE demonstrations (
        id               TEXT PRIMARY KEY,
        unit             TEXT NOT NULL,
        team             TEXT NOT NULL,
        day              TEXT NOT NULL,
        started_at_ms    INTEGER NOT NULL,
        ended_at_ms      INTEGER NOT NULL,
        people_persuaded INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX demonstrations_unit_day ON demonstrations(unit, day);
    "#,
    // 2: evidence blobs (content-addressed files beside the database) and device keys.
    r#"
    -- One row per stored file: originals and their derived thumbnails and display copies.
    -- path is relative to the blob folder. server_confirmed_at_ms stays NULL until the server
    -- has verified the hash of its copy; until then the phone keeps the file whatever happens.
    CREATE TABLE blobs (
        sha256                 TEXT PRIMARY KEY,
        size                   INTEGER NOT NULL,
        mime                   TEXT NOT NULL,
        role                   TEXT NOT NULL,
        path                   TEXT NOT NULL,
        created_at_ms          INTEGER NOT NULL,
        server_confirmed_at_ms INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX blobs_unconfirmed ON blobs(server_confirmed_at_ms, created_at_ms);

    -- Device public keys this store trusts: its own, and enrolled devices learned from sync.
    CREATE TABLE device_keys (
        public_key    TEXT PRIMARY KEY,
        device_id     TEXT NOT NULL,
        source        TEXT NOT NULL,
        added_at_ms   INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 3: when the server revoked a learned device key (server clock, unix ms); evidence it
    // signed after that time is reported by verification.
    r#"
    ALTER TABLE device_keys ADD COLUMN revoked_at_ms INTEGER;
    "#,
    // 4: catalogue versions received from the server, each as the signed bytes it verified,
    // so every version stays available to judge the cases recorded under it. The version in
    // force is the meta value `catalogue_current`.
    r#"
    CREATE TABLE catalogues (
        version        TEXT PRIMARY KEY,
        digest         TEXT NOT NULL,
        signature      TEXT NOT NULL,
        bundle         BLOB NOT NULL,
        published_at_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 5: enforcement documents: the number blocks the server reserved for this device, the
    // numbers seen used on any case (projected from the cases' documents), and the roster of
    // officers' names and certificate numbers that documents print.
    r#"
    CREATE TABLE number_blocks (
        series         TEXT NOT NULL,
        year           INTEGER NOT NULL,
        first          INTEGER NOT NULL,
        last           INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        PRIMARY KEY (series, year, first)
    ) WITHOUT ROWID;
    CREATE TABLE issued_numbers (
        series      TEXT NOT NULL,
        year        INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        document_id TEXT NOT NULL,
        case_id     TEXT NOT NULL,
        PRIMARY KEY (series, year, seq)
    ) WITHOUT ROWID;
    CREATE TABLE roster (
        user_id TEXT PRIMARY KEY,
        name    TEXT NOT NULL,
        role    TEXT NOT NULL,
        unit    TEXT NOT NULL,
        cert_no TEXT
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`]; refuses a newer one.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > CURRENT_VERSION {
        return Err(CoreError::SchemaTooNew {
            found,
            supported: CURRENT_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_reaches_current_version_and_reruns_are_no_ops() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        migrate(&mut conn)?;
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(v, CURRENT_VERSION);
        Ok(())
    }

    #[test]
    fn version_1_store_upgrades_to_2_keeping_its_rows() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[0])?;
        tx.pragma_update(None, "user_version", 1)?;
        tx.execute("INSERT INTO meta(key, value) VALUES ('k', x'01')", [])?;
        tx.commit()?;
        migrate(&mut conn)?;
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert!(v >= 2);
        let kept: i64 = conn.query_row("SELECT count(*) FROM meta", [], |r| r.get(0))?;
        assert_eq!(kept, 1);
        let blobs: i64 = conn.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))?;
        assert_eq!(blobs, 0);
        Ok(())
    }

    #[test]
    fn version_2_store_gains_revocation_times_keeping_its_keys() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[0])?;
        tx.execute_batch(MIGRATIONS[1])?;
        tx.pragma_update(None, "user_version", 2)?;
        tx.execute(
            "INSERT INTO device_keys(public_key, device_id, source, added_at_ms)
             VALUES ('k', 'd', 'enrolment', 1)",
            [],
        )?;
        tx.commit()?;
        migrate(&mut conn)?;
        let revoked: Option<i64> =
            conn.query_row("SELECT revoked_at_ms FROM device_keys", [], |r| r.get(0))?;
        assert_eq!(revoked, None);
        Ok(())
    }

    #[test]
    fn version_3_store_gains_the_catalogue_table_keeping_its_rows() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        let tx = conn.transaction()?;
        for sql in &MIGRATIONS[..3] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", 3)?;
        tx.execute(
            "INSERT INTO device_keys(public_key, device_id, source, added_at_ms, revoked_at_ms)
             VALUES ('k', 'd', 'enrolment', 1, 5)",
            [],
        )?;
        tx.execute("INSERT INTO meta(key, value) VALUES ('k', x'01')", [])?;
        tx.commit()?;
        migrate(&mut conn)?;
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert!(v >= 4);
        let kept: i64 = conn.query_row(
            "SELECT count(*) FROM device_keys WHERE revoked_at_ms = 5",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(kept, 1);
        let none: i64 = conn.query_row("SELECT count(*) FROM catalogues", [], |r| r.get(0))?;
        assert_eq!(none, 0);
        Ok(())
    }

    #[test]
    fn newer_database_is_refused() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1)?;
        assert!(matches!(
            migrate(&mut conn),
            Err(CoreError::SchemaTooNew { .. })
        ));
        Ok(())
    }
}
