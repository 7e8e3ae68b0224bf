//! PostgreSQL backup and restore, each one command (`admin backup`/`admin restore` with
//! `--database-url`), with PostgreSQL's own tools.
//!
//! **Why the backup is consistent.** `pg_dump` reads the whole database in one repeatable-read
//! snapshot, so the dump is a state the database was in, whatever the servers write meanwhile.
//! The blobs are copied after the dump has finished. A blob file is content-addressed and never
//! changes once stored, and its row is written only after the file is stored (fsynced and
//! renamed into place, `crate::blobs`); so every blob the snapshot names was on disk before the
//! snapshot was taken, and is still there when the copy runs after it. The copied blob folder
//! is therefore a superset of what the dump refers to; files stored after the snapshot are
//! harmless extras, which a restored server serves to nobody until a record names them.
//! Dumping after the copy would not hold: a blob stored between the copy and the snapshot
//! would be named by the dump and missing from the backup.
//!
//! **Restore** goes only into an empty database (a fresh `createdb`): `pg_restore` runs in one
//! transaction and stops at the first error, so a failed restore leaves the database empty,
//! and a database that already holds fieldcase tables is refused before anything is written.
//! Then the restore epoch is renewed ([`crate::restore_epoch`]).
//!
//! **Connection.** The tools get the database URL's parts in the libpq environment variables
//! (`PGHOST`, `PGPASSWORD`, ...), not on their command line, where any local user could read
//! the password. A URL that chooses a schema (`options=-c search_path=NAME`) dumps that schema
//! alone. The tools are looked up on `PATH`, then in `/usr/lib/postgresql/*/bin`, newest
//! major version first ([`find_tool`]).

use crate::error::{Result, ServerError};
use crate::storage::pg_tls::{PgConnect, SslMode};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The dump's file name in a plain backup folder (`.age` appended in an encrypted one).
pub const DUMP_FILE: &str = "server.dump";

/// The manifest's name for a `pg_dump --format=custom` database.
pub const FORMAT_PG_DUMP: &str = "pg_dump";

/// Tables whose presence marks a database as fieldcase's.
const OUR_TABLES: &[&str] = &["schema_migrations", "settings", "docs", "devices", "audit"];

/// The path of `tool` (`pg_dump`, `pg_restore`): on `PATH`, else in the newest
/// `/usr/lib/postgresql/<major>/bin`.
pub fn find_tool(tool: &'static str) -> Result<PathBuf> {
    find_tool_in(
        tool,
        std::env::var_os("PATH"),
        Path::new("/usr/lib/postgresql"),
    )
}

/// [`find_tool`] over a given `PATH` value and versions folder.
pub fn find_tool_in(
    tool: &'static str,
    path: Option<std::ffi::OsString>,
    versions: &Path,
) -> Result<PathBuf> {
    let on_path = path
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file());
    if let Some(p) = on_path {
        return Ok(p);
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin").join(tool)))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    majors.sort();
    majors
        .pop()
        .map(|(_, p)| p)
        .ok_or(ServerError::ToolMissing { tool })
}

/// How the tools reach the database: libpq environment variables, the database name and the
/// schema the URL chose, if any.
struct Target {
    env: Vec<(&'static str, String)>,
    dbname: Option<String>,
    schema: Option<String>,
}

fn target(url: &str) -> Result<Target> {
    let connect = PgConnect::from_url(url)?;
    let c = &connect.config;
    let mut env = Vec::new();
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(dir) => dir.to_string_lossy().into_owned(),
        })
        .collect();
    if !hosts.is_empty() {
        env.push(("PGHOST", hosts.join(",")));
    }
    let ports: Vec<String> = c.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        env.push(("PGPORT", ports.join(",")));
    }
    if let Some(u) = c.get_user() {
        env.push(("PGUSER", u.to_string()));
    }
    if let Some(p) = c.get_password() {
        env.push(("PGPASSWORD", String::from_utf8_lossy(p).into_owned()));
    }
    if let Some(o) = c.get_options() {
        env.push(("PGOPTIONS", o.to_string()));
    }
    env.push((
        "PGSSLMODE",
        match connect.mode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
        .to_string(),
    ));
    if let Some(root) = url_param(url, "sslrootcert") {
        env.push(("PGSSLROOTCERT", root));
    }
    let schema = c.get_options().and_then(|o| {
        let at = o.find("search_path=")? + "search_path=".len();
        let name: String = o[at..]
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
            .collect();
        (!name.is_empty()).then_some(name)
    });
    Ok(Target {
        env,
        dbname: c.get_dbname().map(String::from),
        schema,
    })
}

/// A query parameter of a URL (or a `key=value` of a libpq string), undecoded.
fn url_param(url: &str, key: &str) -> Option<String> {
    url.split(['?', '&', ' '])
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// Runs `tool` with `args` against `t`; a failure carries the end of its stderr.
fn run(tool: &'static str, t: &Target, args: &[String]) -> Result<()> {
    let path = find_tool(tool)?;
    let mut cmd = Command::new(path);
    cmd.args(args).stdin(std::process::Stdio::null());
    for (k, v) in &t.env {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    Err(ServerError::ToolFailed {
        tool,
        status: out.status.to_string(),
        stderr: tail,
    })
}

/// Dumps the database of `url` into `dest` (`pg_dump --format=custom`, one snapshot). Blocks.
pub fn dump(url: &str, dest: &Path) -> Result<()> {
    let t = target(url)?;
    let mut args = vec![
        "--format=custom".to_string(),
        format!("--file={}", dest.display()),
    ];
    if let Some(s) = &t.schema {
        args.push(format!("--schema={s}"));
    }
    if let Some(db) = &t.dbname {
        args.push(format!("--dbname={db}"));
    }
    run("pg_dump", &t, &args)
}

/// Refuses a restore into a database that already holds fieldcase tables (in the URL's
/// schema, else the connection's current one).
pub async fn ensure_empty_database(url: &str) -> Result<()> {
    let t = target(url)?;
    let client = PgConnect::from_url(url)?.connect().await?;
    let ours: Vec<String> = OUR_TABLES.iter().map(|s| s.to_string()).collect();
    let row = client
        .query_one(
            "SELECT string_agg(table_name::text, ', ' ORDER BY table_name::text)
             FROM information_schema.tables
             WHERE table_schema = coalesce($1::text, current_schema()) AND table_name = ANY($2)",
            &[&t.schema, &ours],
        )
        .await
        .map_err(crate::storage::StorageError::from)?;
    let found: Option<String> = row.get(0);
    match found {
        Some(tables) => Err(ServerError::RestoreTargetNotEmpty { tables }),
        None => Ok(()),
    }
}

/// Restores the dump `file` into the empty database of `url` (checked first), then renews
/// the restore epoch. Returns the documents restored and the new epoch.
pub async fn restore_dump(url: &str, file: &Path) -> Result<(i64, String)> {
    ensure_empty_database(url).await?;
    let t = target(url)?;
    let dbname = t.dbname.clone().ok_or_else(|| {
        ServerError::Config("the database URL names no database to restore into".into())
    })?;
    let args = vec![
        "--exit-on-error".to_string(),
        "--single-transaction".to_string(),
        "--no-owner".to_string(),
        "--no-privileges".to_string(),
        format!("--dbname={dbname}"),
        file.display().to_string(),
    ];
    tokio::task::spawn_blocking(move || run("pg_restore", &t, &args))
        .await
        .map_err(|e| ServerError::Task(e.to_string()))??;
    let storage = crate::storage::postgres::PostgresStorage::connect(url).await?;
    let epoch = crate::restore_epoch::renew(&storage).await?;
    use crate::storage::prelude::Documents;
    let documents = storage.doc_count().await?;
    Ok((documents, epoch))
}

/// Documents in the database of `url` now (for the manifest; the dump taken right after holds
/// at least these, as documents are never deleted).
pub async fn doc_count(url: &str) -> Result<i64> {
    let storage = crate::storage::postgres::PostgresStorage::connect(url).await?;
    use crate::storage::prelude::Documents;
    Ok(storage.doc_count().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = find_tool_in("pg_dump", Some(dir.path().into()), &dir.path().join("none"))
            .expect_err("no tool");
        assert!(matches!(err, ServerError::ToolMissing { tool: "pg_dump" }));
        assert!(err.to_string().contains("pg_dump not found"));
    }

    #[test]
    fn the_newest_major_version_is_taken_when_path_lacks_the_tool() {
        let dir = tempfile::tempdir().expect("tmp");
        for major in ["9", "15", "13"] {
            let bin = dir.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("pg_restore"), b"").expect("write");
        }
        let found = find_tool_in("pg_restore", None, dir.path()).expect("found");
        assert_eq!(found, dir.path().join("15").join("bin").join("pg_restore"));
    }

    #[test]
    fn the_password_goes_to_the_environment_and_the_schema_is_read() {
        let t = target(
            "postgres://u:secret@db.example:6543/fc?options=-c%20search_path%3Dfield_1&sslmode=disable",
        )
        .expect("target");
        assert!(t.env.contains(&("PGPASSWORD", "secret".into())));
        assert!(t.env.contains(&("PGPORT", "6543".into())));
        assert_eq!(t.dbname.as_deref(), Some("fc"));
        assert_eq!(t.schema.as_deref(), Some("field_1"));
    }
}
