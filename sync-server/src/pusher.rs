//! Who pushed a sync request, and what the merge step may look up about it: the server's
//! [`Policy`] for [`fieldcase_core::engine::ingest`]. Everything the policy answers is read
//! from storage once per request and kept; what it lacks it asks for with a [`Need`], which
//! [`Pusher::fetch`] looks up.

use crate::error::{Result, ServerError};
use crate::storage::{RevokedActor, User};
use crate::{AppState, validate};
use fieldcase_core::catalogue::CatalogueSet;
use fieldcase_core::engine::{Need, Policy, Route};
use fieldcase_core::model::RecordKind;
use fieldcase_core::rules::{Author, Refusal, RuleContext};
use fieldcase_core::sync::wire::DocPush;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Who pushed a request, and what every document of it is screened against. Read once per
/// request: the revoked actors are one storage query, not one per document, and actors and
/// users are looked up once each.
pub(crate) struct Pusher<'a> {
    pub device_id: &'a str,
    pub user: &'a User,
    /// The author every pushed change is checked as.
    pub author: Author,
    pub revoked: Vec<RevokedActor>,
    /// The catalogues in force when the request arrived.
    pub catalogues: Arc<CatalogueSet>,
    /// The clock the rules judge dates against.
    pub now_ms: i64,
    /// Actor (hex) -> the device it is bound to, as looked up so far.
    actors: HashMap<String, Option<String>>,
    /// Authors of revoked devices' handover work, by device.
    revoked_authors: HashMap<String, Author>,
    /// Users named in pushed cases, as looked up so far.
    users: validate::Users,
    /// Users looked up and not found.
    unknown_users: BTreeSet<String>,
    /// Officers' certificate numbers, loaded at the first pushed case that adds a document.
    certs: Option<BTreeMap<String, String>>,
    /// Document numbers named in pushed cases, as looked up so far.
    pub numbers: crate::numbering::Numbers,
    /// Refusals to write to the audit trail once the request is answered.
    pub refusals: Vec<crate::audit::AuditEvent>,
    /// Decoded bytes the request's pushes may still inflate to (see [`crate::inflate`]).
    pub budget: fieldcase_core::doc::bounded::InflateBudget,
}

impl<'a> Pusher<'a> {
    /// The pusher of a request from `device_id` (key `device_key`) of `user`, with the actor
    /// it declared and the device that actor is bound to; `revoked` is read only when the
    /// request pushes anything.
    pub async fn new(
        state: &AppState,
        device_id: &'a str,
        device_key: &str,
        user: &'a User,
        declared: Option<(String, String)>,
        pushes: bool,
    ) -> Result<Pusher<'a>> {
        let mut actors = HashMap::new();
        // The actor the device declared (and the device binding it, as just bound) is the one
        // its changes almost always carry: known now, so the merge step rarely has to ask.
        if let Some((actor, owner)) = declared {
            actors.insert(actor, Some(owner));
        }
        // The pusher is the officer its own records name first: known now, so the merge step
        // does not run twice on the request's first case to look it up.
        let mut users = validate::Users::default();
        users.insert(user);
        Ok(Pusher {
            device_id,
            user,
            author: validate::device_author(user, device_id, device_key),
            revoked: if pushes {
                state.storage.revoked_actors().await?
            } else {
                vec![]
            },
            catalogues: state.catalogues.set(),
            now_ms: fieldcase_core::ids::now_ms(),
            actors,
            revoked_authors: HashMap::new(),
            users,
            unknown_users: BTreeSet::new(),
            certs: None,
            numbers: crate::numbering::Numbers::default(),
            refusals: Vec::new(),
            budget: fieldcase_core::doc::bounded::InflateBudget::per_request(),
        })
    }

    /// Looks up what the merge step asked for.
    pub async fn fetch(&mut self, state: &AppState, need: Need) -> Result<()> {
        match need {
            Need::Actors(actors) => {
                for a in actors {
                    if let std::collections::hash_map::Entry::Vacant(v) = self.actors.entry(a) {
                        let d = state.storage.actor_device(v.key()).await?;
                        v.insert(d);
                    }
                }
            }
            Need::Author(device) => {
                let a = revoked_author(state, &device).await?;
                self.revoked_authors.insert(device, a);
            }
            Need::Lookups { old, new } => self.learn(state, old.as_ref(), &new).await?,
        }
        Ok(())
    }

    /// Looks up the officers a pushed record names, and the numbers and party block of the
    /// documents it adds, so the rules can check them.
    async fn learn(&mut self, state: &AppState, old: Option<&Value>, json: &Value) -> Result<()> {
        self.numbers.learn(state, old, json).await?;
        // Certificate numbers matter only to new documents: loaded once per request, at the
        // first case that adds one, and given to the users looked up before.
        if self.certs.is_none() && crate::numbering::adds_documents(old, json) {
            let certs = state.storage.cert_nos().await?;
            for (id, info) in self.users.0.iter_mut() {
                info.cert_no = certs.get(id).cloned();
            }
            self.certs = Some(certs);
        }
        for id in validate::named_officers(json) {
            if self.users.0.contains_key(&id) || self.unknown_users.contains(&id) {
                continue;
            }
            match state.storage.user(&id).await? {
                Some(u) => {
                    let cert = self.certs.as_ref().and_then(|c| c.get(&u.id).cloned());
                    self.users.insert_with_cert(&u, cert);
                }
                None => {
                    self.unknown_users.insert(id);
                }
            }
        }
        Ok(())
    }

    /// Whether [`Pusher::learn`] has run for everything `json` (over `old`) needs.
    fn knows(&self, old: Option<&Value>, json: &Value) -> bool {
        let officers = validate::named_officers(json)
            .iter()
            .all(|id| self.users.0.contains_key(id) || self.unknown_users.contains(id));
        officers
            && (!crate::numbering::adds_documents(old, json)
                || (self.certs.is_some() && self.numbers.knows(old, json)))
    }

    /// Puts a refusal on the audit trail's list for this request.
    pub fn refused(&mut self, push: &DocPush, refusal: &Refusal) {
        self.refusals.push(crate::audit::AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: self.user.id.clone(),
            action: "sync_refused".into(),
            case_id: (push.kind == RecordKind::Case).then(|| push.doc_id.clone()),
            detail: format!(
                "{} {} from device {}: {}",
                push.kind.as_str(),
                push.doc_id,
                self.device_id,
                refusal.code.as_str()
            ),
        });
    }
}

impl Policy for Pusher<'_> {
    fn route(&self, actor: &str, timestamp_s: i64) -> std::result::Result<Route, Need> {
        if let Some(r) = self.revoked.iter().find(|r| r.actor == actor) {
            return Ok(crate::quarantine::route_revoked(r, timestamp_s));
        }
        match self.actors.get(actor) {
            Some(Some(d)) if d == self.device_id => Ok(Route::Merge(None)),
            // Another device's actor, or one no device declared: relayed by phone-to-phone
            // exchange, or forged under its actor; left for that device to push.
            Some(_) => Ok(Route::Defer),
            None => Err(Need::Actors([actor.to_string()].into())),
        }
    }

    fn author(&self, by: Option<&str>) -> std::result::Result<Author, Need> {
        match by {
            None => Ok(self.author.clone()),
            Some(d) => self
                .revoked_authors
                .get(d)
                .cloned()
                .ok_or_else(|| Need::Author(d.to_string())),
        }
    }

    fn context(
        &self,
        old: Option<&Value>,
        new: &Value,
    ) -> std::result::Result<RuleContext<'_>, Need> {
        if !self.knows(old, new) {
            return Err(Need::Lookups {
                old: old.cloned(),
                new: new.clone(),
            });
        }
        Ok(RuleContext {
            catalogues: &self.catalogues,
            directory: &self.users,
            now_ms: Some(self.now_ms),
            numbers: &self.numbers,
        })
    }
}

/// The author handover work of the revoked device `device_id` is checked as: its user and key.
async fn revoked_author(state: &AppState, device_id: &str) -> Result<Author> {
    let device = state
        .storage
        .devices()
        .await?
        .into_iter()
        .find(|d| d.id == device_id)
        .ok_or_else(|| ServerError::Database("a bound actor's device vanished".into()))?;
    let user = state
        .storage
        .user(&device.user_id)
        .await?
        .ok_or_else(|| ServerError::Database("a device's user vanished".into()))?;
    Ok(validate::device_author(
        &user,
        &device.id,
        &device.public_key,
    ))
}
