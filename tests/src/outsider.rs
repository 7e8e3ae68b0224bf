//! A client that is not ours: it speaks the wire protocol of `docs/sync-protocol.md` with raw
//! HTTP and writes its own Automerge documents, with none of the phone store's checks. An
//! enrolled officer, volunteer or reviewer holding such a client can push anything the
//! protocol can carry; the server must refuse whatever the rules refuse.

use crate::harness::{TestResult, TestServer, raw_http};
use automerge::{ActorId, AutoCommit, ChangeHash};
use ed25519_dalek::{Signer as _, SigningKey};
use fieldcase_core::sync::wire::{DocPush, DocResult, EnrolResponse, SyncRequest, SyncResponse};
use fieldcase_server::storage::Role;
use serde_json::{Value, json};

/// An enrolled device driven by hand.
#[derive(Debug)]
pub struct Outsider {
    http: reqwest::Client,
    url: String,
    /// Device id the server gave.
    pub device_id: String,
    credential: String,
    /// The device's signing key.
    pub key: SigningKey,
    /// The Automerge actor it declares and writes under.
    pub actor: ActorId,
    /// Its user.
    pub user: String,
    /// The user's unit.
    pub unit: String,
}

impl Outsider {
    /// Creates `user` (`role`, `unit`) and enrols a device for it over raw HTTP, declaring a
    /// fresh actor.
    pub async fn enrol(
        server: &TestServer,
        user: &str,
        role: Role,
        unit: &str,
    ) -> TestResult<Self> {
        let code = server.user_code(user, role, unit).await?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        let key = SigningKey::from_bytes(&seed);
        let actor = ActorId::random();
        let http = raw_http()?;
        let resp = http
            .post(format!("{}/v1/enrol", server.url()))
            .json(&json!({
                "code": code,
                "device_public_key": hex::encode(key.verifying_key().as_bytes()),
                "device_label": "outside client",
                "actor_id": actor.to_hex_string(),
            }))
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            return Err(format!("enrol: {status} {}", String::from_utf8_lossy(&body)).into());
        }
        let e: EnrolResponse = serde_json::from_slice(&body)?;
        Ok(Outsider {
            http,
            url: server.url(),
            device_id: e.device_id,
            credential: e.credential,
            key,
            actor,
            user: user.into(),
            unit: unit.into(),
        })
    }

    /// The device's public key, hex.
    pub fn key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// A new document holding `record` (its root map), written under `actor`.
    pub fn new_doc(&self, record: &Value, actor: &ActorId) -> TestResult<AutoCommit> {
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        fieldcase_core::doc::create(&mut doc, record)?;
        doc.commit();
        Ok(doc)
    }

    /// Pushes `changes` of document `doc_id` and returns the server's answer for it.
    pub async fn push(
        &self,
        kind: fieldcase_core::model::RecordKind,
        doc_id: &str,
        changes: Vec<u8>,
    ) -> TestResult<DocResult> {
        let req = SyncRequest {
            roster_digest: None,
            protocol: fieldcase_core::sync::wire::PROTOCOL_VERSION,
            device_id: self.device_id.clone(),
            request_id: fieldcase_core::ids::new_id(),
            cursor: 0,
            docs: vec![DocPush {
                doc_id: doc_id.into(),
                kind,
                have_heads: vec![],
                server_heads: vec![],
                changes,
            }],
            actor_id: Some(self.actor.to_hex_string()),
            catalogue_version: None,
            catalogue_versions: vec![],
            catalogue_refused: None,
        };
        let resp = self
            .http
            .post(format!("{}/v1/sync", self.url))
            .bearer_auth(&self.credential)
            .json(&req)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            return Err(format!("sync: {status} {}", String::from_utf8_lossy(&body)).into());
        }
        let r: SyncResponse = serde_json::from_slice(&body)?;
        r.docs
            .into_iter()
            .find(|d| d.doc_id == doc_id)
            .ok_or_else(|| "no answer for the document".into())
    }

    /// Signs `payload` with the device key, hex.
    pub fn sign(&self, payload: &[u8]) -> String {
        hex::encode(self.key.sign(payload).to_bytes())
    }
}

/// The heads of `doc`, sorted hex.
pub fn heads(doc: &mut AutoCommit) -> Vec<String> {
    let mut h: Vec<String> = doc.get_heads().iter().map(ChangeHash::to_string).collect();
    h.sort();
    h
}
