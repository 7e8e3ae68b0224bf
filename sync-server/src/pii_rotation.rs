//! PII key rotation with re-encryption of the parties the server holds.
//!
//! `admin keys rotate-pii` makes a new bureau PII key ([`crate::keys::rotate_pii`]: the old
//! one is retired, never deleted), then re-seals the personal data of every party document on
//! the server under it, each as a new Automerge change by the server's actor, like the
//! server's exemption-conflict flags. The change reaches phones through the feed like any
//! other; with it their next sync fetches the device keys, which for entitled roles now carry
//! every PII key (`pii_keys`), so they read the re-sealed parties and seal new ones under the
//! new key. Phones keep every key they ever held, so a party sealed under a retired key (one
//! a phone recorded offline before it learnt the new key) stays readable everywhere.
//!
//! The server can open a party's seal only with a key it holds: parties sealed under a
//! phone's own key (registered before the phone was enrolled) are left as they are and
//! counted (`not_opened`).

use crate::error::{Result, ServerError};
use crate::keys::{KeySource, PiiRotation};
use crate::storage::{DocWrite, Storage, StorageError};
use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit};
use fieldcase_core::model::{PartyRecord, RecordKind};
use fieldcase_core::pii::{PiiKey, SealedPii};
use serde::Serialize;

/// Attempts per document when a phone's write races the re-seal.
const WRITE_ATTEMPTS: usize = 5;

/// What a re-seal pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResealReport {
    /// Party documents on the server.
    pub parties: usize,
    /// Re-sealed under the current key by this pass.
    pub resealed: usize,
    /// Sealed under the current key already.
    pub current: usize,
    /// Sealed under a key the server does not hold (left as they are).
    pub not_opened: usize,
}

/// A rotation: the keys and the re-seal.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// The key change.
    pub rotation: PiiRotation,
    /// The re-seal of the parties.
    pub reseal: ResealReport,
}

/// Re-seals every party on the server whose personal data is sealed under another key than
/// `current`, opening it with any of `ring`. Each re-seal is one change by `actor`.
pub async fn reseal_parties(
    storage: &dyn Storage,
    actor: &ActorId,
    ring: &[[u8; 32]],
    current: &[u8; 32],
) -> Result<ResealReport> {
    let keys: Vec<PiiKey> = ring.iter().map(|k| PiiKey::from_bytes(*k)).collect();
    let new = PiiKey::from_bytes(*current);
    let mut report = ResealReport::default();
    for id in storage.doc_ids().await? {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(stored) = storage.load_doc(&id).await? else {
                break;
            };
            if stored.kind != RecordKind::Party {
                break;
            }
            if attempt == 1 {
                report.parties += 1;
            }
            let mut doc = AutoCommit::load(&stored.bytes)
                .map_err(|_| ServerError::Database("stored document does not load".into()))?
                .with_actor(actor.clone());
            let party: PartyRecord = fieldcase_core::doc::read(&doc, &id)?;
            if party.pii_sealed.key_id == new.id() {
                report.current += 1;
                break;
            }
            let Ok(pii) = fieldcase_core::pii::open(&keys, &id, &party.pii_sealed) else {
                tracing::warn!(party = %id, key = %party.pii_sealed.key_id,
                    "party sealed under a key the server does not hold; left as it is");
                report.not_opened += 1;
                break;
            };
            let sealed: SealedPii = fieldcase_core::pii::seal(&new, &id, &pii)?;
            let json = serde_json::to_value(&sealed)
                .map_err(|e| ServerError::Config(format!("sealed data: {e}")))?;
            let before = doc.get_heads();
            fieldcase_core::doc::put(&mut doc, &automerge::ROOT, "pii_sealed", &json)?;
            doc.commit_with(
                CommitOptions::default()
                    .with_message("server: re-seal personal data under the new PII key")
                    .with_time(fieldcase_core::ids::now_ms() / 1000),
            );
            let after = doc.get_heads();
            let write = DocWrite {
                doc_id: id.clone(),
                kind: RecordKind::Party,
                unit: stored.unit.clone(),
                party_hash: None,
                expected_heads: Some(stored.heads.clone()),
                new_heads: after.iter().flat_map(|h| h.0).collect(),
                chunk: doc.save_after(&before),
                replace: false,
                blob_refs: vec![],
                numbers: vec![],
            };
            match storage.write_doc(write).await {
                Ok(_) => {
                    report.resealed += 1;
                    break;
                }
                Err(StorageError::Conflict(_)) if attempt < WRITE_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(report)
}

/// `admin keys rotate-pii`: a new PII key, the parties re-sealed under it, and one audit
/// entry. Run with the servers stopped; they load the new key when started again.
pub async fn rotate(src: &KeySource, storage: &dyn Storage) -> Result<RotationReport> {
    let actor = storage
        .setting_or_insert("server_actor", crate::auth::random::<16>()?.to_vec())
        .await?;
    let (keys, rotation) = crate::keys::rotate_pii(src, storage).await?;
    let reseal = reseal_parties(
        storage,
        &ActorId::from(actor.as_slice()),
        &keys.pii_ring(),
        &keys.pii_key,
    )
    .await?;
    crate::admin::audit(
        storage,
        &keys.signing_key,
        crate::audit::AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: "operator".into(),
            action: "pii_key_rotated".into(),
            case_id: None,
            detail: format!(
                "key {} retired, key {} current; {} of {} parties re-sealed, {} not opened",
                rotation.retired_key_id,
                rotation.new_key_id,
                reseal.resealed,
                reseal.parties,
                reseal.not_opened
            ),
        },
    )
    .await?;
    Ok(RotationReport { rotation, reseal })
}

/// `admin keys reseal-pii`: re-seals, under the current key, the parties still sealed under a
/// retired one (recorded offline on phones that had not yet learnt the new key), with one
/// audit entry. Writes only through the storage, so servers may keep running.
pub async fn reseal(src: &KeySource, storage: &dyn Storage) -> Result<ResealReport> {
    let actor = storage
        .setting_or_insert("server_actor", crate::auth::random::<16>()?.to_vec())
        .await?;
    let keys = crate::keys::ServerKeys::load(src, storage).await?;
    let report = reseal_parties(
        storage,
        &ActorId::from(actor.as_slice()),
        &keys.pii_ring(),
        &keys.pii_key,
    )
    .await?;
    crate::admin::audit(
        storage,
        &keys.signing_key,
        crate::audit::AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: "operator".into(),
            action: "pii_resealed".into(),
            case_id: None,
            detail: format!(
                "key {} current; {} of {} parties re-sealed, {} not opened",
                crate::keys::pii_key_id(&keys.pii_key),
                report.resealed,
                report.parties,
                report.not_opened
            ),
        },
    )
    .await?;
    Ok(report)
}
