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
use fieldcase_tests::harness::{Phone, TestResult, TestServer, id_number, pg_url};
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
        let party = p.party(&id_number(((seed * 31 + i) % 1000) as u64))?;
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
    let party = thief.party("341503194912310022")?;
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

/// Renders `doc` of `case` on `paper` and checks it as a reader would: the Chinese title, the
/// number and `wants` come back from the text, the pages carry ink, and the QR code decodes to
/// the case, the entry and its hash.
fn check_render(
    p: &Phone,
    case: &str,
    doc: &fieldcase_core::model::IssuedDocument,
    paper: fieldcase_core::documents::render::Paper,
    title: &str,
    wants: &[&str],
) -> TestResult {
    let pdf = p.store.render_document(case, &doc.id, paper)?;
    // FIELDCASE_RENDER_OUT=dir keeps the PDFs to look at.
    if let Some(dir) = std::env::var_os("FIELDCASE_RENDER_OUT") {
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{}-{paper:?}.pdf", doc.kind.as_str())),
            &pdf,
        )?;
    }
    let text = fieldcase_tests::pdf::text(&pdf)?;
    assert!(text.contains(title), "{title} not in {text}");
    if let Some(n) = &doc.number {
        assert!(text.contains(&n.text), "{} not in {text}", n.text);
    }
    for w in wants {
        assert!(text.contains(w), "{w} not in the {title}: {text}");
    }
    let pages = fieldcase_tests::pdf::pages(&pdf)?;
    assert!(!pages.is_empty());
    for page in &pages {
        assert!(
            fieldcase_tests::pdf::inked(page) > 0.005,
            "a blank page in {title}"
        );
    }
    let codes: Vec<String> = pages
        .iter()
        .flat_map(fieldcase_tests::pdf::qr_codes)
        .collect();
    assert!(
        codes.contains(&doc.qr_payload(case)),
        "the QR code of the {title} names its case and hash: {codes:?}"
    );
    Ok(())
}

fn issue_with(
    p: &Phone,
    case: &str,
    kind: DocumentKind,
    inputs: &[(&str, &str)],
    serves: Option<String>,
) -> TestResult<fieldcase_core::model::IssuedDocument> {
    Ok(p.store.issue_document(
        case,
        DocumentRequest {
            kind: Some(kind),
            by: p.user.clone(),
            serves,
            inputs: inputs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
    )?)
}

/// A case of `party` recorded by `p` with its colleague OF-D2 (a penalty needs two officers).
fn two_officer_case(p: &Phone, party: String, at: i64) -> TestResult<String> {
    let (code, tier) = fieldcase_tests::harness::exemptable(&p.store)?;
    Ok(p.store
        .create_case(fieldcase_core::store::NewCase {
            unit: p.unit.clone(),
            occurred_at_ms: at,
            place: fieldcase_tests::harness::place(),
            officers: vec![p.user.clone(), "OF-D2".into()],
            recorded_by: p.user.clone(),
            party_id: Some(party),
            violation_code: code,
            tier,
            description: Some("店外摆放货架".into()),
            actions: vec![fieldcase_tests::harness::persuasion(&p.user, at)],
            involves_minor: false,
            privacy_protected: false,
        })?
        .id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_document_kind_renders_with_its_text_number_amount_and_qr() -> TestResult {
    use fieldcase_core::documents::render::Paper;
    use fieldcase_core::model::{CheckPoint, ReviewChecklist, ReviewOutcome};
    use fieldcase_core::store::ReviewInput;
    use fieldcase_tests::lawful;
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let url = s.url();
    let d = dir.path();
    let colleague = Phone::enrol(&s, &url, d, "OF-D2", Role::Officer, SQUAD).await?;
    let o = Phone::enrol(&s, &url, d, "OF-D1", Role::Officer, SQUAD).await?;
    let rv = Phone::enrol(&s, &url, d, "RV-D", Role::Reviewer, SQUAD).await?;
    let head = Phone::enrol(&s, &url, d, "SV-D", Role::Supervisor, SQUAD).await?;
    o.sync().await?;
    drop(colleague);

    // An exempted first offence: pledge notice, no-penalty decision, its service receipt.
    let party = o.party("341502194912310026")?;
    let a = o.case(Some(party), T0)?;
    o.exempt(&a, T0 + 1000)?;
    let pledge = issue_with(&o, &a, DocumentKind::PledgeNotice, &[], None)?;
    check_render(
        &o,
        &a,
        &pledge,
        Paper::A4,
        "告知承诺书",
        &["本人承诺当日内整改", "张三丰", "六安市城市管理局"],
    )?;
    // A correction is a new document naming the one it replaces, once; the old one stays.
    let corrected = o.store.issue_document(
        &a,
        DocumentRequest {
            kind: Some(DocumentKind::PledgeNotice),
            by: o.user.clone(),
            replaces: Some(pledge.id.clone()),
            ..Default::default()
        },
    )?;
    assert_ne!(
        corrected.number, pledge.number,
        "a correction takes its own number"
    );
    let again = o.store.issue_document(
        &a,
        DocumentRequest {
            kind: Some(DocumentKind::PledgeNotice),
            by: o.user.clone(),
            replaces: Some(pledge.id.clone()),
            ..Default::default()
        },
    );
    assert!(
        matches!(&again, Err(CoreError::Refused { code, .. }) if code == "document_invalid"),
        "{again:?}"
    );
    assert_eq!(
        o.store.documents(&a)?.len(),
        2,
        "both the old and the correction stay"
    );
    let nopen = issue_with(&o, &a, DocumentKind::NoPenaltyDecision, &[], None)?;
    check_render(
        &o,
        &a,
        &nopen,
        Paper::A4,
        "不予行政处罚决定书",
        &["不予行政处罚", "六安市人民政府", "六十日内"],
    )?;
    let receipt = issue_with(
        &o,
        &a,
        DocumentKind::ServiceReceipt,
        &[("service_method", "直接送达")],
        Some(nopen.id.clone()),
    )?;
    check_render(
        &o,
        &a,
        &receipt,
        Paper::Roll80,
        "送达回证",
        &[
            "直接送达",
            nopen.number.as_ref().map(|n| n.text.as_str()).unwrap_or(""),
        ],
    )?;

    // On the spot: scene record with photos, inquiry, order to correct, simple decision.
    let party = o.party("341502194912310042")?;
    let b = two_officer_case(&o, party, T0 + 100_000)?;
    o.photo(&b, d, 640, 480, 1)?;
    o.photo(&b, d, 480, 640, 2)?;
    let scene = issue_with(&o, &b, DocumentKind::InspectionRecord, &[], None)?;
    check_render(
        &o,
        &b,
        &scene,
        Paper::A4,
        "现场检查（勘验）笔录",
        &["店外摆放货架", "照片1", "照片2", "皖城执OF-D1"],
    )?;
    let inquiry = issue_with(
        &o,
        &b,
        DocumentKind::InquiryRecord,
        &[
            ("inquiry_place", "梅山南路12号店内"),
            ("qa", "问：货架是你摆放的吗？\n答：是的，早上摆出去的。"),
        ],
        None,
    )?;
    check_render(
        &o,
        &b,
        &inquiry,
        Paper::A4,
        "询问笔录",
        &["货架是你摆放的吗", "梅山南路12号店内"],
    )?;
    let decision = lawful::simple(&o.store, &b, "OF-D1", T0 + 200_000)?;
    let order = issue_with(&o, &b, DocumentKind::CorrectionOrder, &[], None)?;
    check_render(
        &o,
        &b,
        &order,
        Paper::A4,
        "责令（限期）改正通知书",
        &["整改"],
    )?;
    let spot = issue_with(&o, &b, DocumentKind::OnTheSpotDecision, &[], None)?;
    let amount = fieldcase_core::documents::words::yuan_in_words(decision.amount_yuan);
    for paper in [Paper::A4, Paper::Roll58, Paper::Roll80] {
        check_render(
            &o,
            &b,
            &spot,
            paper,
            "当场行政处罚决定书",
            &[&amount, "先申请行政复议"],
        )?;
    }

    // The ordinary procedure: prior notice, review, the head's approval, the decision.
    let party = o.party("341502194912310069")?;
    let c = two_officer_case(&o, party, T0 + 300_000)?;
    let decided = lawful::ordinary(&o.store, &c, "OF-D1", "OF-D2", T0 + 300_000, None, None)?;
    let notice = issue_with(&o, &c, DocumentKind::PriorNotice, &[], None)?;
    let proposed = fieldcase_core::documents::words::yuan_in_words(decided.amount_yuan);
    check_render(
        &o,
        &c,
        &notice,
        Paper::A4,
        "行政处罚事先告知书",
        &[&proposed, "陈述和申辩", "听证"],
    )?;
    assert!(
        issue_with(&o, &c, DocumentKind::PenaltyDecision, &[], None).is_err(),
        "no decision document before review and approval"
    );
    o.sync().await?;
    rv.sync().await?;
    let pass = CheckPoint {
        passed: true,
        note: None,
    };
    rv.store.review_decision(
        &c,
        &decided.id,
        ReviewInput {
            reviewer: "RV-D".into(),
            outcome: ReviewOutcome::Approved,
            opinion: "事实清楚，证据确凿，程序合法".into(),
            checklist: ReviewChecklist {
                subject: pass.clone(),
                facts: pass.clone(),
                evidence: pass.clone(),
                basis: pass.clone(),
                discretion: pass.clone(),
                procedure: pass,
            },
            at_ms: T0 + 300_000 + 11 * 86_400_000,
        },
    )?;
    rv.sync().await?;
    head.sync().await?;
    lawful::approve(&head.store, &c, "SV-D", T0 + 300_000 + 12 * 86_400_000)?;
    head.sync().await?;
    o.sync().await?;
    let fine = issue_with(&o, &c, DocumentKind::PenaltyDecision, &[], None)?;
    check_render(
        &o,
        &c,
        &fine,
        Paper::A4,
        "行政处罚决定书",
        &[&proposed, "十五日内", "六个月内"],
    )?;

    // The case file, on the phone and from the server's admin command.
    let file = o.store.render_case_file(&c)?;
    let text = fieldcase_tests::pdf::text(&file)?;
    for want in [
        "行政执法案卷",
        "卷内目录",
        "行政处罚事先告知书",
        "行政处罚决定书",
        "证据材料",
    ] {
        assert!(text.contains(want), "{want} not in the case file");
    }
    o.sync().await?;
    let out = d.join("case-file.pdf");
    fieldcase_server::supervision::case_file::write_case_file(&s.state, &c, &out).await?;
    let text = fieldcase_tests::pdf::text(&std::fs::read(&out)?)?;
    for want in ["行政执法案卷", "行政处罚决定书", "张三丰"] {
        assert!(text.contains(want), "{want} not in the server's case file");
    }

    // The reviewer opens the decision and the case file from the case page.
    let link =
        fieldcase_server::supervision::routes::issue_login_link(s.storage(), "RV-D", &url, 5)
            .await?;
    // The TLS provider is process-wide: installed here too, so the test passes when run alone.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = http.get(&link.url).send().await?;
    let cookie = r
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or("no session cookie")?
        .to_string();
    for (path, want) in [
        (
            format!("/dashboard/case/{c}/documents/{}.pdf", fine.id),
            "行政处罚决定书",
        ),
        (format!("/dashboard/case/{c}/file.pdf"), "卷内目录"),
    ] {
        let r = http
            .get(format!("{url}{path}"))
            .header(reqwest::header::COOKIE, &cookie)
            .header(
                reqwest::header::REFERER,
                format!("{url}/dashboard/case/{c}"),
            )
            .send()
            .await?;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/pdf")
        );
        let text = fieldcase_tests::pdf::text(&r.bytes().await?)?;
        assert!(
            text.contains(want) && text.contains("张三丰"),
            "{path}: {text}"
        );
    }
    // Another squad's reviewer is answered as if the case did not exist.
    fieldcase_server::admin::create_user(
        s.storage(),
        "RV-O",
        "RV-O",
        Role::Reviewer,
        "luan/jinan/squad-2",
    )
    .await?;
    let link =
        fieldcase_server::supervision::routes::issue_login_link(s.storage(), "RV-O", &url, 5)
            .await?;
    let r = http.get(&link.url).send().await?;
    let other = r
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or("no session cookie")?
        .to_string();
    let r = http
        .get(format!(
            "{url}/dashboard/case/{c}/documents/{}.pdf",
            fine.id
        ))
        .header(reqwest::header::COOKIE, &other)
        .header(reqwest::header::REFERER, format!("{url}/dashboard"))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

/// A client that is not ours pushes a case with a scene record whose fields it forged (the
/// facts, an officer's certificate number), a number on an unnumbered kind, or a hash not its
/// own: each refused with `document_invalid`; the same document as the case gives it is
/// accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_documents_are_refused_by_the_server() -> TestResult {
    use fieldcase_core::catalogue::Catalogue;
    use fieldcase_core::documents::fields::{DocumentFrame, derived_fields};
    use fieldcase_core::model::{CaseRecord, DocumentNumber, IssuedDocument, RecordKind};
    use fieldcase_core::sync::wire::DocStatus;
    use fieldcase_tests::outsider::Outsider;
    use serde_json::json;

    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let o = Outsider::enrol(&s, "OF-X", Role::Officer, SQUAD).await?;
    let cat = Catalogue::builtin()?;
    let item = cat
        .items()
        .find(|i| !i.service_only && !i.tiers.is_empty())
        .ok_or("an item with tiers")?;
    let case_json = |id: &str| {
        json!({
            "kind": "case", "schema_version": 1, "id": id, "unit": SQUAD,
            "created_at_ms": T0, "created_by": o.user, "created_on_device": o.device_id,
            "occurred_at_ms": T0, "place": {"lat": 31.73, "lon": 116.5, "address": "梅山南路"},
            "officers": [o.user],
            "violation": {"code": item.code, "tier": item.tiers[0].tier, "catalogue_version": cat.version(),
                          "description": "店外摆放货架"},
            "actions": [], "follow_ups": [], "notes": [], "steps": [], "documents": [], "evidence": [],
            "redactions": [], "lifecycle": [], "flags": {"exemption_conflict": false, "conflict_with": []},
            "involves_minor": false, "privacy_protected": false
        })
    };
    // The server's own view of the officer, as the rules look it up.
    let mut roster = fieldcase_server::validate::Users::default();
    roster.insert_with_cert(
        &s.storage().user(&o.user).await?.ok_or("user")?,
        Some(format!("皖城执{}", o.user)),
    );
    let honest = |case_id: &str| -> TestResult<IssuedDocument> {
        let record: CaseRecord = serde_json::from_value(case_json(case_id))?;
        let mut d = IssuedDocument {
            id: fieldcase_core::ids::new_id(),
            kind: DocumentKind::InspectionRecord,
            number: None,
            issued_at_ms: fieldcase_core::ids::now_ms(),
            issued_by: o.user.clone(),
            issued_on_device: o.device_id.clone(),
            catalogue_version: cat.version().to_string(),
            decision_id: None,
            replaces: None,
            serves: None,
            fields: Default::default(),
            party_sha256: None,
            sha256: String::new(),
        };
        d.fields = derived_fields(DocumentFrame::of(&d), &record, &[], &cat, &cat, &roster)
            .map_err(|r| r.to_string())?;
        d.sha256 = d.compute_sha256();
        Ok(d)
    };
    type Forge = Box<dyn Fn(&mut IssuedDocument)>;
    let rows: Vec<(&str, Forge, bool)> = vec![
        (
            "facts rewritten",
            Box::new(|d| {
                d.fields
                    .insert("violation_facts".into(), "当事人已主动整改".into());
            }),
            true,
        ),
        (
            "a certificate number the bureau did not enter",
            Box::new(|d| {
                d.fields
                    .insert("officers".into(), "OF-X（执法证号：99999999）".into());
            }),
            true,
        ),
        (
            "a number on an unnumbered record",
            Box::new(|d| {
                d.number = Some(DocumentNumber {
                    series: "罚".into(),
                    year: 2026,
                    seq: 1,
                    text: "六城管罚〔2026〕1号".into(),
                })
            }),
            true,
        ),
        (
            "a hash not its own",
            Box::new(|d| d.sha256 = "00".repeat(32)),
            false,
        ),
        (
            "issued in another officer's name",
            Box::new(|d| d.issued_by = "OF-9".into()),
            true,
        ),
    ];
    for (what, forge, rehash) in rows {
        let id = fieldcase_core::ids::new_id();
        let mut d = honest(&id)?;
        forge(&mut d);
        if rehash {
            d.sha256 = d.compute_sha256();
        }
        let mut c = case_json(&id);
        c["documents"] = json!([d]);
        let mut doc = o.new_doc(&c, &o.actor)?;
        let r = o.push(RecordKind::Case, &id, doc.save()).await?;
        assert_eq!(r.status, DocStatus::Rejected, "{what}: {r:?}");
        let want = if what.starts_with("issued in") {
            "forged_author"
        } else {
            "document_invalid"
        };
        assert_eq!(r.code.as_deref(), Some(want), "{what}: {r:?}");
        assert!(
            s.storage().load_doc(&id).await?.is_none(),
            "{what}: nothing stored"
        );
    }
    // The control: the same document as the case gives it.
    let id = fieldcase_core::ids::new_id();
    let mut c = case_json(&id);
    c["documents"] = json!([honest(&id)?]);
    let mut doc = o.new_doc(&c, &o.actor)?;
    let r = o.push(RecordKind::Case, &id, doc.save()).await?;
    assert_eq!(r.status, DocStatus::Accepted, "{r:?}");

    // The party block: a colleague's phone registered the party; the document binds a block
    // with another name (what a forged printout would show) and is refused; the true block
    // passes.
    let p = Phone::enrol(&s, &s.url(), dir.path(), "OF-P", Role::Officer, SQUAD).await?;
    let party_id = p.party("341502194912310026")?;
    p.sync().await?;
    let party = p.store.party(&party_id)?;
    let block = |name: &str| {
        let mut pii = p.store.party_pii(&party_id)?;
        pii.name = name.into();
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            fieldcase_core::documents::sheet::party_block_sha256(
                &fieldcase_core::documents::sheet::party_block(&pii),
            ),
        )
    };
    for (name, accepted) in [("李四", false), ("张三丰", true)] {
        let id = fieldcase_core::ids::new_id();
        let mut c = case_json(&id);
        c["party"] = json!({"party_id": party_id, "party_type": party.party_type, "match_hash": party.match_hash});
        let mut d = honest(&id)?;
        d.party_sha256 = Some(block(name)?);
        d.sha256 = d.compute_sha256();
        c["documents"] = json!([d]);
        let mut doc = o.new_doc(&c, &o.actor)?;
        let r = o.push(RecordKind::Case, &id, doc.save()).await?;
        if accepted {
            assert_eq!(r.status, DocStatus::Accepted, "{name}: {r:?}");
        } else {
            assert_eq!(r.status, DocStatus::Rejected, "{name}: {r:?}");
            assert_eq!(r.code.as_deref(), Some("document_invalid"), "{r:?}");
        }
    }
    Ok(())
}

/// In December an officer's phone also receives next year's blocks, so it can number documents
/// in January before its first sync of the year; in June it gets only this year's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_december_a_phone_also_holds_next_years_numbers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let p = Phone::enrol(&s, &s.url(), dir.path(), "OF-Y", Role::Officer, SQUAD).await?;
    let user = s.storage().user("OF-Y").await?.ok_or("user")?;
    // 2027-06-01 and 2027-12-20, 10:00 China time.
    let june = 1_811_815_200_000;
    let december = 1_829_268_000_000;
    let years =
        |blocks: &[NumberBlock]| -> BTreeSet<i32> { blocks.iter().map(|b| b.year).collect() };
    let got = fieldcase_server::numbering::blocks_at(&s.state, &p.device_id, &user, june).await?;
    assert_eq!(years(&got), BTreeSet::from([2027]));
    let got =
        fieldcase_server::numbering::blocks_at(&s.state, &p.device_id, &user, december).await?;
    assert_eq!(years(&got), BTreeSet::from([2027, 2028]));
    for series in ["罚", "不罚", "承"] {
        assert!(
            got.iter().any(|b| b.series == series && b.year == 2028),
            "next year's {series} block"
        );
    }
    // Asked again, nothing more is reserved.
    let again =
        fieldcase_server::numbering::blocks_at(&s.state, &p.device_id, &user, december).await?;
    assert_eq!(again.len(), got.len());
    Ok(())
}
