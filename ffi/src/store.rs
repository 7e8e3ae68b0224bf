//! `FieldcaseStore`: the phone's local store, as the app sees it.
//!
//! A newtype over core's `FieldStore` whose methods each delegate in one line: convert the
//! input, call core, convert the result. Every call runs inside [`guard`], so a panic comes
//! back as `FieldcaseError::Internal` instead of unwinding into the app.
//!
//! All methods block on local SQLite (a few milliseconds; an fsync per write): apps call them
//! off the main thread. Calls from many threads at once are safe; core serialises writes on
//! its one writer connection.

use crate::FieldcaseError;
use crate::error::guard;
use crate::inputs::{
    ExemptionRequest, FollowUpInput, NewAction, NewCase, NewDemonstration, NewParty,
    PenaltyRequest, ReviewInput, StepInput,
};
use crate::views::{
    self, CaseSummary, CaseView, DeadlineView, DecisionView, DemonstrationView, DueFollowUp,
    Eligibility, ExemptionView, ImportReport, MethodSpec, PartyView, ReviewView, ViolationItem,
};
use fieldcase_core::catalogue as cat;
use fieldcase_core::store::{ChangeBundle, WipeMode};
use fieldcase_core::{FieldStore, StoreConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The local store of one phone: cases, parties and demonstrations as mergeable records in
/// one SQLite file.
#[derive(Debug, uniffi::Object)]
pub struct FieldcaseStore {
    /// `None` once [`FieldcaseStore::close_store`] was called. A call in flight keeps its own
    /// `Arc`, so closing never pulls the store from under it; the file closes when the last
    /// call returns.
    inner: RwLock<Option<Arc<FieldStore>>>,
}

impl FieldcaseStore {
    /// The open store, for a call that must hold it across awaits.
    pub(crate) fn store(&self) -> Result<Arc<FieldStore>, FieldcaseError> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(FieldcaseError::StoreClosed)
    }

    /// Erases the store on the server's order (a revoked phone), in the operator's `mode`,
    /// and returns the error the app sees. The work runs on the library's blocking pool, never
    /// on the caller's executor.
    ///
    /// `All` closes the store first; calls still running are given a few seconds to finish,
    /// and if one does not, the files are erased at the next revocation notice instead (the
    /// server repeats it on every request). `KeepUnsynced` erases what the server holds and
    /// leaves the store open with the rest, for export or a new enrolment.
    pub(crate) async fn wipe_revoked(&self, mode: WipeMode) -> FieldcaseError {
        let done = match mode {
            WipeMode::All => {
                let taken = match self.inner.write() {
                    Ok(mut g) => g.take(),
                    Err(p) => p.into_inner().take(),
                };
                let Some(arc) = taken else {
                    return FieldcaseError::StoreClosed;
                };
                crate::sync::blocking(move || Ok(wipe_when_alone(arc))).await
            }
            WipeMode::KeepUnsynced => match self.store() {
                Ok(store) => {
                    crate::sync::blocking(move || {
                        Ok(match store.wipe_synced() {
                            Ok(report) => FieldcaseError::Unauthorized {
                                wiped: true,
                                kept_unsynced: true,
                                records_kept: u32::try_from(report.records_kept)
                                    .unwrap_or(u32::MAX),
                            },
                            Err(_) => unwiped(),
                        })
                    })
                    .await
                }
                Err(e) => Err(e),
            },
        };
        done.unwrap_or_else(|e| e)
    }

    /// Runs `f` on the open store, inside the panic guard.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&FieldStore) -> Result<T, FieldcaseError>,
    ) -> Result<T, FieldcaseError> {
        guard(|| f(self.store()?.as_ref()))
    }
}

/// The error of a revoked phone whose store could not (yet) be erased.
fn unwiped() -> FieldcaseError {
    FieldcaseError::Unauthorized {
        wiped: false,
        kept_unsynced: false,
        records_kept: 0,
    }
}

/// Waits (blocking, up to 5 s) until no call holds the store, then erases it whole.
fn wipe_when_alone(mut arc: Arc<FieldStore>) -> FieldcaseError {
    for _ in 0..50 {
        match Arc::try_unwrap(arc) {
            Ok(store) => {
                return match store.wipe(WipeMode::All) {
                    Ok(_) => FieldcaseError::Unauthorized {
                        wiped: true,
                        kept_unsynced: false,
                        records_kept: 0,
                    },
                    Err(_) => unwiped(),
                };
            }
            Err(still_shared) => {
                arc = still_shared;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
    unwiped()
}

/// How to open a store.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreOptions {
    /// Leave it out: the store makes its own id at first open and keeps it, proposes it at
    /// `enrol`, and adopts the id the server confirms, so records made before enrolment stay
    /// this device's and no reopen is needed. A value given is used only at the very first
    /// open (a canonical lowercase UUID, or the server gives another id and records made
    /// before enrolment are refused); later ones are ignored. `device_id()` tells the id in use.
    #[uniffi(default = None)]
    pub device_id: Option<String>,
    /// The 32-byte database key from the platform keystore (Android Keystore-wrapped, iOS
    /// Keychain). Required unless `plain_store_for_tests` is set.
    #[uniffi(default = None)]
    pub db_key: Option<Vec<u8>>,
    /// Without `db_key`, open a plain, unencrypted SQLite store: tests only, never an app.
    /// Without this flag a missing `db_key` is `InvalidInput`.
    #[uniffi(default = false)]
    pub plain_store_for_tests: bool,
    /// The bureau's 32-byte key for matching parties across phones by identity number;
    /// `None` keeps the one received at enrolment (or a per-store key before that).
    #[uniffi(default = None)]
    pub party_match_key: Option<Vec<u8>>,
    /// Folder for evidence files; `<path>.blobs/` beside the database when `None`.
    #[uniffi(default = None)]
    pub blob_dir: Option<String>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("device_id", &self.device_id)
            .field("blob_dir", &self.blob_dir)
            .field("plain_store_for_tests", &self.plain_store_for_tests)
            .finish_non_exhaustive()
    }
}

/// Decodes a 32-byte key.
fn key32(field: &str, key: Option<Vec<u8>>) -> Result<Option<[u8; 32]>, FieldcaseError> {
    key.map(|k| {
        <[u8; 32]>::try_from(k.as_slice())
            .map_err(|_| FieldcaseError::invalid(field, "must be 32 bytes"))
    })
    .transpose()
}

/// Encodes a store's heads (what it holds) for another store to export against.
fn encode_heads(heads: &BTreeMap<String, Vec<String>>) -> Result<Vec<u8>, FieldcaseError> {
    serde_json::to_vec(heads).map_err(|e| FieldcaseError::Internal {
        reason: format!("encoding heads: {e}"),
    })
}

fn decode_heads(bytes: &[u8]) -> Result<BTreeMap<String, Vec<String>>, FieldcaseError> {
    serde_json::from_slice(bytes)
        .map_err(|_| FieldcaseError::invalid("their_heads", "not a heads summary from heads()"))
}

#[uniffi::export]
impl FieldcaseStore {
    /// Opens (creating if needed) the store at `path` (see [`StoreOptions`]). A wrong
    /// `db_key` fails with `WrongKey` and changes nothing.
    #[uniffi::constructor]
    pub fn open(path: String, options: StoreOptions) -> Result<Arc<Self>, FieldcaseError> {
        guard(|| {
            let base = match key32("db_key", options.db_key)? {
                Some(key) => StoreConfig::new(options.device_id.unwrap_or_default(), key),
                None if options.plain_store_for_tests => {
                    StoreConfig::insecure_plain_for_tests(options.device_id.unwrap_or_default())
                }
                None => {
                    return Err(FieldcaseError::invalid(
                        "db_key",
                        "a store needs its database key (plain_store_for_tests is for tests \
                         only)",
                    ));
                }
            };
            let config = StoreConfig {
                party_match_key: key32("party_match_key", options.party_match_key)?,
                blob_dir: options.blob_dir.map(Into::into),
                ..base
            };
            let store = FieldStore::open(path, config)?;
            Ok(Arc::new(FieldcaseStore {
                inner: RwLock::new(Some(Arc::new(store))),
            }))
        })
    }

    /// Installs the platform's signing key (Android Keystore, iOS Secure Enclave) for
    /// evidence, decisions and closures; without one a software key kept in the encrypted
    /// store is used. Its public key must be the one given at enrolment.
    pub fn set_signer(&self, signer: Arc<dyn crate::Signer>) -> Result<(), FieldcaseError> {
        self.with(|s| {
            let adapter = crate::seams::PlatformSigner::new(signer)?;
            Ok(s.set_signer(Arc::new(adapter))?)
        })
    }

    /// The unmasked personal data of a party, for a screen that must show it. Fails with
    /// `NotAllowed` on a phone without the bureau's personal-data key (a volunteer's, or one
    /// not enrolled when the party was recorded elsewhere).
    pub fn party_details(&self, party_id: String) -> Result<views::PartyDetails, FieldcaseError> {
        self.with(|s| Ok(s.party_pii(&party_id)?.into()))
    }

    /// This device's public signing key (32 bytes).
    pub fn device_public_key(&self) -> Result<Vec<u8>, FieldcaseError> {
        self.with(|s| Ok(s.signer()?.public_key().to_vec()))
    }

    /// Sets how long the phone may go without reaching the server before it locks itself
    /// (`None`: never). The bureau's policy, applied by the app at enrolment.
    pub fn set_lease_ms(&self, lease_ms: Option<i64>) -> Result<(), FieldcaseError> {
        self.with(|s| Ok(s.set_lease(lease_ms)?))
    }

    /// `None` when the store is usable, else since when it is locked (unix ms).
    pub fn locked_since_ms(&self) -> Result<Option<i64>, FieldcaseError> {
        self.with(|s| {
            Ok(match s.lock_state() {
                fieldcase_core::store::LockState::Locked { since_ms } => Some(since_ms),
                _ => None,
            })
        })
    }

    /// Closes the store. Every later call fails with `StoreClosed`; calls already running
    /// finish first. Calling it twice is harmless. (In Kotlin, `close()` of `AutoCloseable`
    /// also frees the object itself.)
    pub fn close_store(&self) {
        let taken = match self.inner.write() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        drop(taken);
    }

    /// The id this device's records are written under: the store's own before enrolment,
    /// the one the server confirmed after it (the same, unless the server had to give
    /// another).
    pub fn device_id(&self) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.device_id()))
    }

    /// `ok` when SQLite finds the file sound, else its findings.
    pub fn integrity_check(&self) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.integrity_check()?))
    }

    // ---- catalogue ----

    /// The version of the catalogue in force.
    pub fn catalogue_version(&self) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.catalogue().version().to_string()))
    }

    /// Every catalogue version this phone holds (built in, and received signed from the
    /// server); each case is judged under the one it recorded.
    pub fn catalogue_versions(&self) -> Result<Vec<String>, FieldcaseError> {
        self.with(|s| Ok(s.catalogue_versions()))
    }

    /// Every violation item of the catalogue, ordered by code.
    pub fn violation_items(&self) -> Result<Vec<ViolationItem>, FieldcaseError> {
        self.with(|s| Ok(s.catalogue().items().map(Into::into).collect()))
    }

    /// Every method with its 721 class and fields, in the order of the notice.
    pub fn method_specs(&self) -> Result<Vec<MethodSpec>, FieldcaseError> {
        self.with(|s| {
            let c = s.catalogue();
            Ok(cat::Method::ALL
                .iter()
                .filter_map(|m| c.method(*m).map(Into::into))
                .collect())
        })
    }

    // ---- parties ----

    /// Registers a party, or returns the one already registered with the same identity
    /// number. The view holds masked data only.
    pub fn register_party(&self, party: NewParty) -> Result<PartyView, FieldcaseError> {
        self.with(|s| Ok(s.register_party(party.into())?.into()))
    }

    /// The party with this identity number, if registered on this device.
    pub fn find_party_by_id_number(
        &self,
        id_number: String,
    ) -> Result<Option<PartyView>, FieldcaseError> {
        self.with(|s| Ok(s.find_party_by_id_number(&id_number)?.map(Into::into)))
    }

    /// A party (masked).
    pub fn get_party(&self, party_id: String) -> Result<PartyView, FieldcaseError> {
        self.with(|s| Ok(s.party(&party_id)?.into()))
    }

    /// Every case of the party (matched by identity across phones), oldest first.
    pub fn party_history(&self, party_id: String) -> Result<Vec<CaseSummary>, FieldcaseError> {
        self.with(|s| views::summaries(s.party_history(&party_id)?))
    }

    // ---- cases ----

    /// Records a new case with its on-the-spot actions.
    pub fn create_case(&self, new_case: NewCase) -> Result<CaseView, FieldcaseError> {
        self.with(|s| Ok(s.create_case(new_case.try_into()?)?.into()))
    }

    /// A case with everything on it.
    pub fn get_case(&self, case_id: String) -> Result<CaseView, FieldcaseError> {
        self.with(|s| Ok(s.case(&case_id)?.into()))
    }

    /// Appends an action (any method but penalty and follow-up); returns its id.
    pub fn append_action(
        &self,
        case_id: String,
        action: NewAction,
    ) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.append_action(&case_id, action.try_into()?)?))
    }

    /// Adds a note; returns its id.
    pub fn add_note(
        &self,
        case_id: String,
        by: String,
        at_ms: i64,
        text: String,
    ) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.add_note(&case_id, &by, at_ms, &text)?))
    }

    /// Whether the case's party may be exempted: every condition, met or not, and what
    /// "first offence" rested on. Writes nothing.
    pub fn check_exemption(
        &self,
        case_id: String,
        minor: bool,
        no_harm: bool,
        pledge_offered: bool,
    ) -> Result<Eligibility, FieldcaseError> {
        self.with(|s| {
            Ok(s.check_exemption(&case_id, minor, no_harm, pledge_offered)?
                .into())
        })
    }

    /// Grants an exemption with its pledge; `NotEligible` lists the unmet conditions.
    pub fn grant_exemption(
        &self,
        case_id: String,
        request: ExemptionRequest,
    ) -> Result<ExemptionView, FieldcaseError> {
        self.with(|s| Ok(s.grant_exemption(&case_id, request.into())?.into()))
    }

    /// Orders the party to correct by a deadline; returns the action id.
    pub fn order_correction(
        &self,
        case_id: String,
        by: String,
        at_ms: i64,
        deadline_ms: i64,
        items: Vec<String>,
    ) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.order_correction(&case_id, &by, at_ms, deadline_ms, items)?))
    }

    /// Schedules a follow-up visit; returns its id.
    pub fn schedule_follow_up(
        &self,
        case_id: String,
        by: String,
        due_ms: i64,
        purpose: Option<String>,
    ) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.schedule_follow_up(&case_id, &by, due_ms, purpose.as_deref())?))
    }

    /// Records what a follow-up visit found.
    pub fn record_follow_up(
        &self,
        case_id: String,
        follow_up_id: String,
        result: FollowUpInput,
    ) -> Result<(), FieldcaseError> {
        self.with(|s| Ok(s.record_follow_up(&case_id, &follow_up_id, result.into())?))
    }

    /// Decides a penalty against the discretion benchmark; a major or out-of-range one
    /// awaits legal review (`review_required`).
    pub fn decide_penalty(
        &self,
        case_id: String,
        request: PenaltyRequest,
    ) -> Result<DecisionView, FieldcaseError> {
        self.with(|s| Ok(s.decide_penalty(&case_id, request.into())?.into()))
    }

    /// Records a step of the penalty procedure (立案, 调查取证, 事先告知, 陈述申辩, 听证,
    /// 负责人批准, 送达, 执行); out of order it is `Refused(procedure_invalid)`.
    pub fn record_step(&self, case_id: String, step: StepInput) -> Result<String, FieldcaseError> {
        self.with(|s| Ok(s.record_step(&case_id, step.into())?))
    }

    /// The time limits the law sets on the case and which are overdue at `now_ms`.
    pub fn procedure_deadlines(
        &self,
        case_id: String,
        now_ms: i64,
    ) -> Result<Vec<DeadlineView>, FieldcaseError> {
        self.with(|s| {
            Ok(s.procedure_deadlines(&case_id, now_ms)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Writes the legal review of the case's decision from a reviewer's phone, signed with this
    /// device's key over the decision; it syncs like any change and the server re-checks it.
    pub fn review_decision(
        &self,
        case_id: String,
        decision_id: String,
        review: ReviewInput,
    ) -> Result<ReviewView, FieldcaseError> {
        self.with(|s| {
            let r = s.review_decision(&case_id, &decision_id, review.into())?;
            Ok(ReviewView {
                outcome: r.outcome.into(),
                reviewer: r.reviewer,
                opinion: r.opinion,
                at_ms: r.at_ms,
            })
        })
    }

    /// Closes a case (结案); refused while a correction or a review is pending.
    pub fn close_case(
        &self,
        case_id: String,
        by: String,
        at_ms: i64,
        reason: String,
    ) -> Result<(), FieldcaseError> {
        self.with(|s| Ok(s.close_case(&case_id, &by, at_ms, &reason)?))
    }

    /// Reopens a closed case with a reason.
    pub fn reopen_case(
        &self,
        case_id: String,
        by: String,
        at_ms: i64,
        reason: String,
    ) -> Result<(), FieldcaseError> {
        self.with(|s| Ok(s.reopen_case(&case_id, &by, at_ms, &reason)?))
    }

    // ---- lists ----

    /// Open cases of a unit and its sub-units (every unit when `None`), newest first.
    pub fn open_cases(
        &self,
        unit: Option<String>,
        limit: u32,
    ) -> Result<Vec<CaseSummary>, FieldcaseError> {
        self.with(|s| views::summaries(s.open_cases(unit.as_deref(), limit)?))
    }

    /// Follow-ups not yet made that fall due before `now_ms + horizon_ms`, oldest first;
    /// `overdue` marks those already past due.
    pub fn due_follow_ups(
        &self,
        unit: Option<String>,
        now_ms: i64,
        horizon_ms: i64,
    ) -> Result<Vec<DueFollowUp>, FieldcaseError> {
        self.with(|s| {
            Ok(s.due_follow_ups(unit.as_deref(), now_ms, horizon_ms)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Follow-ups past due at `now_ms`.
    pub fn overdue_follow_ups(
        &self,
        unit: Option<String>,
        now_ms: i64,
    ) -> Result<Vec<DueFollowUp>, FieldcaseError> {
        self.with(|s| {
            Ok(s.overdue_follow_ups(unit.as_deref(), now_ms)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Cases of a unit (and sub-units) on a local day `YYYY-MM-DD` (UTC+8).
    pub fn cases_by_unit_day(
        &self,
        unit: String,
        day: String,
    ) -> Result<Vec<CaseSummary>, FieldcaseError> {
        self.with(|s| views::summaries(s.cases_by_unit_day(&unit, &day)?))
    }

    /// Cases flagged as exemption conflicts.
    pub fn flagged_cases(&self) -> Result<Vec<CaseSummary>, FieldcaseError> {
        self.with(|s| views::summaries(s.flagged_cases()?))
    }

    // ---- demonstrations ----

    /// Records a persuasion demonstration.
    pub fn record_demonstration(
        &self,
        demonstration: NewDemonstration,
    ) -> Result<DemonstrationView, FieldcaseError> {
        self.with(|s| Ok(s.record_demonstration(demonstration.into())?.into()))
    }

    /// A demonstration.
    pub fn get_demonstration(
        &self,
        demonstration_id: String,
    ) -> Result<DemonstrationView, FieldcaseError> {
        self.with(|s| Ok(s.demonstration(&demonstration_id)?.into()))
    }

    // ---- phone-to-phone exchange ----
    //
    // Server sync goes here once core's sync client lands: an async method on this object
    // (`#[uniffi::export(async_runtime = "tokio")]`) taking a `SyncProgressListener`, with its
    // own cancel handle. It is left out until it can do real work.

    /// A summary of what this store holds, for another store's `export_changes`.
    pub fn heads(&self) -> Result<Vec<u8>, FieldcaseError> {
        self.with(|s| encode_heads(&s.heads()?))
    }

    /// The changes a store lacks, given its `heads()` (`None`: everything), as bytes to carry
    /// to it (file, QR sequence, Bluetooth) and pass to its `import_changes`.
    pub fn export_changes(&self, their_heads: Option<Vec<u8>>) -> Result<Vec<u8>, FieldcaseError> {
        self.with(|s| {
            let theirs = their_heads.as_deref().map(decode_heads).transpose()?;
            Ok(s.export_changes(&theirs.unwrap_or_default())?.to_bytes()?)
        })
    }

    /// Merges a bundle from another store. Every record is checked before anything is
    /// written; a bad one fails the whole import with `Malformed` or `InvalidInput`.
    pub fn import_changes(&self, bundle: Vec<u8>) -> Result<ImportReport, FieldcaseError> {
        self.with(|s| {
            Ok(s.import_changes(&ChangeBundle::from_bytes(&bundle)?)?
                .into())
        })
    }

    /// After a merge: flags every case whose first-offence exemption conflicts with an
    /// earlier one of the same party (granted offline on another phone). Returns the flagged
    /// case ids; it never changes an exemption.
    pub fn flag_exemption_conflicts(&self) -> Result<Vec<String>, FieldcaseError> {
        self.with(|s| Ok(s.flag_exemption_conflicts()?))
    }
}
