//! The binding of Automerge actors to devices, as the sync and enrolment routes make it
//! (`quarantine::bind_declared`): the first device to declare an actor keeps it, whatever
//! others declare later or at the same moment, on SQLite and on PostgreSQL.

use fieldcase_server::quarantine::bind_declared;
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{EnrolmentCode, NewDevice, Role, Storage, User};
use std::sync::Arc;

type R = Result<(), Box<dyn std::error::Error>>;

/// A store with one officer and three enrolled devices, `d0`, `d1`, `d2`.
async fn with_devices(s: &dyn Storage) -> R {
    s.create_user(User {
        id: "OF-1".into(),
        name: "A".into(),
        role: Role::Officer,
        unit: "u".into(),
        created_at_ms: 1,
    })
    .await?;
    for n in 0..3u8 {
        s.create_enrolment_code(EnrolmentCode {
            code_hash: [n; 32],
            user_id: "OF-1".into(),
            created_at_ms: 1,
            expires_at_ms: 100,
        })
        .await?;
        let device = NewDevice {
            id: format!("d{n}"),
            label: "phone".into(),
            public_key: "00".into(),
            credential_hash: [n; 32],
            enrolled_at_ms: 2,
        };
        s.redeem_enrolment_code([n; 32], 2, device).await?;
    }
    Ok(())
}

async fn first_declarer_keeps_the_actor(s: Arc<dyn Storage>) -> R {
    with_devices(s.as_ref()).await?;
    // Declared in capitals by the first device, in lower case by the second: one actor.
    let actor = "00112233445566778899AABBCCDDEEFF";
    bind_declared(s.as_ref(), "d0", Some(actor), "enrol").await?;
    bind_declared(s.as_ref(), "d1", Some(&actor.to_ascii_lowercase()), "sync").await?;
    bind_declared(s.as_ref(), "d1", Some(actor), "sync").await?;
    assert_eq!(s.actor_device(actor).await?.as_deref(), Some("d0"));
    // Something that is not a 16-byte hex actor binds nothing.
    bind_declared(s.as_ref(), "d1", Some("not-an-actor"), "sync").await?;
    assert_eq!(s.actor_device("not-an-actor").await?, None);
    // Revoking the second device does not hand it the actor: its changes under it are
    // still the first device's.
    s.revoke_device("d1", 50, fieldcase_core::sync::wire::WipeScope::All)
        .await?;
    assert!(s.revoked_actors().await?.is_empty());

    // Declared at the same moment by two devices: one owner, and it stays the owner.
    for round in 0..8u32 {
        let actor = format!("{round:032x}");
        let (a, b) = (s.clone(), s.clone());
        let (x, y) = (actor.clone(), actor.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { bind_declared(a.as_ref(), "d0", Some(&x), "sync").await }),
            tokio::spawn(async move { bind_declared(b.as_ref(), "d2", Some(&y), "sync").await }),
        );
        ra??;
        rb??;
        let owner = s.actor_device(&actor).await?;
        assert!(
            matches!(owner.as_deref(), Some("d0" | "d2")),
            "round {round}: {owner:?}"
        );
        bind_declared(s.as_ref(), "d0", Some(&actor), "sync").await?;
        bind_declared(s.as_ref(), "d2", Some(&actor), "sync").await?;
        assert_eq!(s.actor_device(&actor).await?, owner, "round {round}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_declarer_keeps_the_actor_on_sqlite() -> R {
    let dir = tempfile::tempdir()?;
    let s = SqliteStorage::open(dir.path().join("server.db"))?;
    first_declarer_keeps_the_actor(Arc::new(s)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_declarer_keeps_the_actor_on_postgres() -> R {
    let url = std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let s = PostgresStorage::connect_fresh(&url).await?;
    first_declarer_keeps_the_actor(Arc::new(s)).await
}
