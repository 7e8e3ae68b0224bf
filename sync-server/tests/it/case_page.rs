//! The reviewer's case page and its evidence route over records synced by real phones (a JPEG
//! and a WAV captured through the phone's ingest and uploaded by the sync): who may see a case
//! and its files, what the page shows, the review posted from it, redacted evidence, and the
//! paged public disclosure naming units and document numbers.

use crate::supervision::{R, Reply, assert_no_canary, bearer, call, get, post_json, seeded};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fieldcase_core::model::{CaseRecord, DocumentKind, DocumentNumber, IssuedDocument};
use fieldcase_server::AppState;
use fieldcase_server::storage::{DocWrite, Role};
use fieldcase_server::supervision::routes::issue_login_link;
use serde_json::json;
use sha2::Digest;

const HOST: &str = "127.0.0.1:8443";

async fn login(state: &AppState, user: &str) -> R<String> {
    let link = issue_login_link(state.storage.as_ref(), user, "http://x", 5).await?;
    let r = get(state, link.url.trim_start_matches("http://x"), None).await?;
    Ok(r.headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or("cookie")?
        .to_string())
}

/// A GET with the session cookie, as the browser sends it from the dashboard's pages.
async fn browse(state: &AppState, uri: &str, cookie: &str) -> R<Reply> {
    browse_with(state, uri, cookie, &[]).await
}

async fn browse_with(
    state: &AppState,
    uri: &str,
    cookie: &str,
    extra: &[(header::HeaderName, &str)],
) -> R<Reply> {
    let mut b = Request::get(uri)
        .header(header::COOKIE, cookie)
        .header(header::HOST, HOST);
    if !extra.iter().any(|(k, _)| k == header::REFERER) {
        b = b.header(header::REFERER, format!("http://{HOST}/dashboard"));
    }
    for (k, v) in extra {
        b = b.header(k, *v);
    }
    call(state, b.body(Body::empty())?).await
}

async fn post_form(state: &AppState, path: &str, cookie: &str, form: &str) -> R<Reply> {
    call(
        state,
        Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))?,
    )
    .await
}

async fn stored_case(state: &AppState, id: &str) -> R<CaseRecord> {
    crate::supervision::phone_free_case(state, id).await
}

fn entry(case: &CaseRecord, id: &str) -> R<fieldcase_core::evidence::EvidenceEntry> {
    let raw = case
        .evidence
        .iter()
        .find(|e| e["id"] == id)
        .ok_or("evidence entry")?;
    Ok(serde_json::from_value(raw.clone())?)
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_and_its_evidence_are_shown_only_within_the_viewers_units() -> R {
    let (_dir, state, seeded) = seeded().await?;
    fieldcase_server::admin::create_user(
        state.storage.as_ref(),
        "RV-2",
        "裕安审核员",
        Role::Reviewer,
        "luan/yuan",
    )
    .await?;
    let rv = login(&state, "RV-1").await?; // reviewer of luan
    let rv2 = login(&state, "RV-2").await?; // reviewer of luan/yuan
    let sv0 = login(&state, "SV-0").await?; // supervisor of luan
    let id = &seeded.major_a;
    let case = stored_case(&state, id).await?;
    let photo = entry(&case, &seeded.photo_id)?;
    let audio = entry(&case, &seeded.audio_id)?;
    let thumb = photo.thumbnail.clone().ok_or("thumbnail")?.sha256;
    let display = photo.display.clone().ok_or("display copy")?.sha256;
    let page_uri = format!("/dashboard/case/{id}");
    let file_uri = |sha: &str| format!("/dashboard/case/{id}/evidence/{sha}");

    // The reviewer of the city sees the case: facts, timeline, evidence, checks, the form.
    let page = browse(&state, &page_uri, &rv).await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let csp = page
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("img-src 'self'") && csp.contains("media-src 'self'"));
    let html = page.text();
    let catalogues = state.catalogues.set();
    let item = catalogues
        .get(&case.violation.catalogue_version)
        .ok_or("catalogue")?
        .item(&case.violation.code)?;
    for want in [
        item.name.zh.as_str(),
        "金安区一中队",
        "待法制审核",
        "王队员",
        "李**",
        "data-kind=\"occurred\"",
        "data-kind=\"action\"",
        "data-kind=\"step\"",
        "立案",
        "调查取证",
        "事先告知",
        "放弃听证",
        "data-kind=\"decision\"",
        "作出处罚决定：罚款",
        "<b id=\"review-outcome\">待审核</b>",
        &format!("<img class=\"evidence-thumb\" src=\"{}\"", file_uri(&thumb)),
        &format!("href=\"{}\"", file_uri(&display)),
        &format!(
            "<audio class=\"evidence-audio\" controls preload=\"metadata\" src=\"{}\"",
            file_uri(&audio.original.sha256)
        ),
        &photo.original.sha256,
        &audio.original.sha256,
        "<b id=\"verify-summary\" data-failed=\"0\">全部通过</b>",
        "action=\"/dashboard/review\"",
        "name=\"back\" value=\"case\"",
    ] {
        assert!(html.contains(want), "the case page lacks {want}");
    }
    assert_eq!(html.matches("<b class=\"signature\">有效</b>").count(), 2);
    assert_eq!(html.matches("type=\"checkbox\" name=\"pass_").count(), 6);
    assert!(
        !html.contains(" checked>"),
        "the reviewer ticks the checklist"
    );
    // The timeline is in time order.
    let occurred = html.find("data-kind=\"occurred\"").ok_or("occurred")?;
    let decided = html.find("data-kind=\"decision\"").ok_or("decision")?;
    assert!(occurred < decided);
    assert!(!html.contains("<script"));
    // Personal data stays sealed: names, identity and phone numbers (the place of the case,
    // which the canaries' address shares, is a fact the reviewer needs).
    for canary in crate::seed_demo::CANARIES
        .iter()
        .filter(|c| !c.contains("梅山中路"))
    {
        assert!(!html.contains(canary), "{canary} on the case page");
    }
    // Opened from a bookmark (no Referer) it is the same page.
    let direct = call(
        &state,
        Request::get(&page_uri)
            .header(header::COOKIE, &rv)
            .body(Body::empty())?,
    )
    .await?;
    assert_eq!(direct.status, StatusCode::OK);

    // Its files: the thumbnail and the display copy of the photo, the original recording.
    for (sha, ctype) in [
        (&thumb, "image/jpeg"),
        (&display, "image/jpeg"),
        (&audio.original.sha256, "audio/wav"),
    ] {
        let r = browse(&state, &file_uri(sha), &rv).await?;
        assert_eq!(r.status, StatusCode::OK, "{sha}");
        assert_eq!(
            r.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(ctype)
        );
        assert_eq!(&sha_hex(&r.body), sha, "the bytes are the evidence");
    }
    let part = browse_with(
        &state,
        &file_uri(&audio.original.sha256),
        &rv,
        &[(header::RANGE, "bytes=0-99")],
    )
    .await?;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body.len(), 100);
    assert_eq!(&part.body[..4], b"RIFF");

    // Not shown: the photo's unwatermarked original, a hash on no entry, the case's file asked
    // for through another case (by a supervisor who may read both), a malformed hash.
    let stranger = sha_hex(b"not evidence of this case");
    for (uri, who) in [
        (file_uri(&photo.original.sha256), &rv),
        (file_uri(&stranger), &rv),
        (
            format!("/dashboard/case/{}/evidence/{thumb}", seeded.yuan),
            &sv0,
        ),
        (file_uri("zz"), &rv),
    ] {
        let r = browse(&state, &uri, who).await?;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
    }

    // The reviewer of another unit: the case and its files do not exist for them, exactly as
    // a case that does not exist at all.
    let missing = browse(
        &state,
        &format!("/dashboard/case/{}", fieldcase_core::ids::new_id()),
        &rv2,
    )
    .await?;
    let outside = browse(&state, &page_uri, &rv2).await?;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (outside.status, outside.body),
        (missing.status, missing.body)
    );
    assert_eq!(
        browse(&state, "/dashboard/case/not-a-case", &rv2)
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    for sha in [&thumb, &audio.original.sha256] {
        assert_eq!(
            browse(&state, &file_uri(sha), &rv2).await?.status,
            StatusCode::NOT_FOUND
        );
    }
    // Their own unit's case is theirs to read.
    let own = browse(&state, &format!("/dashboard/case/{}", seeded.yuan), &rv2).await?;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.text().contains("裕安区城管局"));

    // A volunteer (no dashboard session exists for one; a device credential) is refused the
    // page and never gets a file; without a session, a login page.
    let vl = bearer(&state, "VL-1").await?;
    assert_eq!(
        get(&state, &page_uri, Some(&vl)).await?.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&state, &file_uri(&thumb), Some(&vl)).await?.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&state, &page_uri, None).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&state, &file_uri(&thumb), None).await?.status,
        StatusCode::UNAUTHORIZED
    );
    // A file request from another site's page is refused (its Referer is not this server).
    let cross = browse_with(
        &state,
        &file_uri(&thumb),
        &rv,
        &[(header::REFERER, "http://evil.example/")],
    )
    .await?;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);

    // A supervisor of the city sees the case without the review form.
    let sv_html = browse(&state, &page_uri, &sv0).await?.text();
    assert!(sv_html.contains("案件详情") && !sv_html.contains("/dashboard/review"));

    // The dashboard's review queue links each row to its case page.
    let dash = browse(&state, "/dashboard", &rv).await?.text();
    assert!(dash.contains(&format!("<a class=\"case\" href=\"/dashboard/case/{id}\">")));

    // Every page view and file read is audited, refusals too, without personal data.
    let audit = state.storage.audit_entries().await?;
    let count = |action: &str, actor: &str| {
        audit
            .iter()
            .filter(|e| e.event.action == action && e.event.actor == actor)
            .count()
    };
    assert!(count("blob_read", "RV-1") >= 4);
    assert!(count("blob_read_refused", "RV-2") >= 2);
    assert!(
        audit
            .iter()
            .any(|e| e.event.action == "view" && e.event.case_id.as_deref() == Some(id.as_str()))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_and_the_approval_are_made_from_the_case_page() -> R {
    let (_dir, state, seeded) = seeded().await?;
    let id = &seeded.major_a;
    let rv = login(&state, "RV-1").await?;
    let page_uri = format!("/dashboard/case/{id}");
    let html = browse(&state, &page_uri, &rv).await?.text();
    let decision = stored_case(&state, id)
        .await?
        .decision
        .ok_or("decision")?
        .id;
    assert!(html.contains(&format!("name=\"decision_id\" value=\"{decision}\"")));
    // An approval with a point left unticked is refused; the decision stays pending.
    let mut form = format!(
        "case_id={id}&decision_id={decision}&back=case&outcome=approved&opinion=%E4%BA%8B%E5%AE%9E%E6%B8%85%E6%A5%9A"
    );
    for p in ["subject", "facts", "evidence", "basis", "discretion"] {
        form.push_str(&format!("&pass_{p}=on"));
    }
    let refused = post_form(&state, "/dashboard/review", &rv, &form).await?;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    form.push_str("&pass_procedure=on");
    let r = post_form(&state, "/dashboard/review", &rv, &form).await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        r.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(page_uri.as_str())
    );
    let html = browse(&state, &page_uri, &rv).await?.text();
    for want in [
        "<b id=\"review-outcome\">批准</b>",
        "待负责人批准",
        "data-kind=\"review\"",
        "法制审核：批准",
        "审核签名",
    ] {
        assert!(
            html.contains(want),
            "after the review the page lacks {want}"
        );
    }
    assert!(
        !html.contains("action=\"/dashboard/review\""),
        "reviewed once"
    );
    assert!(
        html.contains("data-failed=\"0\""),
        "the review's signature holds"
    );

    // The head of the bureau approves from the same page.
    let sv = login(&state, "SV-1").await?;
    let html = browse(&state, &page_uri, &sv).await?.text();
    assert!(html.contains("action=\"/dashboard/approve\""));
    let r = post_form(
        &state,
        "/dashboard/approve",
        &sv,
        &format!("case_id={id}&decision_id={decision}&back=case"),
    )
    .await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let html = browse(&state, &page_uri, &sv).await?.text();
    assert!(html.contains("决定已生效") && html.contains("负责人批准"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redacted_evidence_is_neither_shown_nor_served() -> R {
    let (dir, state, seeded) = seeded().await?;
    let id = &seeded.major_a;
    let hidden = {
        let phone = fieldcase_core::FieldStore::open(
            &seeded.phone1,
            fieldcase_core::StoreConfig::insecure_plain_for_tests(seeded.device1.as_str()),
        )?;
        let file = dir.path().join("bystander.jpg");
        std::fs::write(&file, crate::seed_demo::demo_jpeg(320, 240)?)?;
        let e = phone.add_photo(
            id,
            &file,
            fieldcase_core::evidence::CaptureInfo {
                officer: "OF-1".into(),
                device_time_ms: seeded.now_ms - 1_000,
                monotonic_ms: 5,
                place: None,
                note: None,
            },
        )?;
        phone.redact_evidence(id, &e.id, "OF-1", "拍到无关路人", seeded.now_ms)?;
        e
    };
    crate::supervision::sync_phone(&state, &seeded.phone1, &seeded.device1).await?;
    let rv = login(&state, "RV-1").await?;
    let html = browse(&state, &format!("/dashboard/case/{id}"), &rv)
        .await?
        .text();
    assert!(html.contains("另有 1 项证据已屏蔽"));
    let thumb = hidden.thumbnail.ok_or("thumbnail")?.sha256;
    assert!(!html.contains(&thumb) && !html.contains(&hidden.original.sha256));
    assert_eq!(html.matches("<figure class=\"evidence\"").count(), 2);
    assert!(html.contains("屏蔽记录"), "the redaction is checked");
    let r = browse(
        &state,
        &format!("/dashboard/case/{id}/evidence/{thumb}"),
        &rv,
    )
    .await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    Ok(())
}

/// Writes `docs` as the case's issued documents straight into storage (what a phone's
/// issuing will do through sync).
async fn write_documents(state: &AppState, case_id: &str, docs: &[IssuedDocument]) -> R {
    let stored = state.storage.load_doc(case_id).await?.ok_or("case")?;
    let mut doc = automerge::AutoCommit::load(&stored.bytes)?;
    let case: CaseRecord = fieldcase_core::doc::read(&doc, case_id)?;
    let before = doc.get_heads();
    fieldcase_core::doc::put(
        &mut doc,
        &automerge::ROOT,
        "documents",
        &serde_json::to_value(docs)?,
    )?;
    doc.commit();
    let after = doc.get_heads();
    state
        .storage
        .write_doc(DocWrite {
            doc_id: case_id.into(),
            kind: fieldcase_core::model::RecordKind::Case,
            unit: stored.unit.clone(),
            party_hash: case.party.map(|p| p.match_hash),
            expected_heads: Some(stored.heads.clone()),
            new_heads: after.iter().flat_map(|h| h.0).collect(),
            chunk: doc.save_after(&before),
            replace: false,
            blob_refs: vec![],
            numbers: vec![],
        })
        .await?;
    Ok(())
}

fn issued(kind: DocumentKind, seq: i64, at: i64, replaces: Option<&str>) -> IssuedDocument {
    let mut d = IssuedDocument {
        id: fieldcase_core::ids::new_id(),
        kind,
        number: Some(DocumentNumber {
            series: "罚".into(),
            year: 2026,
            seq,
            text: format!("六城管罚〔2026〕{seq}号"),
        }),
        issued_at_ms: at,
        issued_by: "OF-1".into(),
        issued_on_device: "d1".into(),
        catalogue_version: "x".into(),
        decision_id: None,
        replaces: replaces.map(String::from),
        serves: None,
        fields: Default::default(),
        party_sha256: None,
        sha256: String::new(),
    };
    d.sha256 = d.compute_sha256();
    d
}

fn is_uuid_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disclosure_is_paged_and_names_units_and_document_numbers() -> R {
    let (_dir, state, seeded) = seeded().await?;
    // Three decisions published: the two small ones and the major one once reviewed and
    // approved; the returned one and the minor's never.
    let rv = bearer(&state, "RV-1").await?;
    let sv = bearer(&state, "SV-1").await?;
    let major = stored_case(&state, &seeded.major_a).await?;
    let dec = major.decision.ok_or("decision")?.id;
    let pass = json!({"passed": true});
    let r = post_json(
        &state,
        "/v1/reviews",
        &rv,
        json!({"case_id": seeded.major_a, "decision_id": dec, "outcome": "approved", "opinion": "同意",
               "checklist": {"subject": pass, "facts": pass, "evidence": pass, "basis": pass, "discretion": pass, "procedure": pass}}),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = post_json(
        &state,
        "/v1/approvals",
        &sv,
        json!({"case_id": seeded.major_a, "decision_id": dec}),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The small case's decision document was corrected: the correction's number is shown;
    // a later prior notice is no decision document.
    let small = stored_case(&state, &seeded.small).await?;
    let at = small.decision.as_ref().ok_or("decision")?.decided_at_ms;
    let first = issued(DocumentKind::OnTheSpotDecision, 11, at, None);
    let fixed = issued(
        DocumentKind::OnTheSpotDecision,
        12,
        at + 60_000,
        Some(&first.id),
    );
    let notice = issued(DocumentKind::PriorNotice, 13, at + 120_000, None);
    write_documents(&state, &seeded.small, &[first, fixed, notice]).await?;

    let page = |q: &'static str| {
        let state = state.clone();
        async move {
            get(&state, &format!("/v1/disclosure{q}"), None)
                .await?
                .json()
        }
    };
    let all = page("").await?;
    assert_eq!(
        (&all["page"], &all["per_page"], &all["total"], &all["pages"]),
        (&json!(1), &json!(50), &json!(3), &json!(1))
    );
    let p1 = page("?per_page=2").await?;
    let p2 = page("?per_page=2&page=2").await?;
    let p3 = page("?per_page=2&page=3").await?;
    assert_eq!((&p1["total"], &p1["pages"]), (&json!(3), &json!(2)));
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["decision_id"].as_str().map(String::from))
            .collect()
    };
    assert_eq!((ids(&p1).len(), ids(&p2).len(), ids(&p3).len()), (2, 1, 0));
    assert_eq!(p3["total"], 3);
    let mut paged: Vec<String> = ids(&p1).into_iter().chain(ids(&p2)).collect();
    paged.sort();
    let mut whole = ids(&all);
    whole.sort();
    assert_eq!(paged, whole, "the pages together are the feed");
    assert!(whole.contains(&dec));
    assert_eq!(page("?per_page=500").await?["per_page"], 200);
    for q in [
        "?page=0",
        "?page=x&per_page=y",
        "?page=-1",
        "?unit=luan&pii=1",
    ] {
        let p = page(q).await?;
        assert_eq!((&p["page"], &p["per_page"]), (&json!(1), &json!(50)), "{q}");
    }
    let entries = all["entries"].as_array().ok_or("entries")?;
    let by_unit = |unit: &'static str| entries.iter().filter(move |e| e["unit"] == unit);
    for e in by_unit("luan/jinan/squad-1") {
        assert_eq!(e["unit_name"], "金安区一中队");
        let ms = e["decided_at_ms"].as_i64().ok_or("ms")?;
        assert_eq!(e["decided_day"], fieldcase_core::store::china_day(ms));
    }
    assert!(by_unit("luan/yuan").all(|e| e["unit_name"] == "裕安区城管局"));
    let small_dec = small.decision.as_ref().ok_or("decision")?.id.clone();
    let small_entry = entries
        .iter()
        .find(|e| e["decision_id"] == small_dec.as_str())
        .ok_or("small")?;
    assert_eq!(small_entry["document_number"], "六城管罚〔2026〕12号");
    assert!(
        entries
            .iter()
            .filter(|e| e["decision_id"] != small_dec.as_str())
            .all(|e| e["document_number"].is_null())
    );

    // The HTML pages: unit names, the number, links between pages, the total; no record id.
    let html1 = get(&state, "/disclosure?per_page=2", None).await?.text();
    let html2 = get(&state, "/disclosure?per_page=2&page=2", None)
        .await?
        .text();
    assert!(html1.contains("<b id=\"total\">3</b>") && html2.contains("<b id=\"total\">3</b>"));
    assert!(html1.contains("rel=\"next\" href=\"/disclosure?page=2&amp;per_page=2\""));
    assert!(!html1.contains("rel=\"prev\""));
    assert!(html2.contains("rel=\"prev\" href=\"/disclosure?page=1&amp;per_page=2\""));
    assert!(!html2.contains("rel=\"next\""));
    let both = format!("{html1}{html2}");
    assert!(both.contains("金安区一中队") && both.contains("裕安区城管局"));
    assert!(both.contains("六城管罚〔2026〕12号") && !both.contains("六城管罚〔2026〕11号"));
    assert_eq!(both.matches("<tr><td>").count(), 3);
    for word in both.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')) {
        assert!(
            !is_uuid_like(word),
            "a record id on the public page: {word}"
        );
    }
    assert_no_canary("the disclosure pages", &both);
    Ok(())
}
