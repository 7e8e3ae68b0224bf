//! Enforcement documents across a fleet: phones number documents offline, in parallel, from
//! the blocks the server reserved for each at sync; after they sync no number is taken twice,
//! every number lies in its issuer's block, and the numbers a revoked phone never used show
//! as gaps. A phone that prints a number from another phone's block is refused by the server.
//! On SQLite and on PostgreSQL.

use fieldcase_core::CoreError;
use fieldcase_core::documents::number::NumberBlock;
use fieldcase_core::model::DocumentKind;
use fieldcase_core::store::{DocumentRequest, WipeMode};
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, TestResult, TestServer, pg_url};
use std::collections::{BTreeMap, BTreeSet};

const T0: i64 = 1_790_000_000_000;
const SQUAD: &str = "luan/jinan/squad-1";

fn issue(p: &Phone, case_id: &str, kind: DocumentKind) -> fieldcase_core::Result<String> {
    Ok(p.store
        .issue_document(
            case_id,
            DocumentRequest {
                kind: Some(kind),
                by: p.user.clone(),
                ..Default::default()
            },
        )?
        .id)
}

/// Each phone records `cases` exempted cases offline and issues their pledge notice and
/// no-penalty decision (both numbered) and a service receipt of the decision (unnumbered).
fn issue_offline(p: &Phone, cases: usize, seed: usize) -> TestResult<Vec<String>> {
    let mut ids = Vec::new();
    for i in 0..cases {
        let party = p.party(&format!("11010519491231{:03}X", (seed * 31 + i) % 1000))?;
        let at = T0 + (seed * 100 + i) as i64 * 60_000;
        let case = p.case(Some(party), at)?;
        p.exempt(&case, at + 1000)?;
        issue(p, &case, DocumentKind::PledgeNotice)?;
        let decision = issue(p, &case, DocumentKind::NoPenaltyDecision)?;
        p.store.issue_document(
            &case,
            DocumentRequest {
                kind: Some(DocumentKind::ServiceReceipt),
                by: p.user.clone(),
                serves: Some(decision),
                inputs: BTreeMap::from([("service_method".into(), "直接送达".into())]),
                ..Default::default()
            },
        )?;
        ids.push(case);
    }
    Ok(ids)
}

async fn fleet_numbers(s: TestServer, dir: &std::path::Path) -> TestResult {
    let url = s.url();
    let mut phones = Vec::new();
    for i in 0..5 {
        let p = Phone::enrol(&s, &url, dir, &format!("OF-N{i}"), Role::Officer, SQUAD).await?;
        p.sync().await?;
        let blocks = p.store.number_blocks()?;
        assert!(
            blocks
                .iter()
                .any(|(b, free)| b.series == "不罚" && *free >= 10),
            "an officer's phone holds a block of every series after sync: {blocks:?}"
        );
        phones.push(p);
    }
    // A volunteer's phone gets no blocks.
    let v = Phone::enrol(&s, &url, dir, "VO-N", Role::Volunteer, SQUAD).await?;
    v.sync().await?;
    assert!(v.store.number_blocks()?.is_empty());

    // Offline, in parallel.
    let results: Vec<TestResult<Vec<String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = phones
            .iter()
            .enumerate()
            .map(|(i, p)| scope.spawn(move || issue_offline(p, 4, i)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("issuing thread panicked".into()))
            })
            .collect()
    });
    let mut cases = Vec::new();
    for r in results {
        cases.extend(r?);
    }
    for p in &phones {
        let report = p.sync().await?;
        assert_eq!(report.rejected, 0, "{report:?}");
    }

    // Every numbered document on the server: one number each, in its issuer's block.
    let mut seen = BTreeSet::new();
    let mut texts = BTreeSet::new();
    for p in &phones {
        let blocks: Vec<NumberBlock> = s
            .storage()
            .device_blocks(&p.device_id)
            .await?
            .into_iter()
            .map(|(b, _)| b)
            .collect();
        for case in cases.iter() {
            let Some(stored) = s.storage().load_doc(case).await? else {
                return Err(format!("case {case} missing on the server").into());
            };
            let doc = automerge::AutoCommit::load(&stored.bytes)?;
            let c: fieldcase_core::model::CaseRecord = fieldcase_core::doc::read(&doc, case)?;
            for d in c
                .documents
                .iter()
                .filter(|d| d.issued_on_device == p.device_id)
            {
                let Some(n) = &d.number else {
                    assert_eq!(d.kind, DocumentKind::ServiceReceipt);
                    continue;
                };
                assert!(
                    blocks.iter().any(|b| b.holds(&n.series, n.year, n.seq)),
                    "{} outside its phone's blocks",
                    n.text
                );
                assert!(
                    seen.insert((n.series.clone(), n.year, n.seq)),
                    "{} twice",
                    n.text
                );
                texts.insert(n.text.clone());
                assert!(n.text.starts_with("六城管"), "{}", n.text);
            }
        }
    }
    assert_eq!(seen.len(), 5 * 4 * 2, "two numbered documents per case");
    let ledger = fieldcase_server::admin::number_ledger(s.storage()).await?;
    for l in &ledger {
        assert!(l.duplicates.is_empty() && l.unreserved.is_empty(), "{l:?}");
        assert!(l.gaps.is_empty(), "no gaps before a revocation: {l:?}");
    }
    let taken: i64 = ledger.iter().map(|l| l.taken).sum();
    assert_eq!(taken, 40);

    // A revoked phone's unused numbers become gaps the supervisors see.
    fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &phones[0].device_id,
        WipeScope::All,
    )
    .await?;
    assert!(matches!(
        phones[0].sync().await,
        Err(CoreError::Unauthorized {
            wipe: Some(WipeMode::All),
            ..
        })
    ));
    let ledger = fieldcase_server::admin::number_ledger(s.storage()).await?;
    let fa = ledger
        .iter()
        .find(|l| l.series == "不罚")
        .ok_or("no 不罚 series")?;
    assert_eq!(
        fa.gaps.len(),
        20 - 4,
        "the revoked phone's 16 unused numbers: {fa:?}"
    );

    // A phone that prints a number of another phone's block is refused by the server.
    let thief = &phones[1];
    let victim: Vec<NumberBlock> = s
        .storage()
        .device_blocks(&phones[2].device_id)
        .await?
        .into_iter()
        .map(|(b, _)| b)
        .filter(|b| b.series == "承")
        .collect();
    thief.store.set_local_rule_checks_for_tests(false);
    thief.store.add_number_blocks(&victim)?;
    let party = thief.party("110105194912310029")?;
    let case = thief.case(Some(party), T0 + 10_000_000)?;
    thief.exempt(&case, T0 + 10_001_000)?;
    let stolen = loop {
        // The lowest free number may still be the thief's own; take until one is the victim's.
        let d = thief.store.issue_document(
            &case,
            DocumentRequest {
                kind: Some(DocumentKind::PledgeNotice),
                by: thief.user.clone(),
                ..Default::default()
            },
        )?;
        let n = d.number.clone().ok_or("numbered")?;
        if victim.iter().any(|b| b.holds(&n.series, n.year, n.seq)) {
            break n;
        }
        if d.number.as_ref().is_some_and(|n| n.seq > 10_000) {
            return Err("never reached the victim's block".into());
        }
    };
    let report = thief.sync().await?;
    assert_eq!(report.rejected, 1, "{report:?}");
    let rejected = thief.store.rejected_docs()?;
    assert!(
        rejected
            .iter()
            .any(|r| r.reason.contains("document_invalid") || r.reason.contains("another device")),
        "{rejected:?} for {}",
        stolen.text
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_numbers_documents_offline_without_duplicates_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    fleet_numbers(s, dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_numbers_documents_offline_without_duplicates_postgres() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start_postgres(&dir.path().join("server"), &pg_url()).await?;
    fleet_numbers(s, dir.path()).await
}
