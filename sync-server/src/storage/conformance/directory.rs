//! Conformance of [`Settings`](crate::storage::Settings), [`Directory`](crate::storage::Directory),
//! [`Sessions`](crate::storage::Sessions) and [`QuarantineStore`](crate::storage::QuarantineStore).

use super::*;

/// Units, users and settings round-trip; duplicates are conflicts.
pub async fn directory(s: &dyn Storage) -> StorageResult<()> {
    s.create_unit(Unit {
        path: "luan".into(),
        name: "Lu'an".into(),
    })
    .await?;
    assert!(matches!(
        s.create_unit(Unit {
            path: "luan".into(),
            name: "x".into()
        })
        .await,
        Err(StorageError::Conflict(_))
    ));
    let u = User {
        id: "o1".into(),
        name: "Officer One".into(),
        role: Role::Officer,
        unit: "luan".into(),
        created_at_ms: 1,
    };
    s.create_user(u.clone()).await?;
    assert_eq!(s.user("o1").await?, Some(u));
    assert!(s.create_user(s.users().await?[0].clone()).await.is_err());
    assert_eq!(s.units().await?.len(), 1);
    assert_eq!(s.setting("k").await?, None);
    assert_eq!(s.setting_or_insert("k", vec![1]).await?, vec![1]);
    assert_eq!(s.setting_or_insert("k", vec![2]).await?, vec![1]);
    assert!(s.delete_setting("k").await?);
    assert!(!s.delete_setting("k").await?);
    assert_eq!(s.setting("k").await?, None);
    assert_eq!(s.setting_or_insert("k", vec![3]).await?, vec![3]);
    // The roster of a unit subtree: its users (not those of a sibling whose path starts
    // alike), by id, with certificate numbers where set.
    for (path, id) in [
        ("luan/jinan", "o2"),
        ("luan/jinan/squad-1", "o3"),
        ("luan/jinanx", "o4"),
    ] {
        s.create_unit(Unit {
            path: path.into(),
            name: path.into(),
        })
        .await?;
        s.create_user(User {
            id: id.into(),
            name: id.into(),
            role: Role::Officer,
            unit: path.into(),
            created_at_ms: 2,
        })
        .await?;
    }
    s.set_cert_no("o3", Some("皖城执0003")).await?;
    let roster = s.roster("luan/jinan").await?;
    let got: Vec<(&str, Option<&str>)> = roster
        .iter()
        .map(|(u, c)| (u.id.as_str(), c.as_deref()))
        .collect();
    assert_eq!(got, vec![("o2", None), ("o3", Some("皖城执0003"))]);
    assert_eq!(s.roster("luan").await?.len(), 4);
    assert!(s.roster("luan/none").await?.is_empty());
    Ok(())
}

/// A code enrols one device once; expired and reused codes fail; revocation sticks.
pub async fn enrolment(s: &dyn Storage) -> StorageResult<()> {
    s.create_user(User {
        id: "v1".into(),
        name: "V".into(),
        role: Role::Volunteer,
        unit: "luan/a".into(),
        created_at_ms: 1,
    })
    .await?;
    let code = EnrolmentCode {
        code_hash: [7; 32],
        user_id: "v1".into(),
        created_at_ms: 1,
        expires_at_ms: 100,
    };
    s.create_enrolment_code(code).await?;
    let dev = |id: &str, h: u8| NewDevice {
        id: id.into(),
        label: "phone".into(),
        public_key: "00".into(),
        credential_hash: [h; 32],
        enrolled_at_ms: 5,
    };
    assert!(matches!(
        s.redeem_enrolment_code([7; 32], 100, dev("d0", 1)).await,
        Err(StorageError::Unredeemable)
    ));
    let d = s.redeem_enrolment_code([7; 32], 50, dev("d1", 2)).await?;
    assert_eq!(d.user_id, "v1");
    assert!(matches!(
        s.redeem_enrolment_code([7; 32], 51, dev("d2", 3)).await,
        Err(StorageError::Unredeemable)
    ));
    let auth = s.device_by_credential([2; 32]).await?;
    assert_eq!(auth.as_ref().map(|a| a.user.role), Some(Role::Volunteer));
    assert_eq!(s.device_by_credential([3; 32]).await?, None);
    s.touch_device("d1", 60).await?;
    assert_eq!(s.devices().await?[0].revoke_wipe, None);
    assert!(s.revoke_device("d1", 70, WipeScope::All).await?);
    assert!(!s.revoke_device("nope", 70, WipeScope::All).await?);
    // A second revocation keeps the time and takes the new mode.
    assert!(s.revoke_device("d1", 80, WipeScope::SyncedOnly).await?);
    let devices = s.devices().await?;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].revoked_at_ms, Some(70));
    assert_eq!(devices[0].revoke_wipe, Some(WipeScope::SyncedOnly));
    let auth = s.device_by_credential([2; 32]).await?;
    assert_eq!(
        auth.map(|a| (a.device.revoke_wipe, a.user.role)),
        Some((Some(WipeScope::SyncedOnly), Role::Volunteer))
    );
    assert_eq!(devices[0].last_seen_ms, Some(60));
    Ok(())
}

/// Actor bindings (first wins) and the quarantine of held changes.
pub async fn actors_and_quarantine(s: &dyn Storage) -> StorageResult<()> {
    s.create_unit(Unit {
        path: "u".into(),
        name: "U".into(),
    })
    .await?;
    s.create_user(User {
        id: "OF-1".into(),
        name: "A".into(),
        role: Role::Officer,
        unit: "u".into(),
        created_at_ms: 1,
    })
    .await?;
    for (n, id) in [(1u8, "d1"), (2, "d2")] {
        s.create_enrolment_code(EnrolmentCode {
            code_hash: [n; 32],
            user_id: "OF-1".into(),
            created_at_ms: 1,
            expires_at_ms: 100,
        })
        .await?;
        let device = NewDevice {
            id: id.into(),
            label: "phone".into(),
            public_key: "00".into(),
            credential_hash: [n; 32],
            enrolled_at_ms: 2,
        };
        s.redeem_enrolment_code([n; 32], 2, device).await?;
    }
    let actor = "00112233445566778899aabbccddeeff";
    assert_eq!(s.bind_actor(actor, "d1", 3, "enrol").await?, "d1");
    assert_eq!(s.bind_actor(actor, "d2", 4, "sync").await?, "d1");
    assert_eq!(s.bind_actor("ff", "d2", 4, "sync").await?, "d2");
    assert!(s.revoked_actors().await?.is_empty());
    s.revoke_device("d1", 50, WipeScope::All).await?;
    assert_eq!(
        s.revoked_actors().await?,
        vec![RevokedActor {
            actor: actor.into(),
            device_id: "d1".into(),
            revoked_at_ms: 50,
            revoke_wipe: Some(WipeScope::All),
        }]
    );
    let q = NewQuarantine {
        doc_id: "doc".into(),
        kind: RecordKind::Case,
        sender_device: "d2".into(),
        sender_user: "OF-1".into(),
        revoked_devices: "d1".into(),
        received_at_ms: 60,
        hashes: "aa bb".into(),
        changes: vec![1, 2, 3],
    };
    let id = s
        .add_quarantine(q.clone())
        .await?
        .ok_or_else(|| StorageError::Database("not added".into()))?;
    assert_eq!(s.add_quarantine(q.clone()).await?, None, "duplicate kept");
    let item = s
        .quarantine_item(id)
        .await?
        .ok_or_else(|| StorageError::NotFound("item".into()))?;
    assert_eq!(
        (item.status, item.changes.as_slice(), item.hashes.as_str()),
        (QuarantineStatus::Pending, &[1u8, 2, 3][..], "aa bb")
    );
    assert_eq!(s.quarantine(false).await?.len(), 1);
    assert!(
        s.settle_quarantine(id, QuarantineStatus::Released, 70)
            .await?
    );
    assert!(
        !s.settle_quarantine(id, QuarantineStatus::Rejected, 71)
            .await?
    );
    assert!(s.quarantine(false).await?.is_empty());
    let all = s.quarantine(true).await?;
    assert_eq!(
        (all.len(), all[0].status, all[0].settled_at_ms),
        (1, QuarantineStatus::Released, Some(70))
    );
    // Settled, the same changes may be held again (carried in once more).
    assert!(s.add_quarantine(q).await?.is_some());
    Ok(())
}

/// Login tokens are single-use and expire; sessions expire and end.
pub async fn web_sessions(s: &dyn Storage) -> StorageResult<()> {
    let user = User {
        id: "s1".into(),
        name: "Supervisor".into(),
        role: Role::Supervisor,
        unit: "luan".into(),
        created_at_ms: 1,
    };
    s.create_user(user.clone()).await?;
    assert!(matches!(
        s.create_login_token(LoginToken {
            token_hash: [1; 32],
            user_id: "nobody".into(),
            created_at_ms: 1,
            expires_at_ms: 100,
        })
        .await,
        Err(StorageError::NotFound(_))
    ));
    s.create_login_token(LoginToken {
        token_hash: [2; 32],
        user_id: "s1".into(),
        created_at_ms: 1,
        expires_at_ms: 100,
    })
    .await?;
    let session = |h: u8| WebSession {
        session_hash: [h; 32],
        created_at_ms: 10,
        expires_at_ms: 1_000,
    };
    assert!(matches!(
        s.redeem_login_token([2; 32], 100, session(9)).await,
        Err(StorageError::Unredeemable)
    ));
    assert_eq!(s.redeem_login_token([2; 32], 10, session(3)).await?, user);
    assert!(matches!(
        s.redeem_login_token([2; 32], 11, session(4)).await,
        Err(StorageError::Unredeemable)
    ));
    assert_eq!(s.session_user([4; 32], 11).await?, None);
    assert_eq!(s.session_user([9; 32], 11).await?, None);
    assert_eq!(s.session_user([3; 32], 11).await?, Some(user));
    assert_eq!(s.session_user([3; 32], 1_000).await?, None);
    s.end_session([3; 32]).await?;
    assert_eq!(s.session_user([3; 32], 11).await?, None);
    Ok(())
}
