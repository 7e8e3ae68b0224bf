//! The supervision routes over real storage and records synced by real phones: access by role
//! and unit, statistics against a recount from the documents, server-signed legal review
//! reaching the officer's phone, reports (XLSX read back, CSV, JSON) and the dashboard agreeing
//! with the statistics, follow-up queues, and a public disclosure without personal data.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fieldcase_core::catalogue::MeasureCategory;
use fieldcase_core::model::{CaseStatus, ReviewOutcome};
use fieldcase_core::stats::{Stats, StatsScope, compute};
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{FieldStore, StoreConfig};

use crate::seed_demo::{CANARIES, Seeded, seed};
use fieldcase_server::supervision::routes::issue_login_link;
use fieldcase_server::{AppState, Listen, admin, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::io::Read;
use tower::ServiceExt;

pub(crate) type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> R<Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) async fn call(state: &AppState, req: Request<Body>) -> R<Reply> {
    let resp = router(state.clone()).oneshot(req).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub(crate) async fn get(state: &AppState, uri: &str, bearer: Option<&str>) -> R<Reply> {
    let mut b = Request::get(uri);
    if let Some(t) = bearer {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    call(state, b.body(Body::empty())?).await
}

pub(crate) async fn post_json(state: &AppState, path: &str, bearer: &str, body: Value) -> R<Reply> {
    call(
        state,
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .body(Body::from(body.to_string()))?,
    )
    .await
}

async fn post_review(state: &AppState, bearer: &str, body: Value) -> R<Reply> {
    call(
        state,
        Request::post("/v1/reviews")
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .body(Body::from(body.to_string()))?,
    )
    .await
}

/// A device credential for `user`, through the enrolment route.
pub(crate) async fn bearer(state: &AppState, user: &str) -> R<String> {
    let code = admin::create_code(state.storage.as_ref(), user, 1, None, None)
        .await?
        .code;
    let body = json!({"code": code, "device_public_key": "cd".repeat(32), "device_label": user});
    let r = call(
        state,
        Request::post("/v1/enrol").body(Body::from(body.to_string()))?,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK);
    Ok(r.json()?["credential"]
        .as_str()
        .ok_or("credential")?
        .to_string())
}

fn enforcement(s: &Stats) -> i64 {
    s.measures
        .iter()
        .find(|m| m.category == MeasureCategory::Enforcement)
        .map_or(0, |m| m.count)
}

/// The statistics recomputed from the records a phone holds after syncing.
fn recount(phone: &std::path::Path, device: &str, unit: &str) -> R<Stats> {
    let store = FieldStore::open(phone, StoreConfig::insecure_plain_for_tests(device))?;
    let scope = StatsScope {
        unit: Some(unit.into()),
        from_ms: None,
        to_ms: None,
    };
    let (cases, demos) = store.records_in_scope(&scope)?;
    Ok(compute(&scope, &cases, &demos))
}

/// Cells of the first worksheet of an XLSX file: (row, column) -> text or number.
fn xlsx_cells(bytes: &[u8]) -> R<std::collections::BTreeMap<(u32, u32), String>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    let mut read = |name: &str| -> R<String> {
        let mut s = String::new();
        zip.by_name(name)?.read_to_string(&mut s)?;
        Ok(s)
    };
    let shared_xml = read("xl/sharedStrings.xml").unwrap_or_default();
    let sheet = read("xl/worksheets/sheet1.xml")?;
    let unescape = |s: &str| {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    };
    let shared: Vec<String> = shared_xml
        .split("<si>")
        .skip(1)
        .map(|si| {
            si.split("<t")
                .skip(1)
                .filter_map(|t| t.split_once('>').map(|(_, rest)| rest))
                .filter_map(|t| t.split_once("</t>").map(|(v, _)| unescape(v)))
                .collect::<String>()
        })
        .collect();
    let mut cells = std::collections::BTreeMap::new();
    for c in sheet.split("<c ").skip(1) {
        let Some((attrs, rest)) = c.split_once('>') else {
            continue;
        };
        let attr = |name: &str| {
            attrs
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(String::from)
        };
        let Some(r) = attr("r") else { continue };
        let col_letters: String = r.chars().take_while(|c| c.is_ascii_uppercase()).collect();
        let row: u32 = r[col_letters.len()..].parse()?;
        let col = col_letters
            .chars()
            .fold(0u32, |acc, ch| acc * 26 + (ch as u32 - 'A' as u32 + 1))
            - 1;
        let Some(v) = rest
            .split_once("<v>")
            .and_then(|(_, v)| v.split_once("</v>"))
            .map(|(v, _)| v.to_string())
        else {
            continue;
        };
        let text = if attr("t").as_deref() == Some("s") {
            shared.get(v.parse::<usize>()?).cloned().unwrap_or_default()
        } else {
            v
        };
        cells.insert((row - 1, col), text);
    }
    Ok(cells)
}

pub(crate) fn assert_no_canary(what: &str, text: &str) {
    for c in CANARIES {
        assert!(!text.contains(c), "{c} appears in {what}");
    }
}

pub(crate) async fn sync_phone(
    state: &AppState,
    phone: &std::path::Path,
    device: &str,
) -> R<FieldStore> {
    let server = fieldcase_server::start(
        state.clone(),
        Listen {
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let client = SyncClient::new(ClientConfig::new(format!("http://{}", server.addr)))?;
    let store = FieldStore::open(phone, StoreConfig::insecure_plain_for_tests(device))?;
    let report = client.sync(&store).await?;
    assert_eq!(report.rejected, 0);
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(store)
}

/// A case as the server holds it (no phone involved).
pub(crate) async fn phone_free_case(
    state: &AppState,
    id: &str,
) -> R<fieldcase_core::model::CaseRecord> {
    let stored = state.storage.load_doc(id).await?.ok_or("stored case")?;
    let doc = automerge::AutoCommit::load(&stored.bytes)?;
    Ok(fieldcase_core::doc::read(&doc, id)?)
}

pub(crate) async fn seeded() -> R<(tempfile::TempDir, AppState, Seeded)> {
    let dir = tempfile::tempdir()?;
    let state = AppState::open_dir(&dir.path().join("data")).await?;
    let phones = dir.path().join("phones");
    std::fs::create_dir_all(&phones)?;
    let s = seed(state.clone(), &phones).await?;
    Ok((dir, state, s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_reviews_reports_dashboard_and_disclosure_agree() -> R {
    let (_dir, state, seeded) = seeded().await?;
    scenario(state, seeded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_on_postgres() -> R {
    let url = std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let dir = tempfile::tempdir()?;
    let storage = fieldcase_server::storage::postgres::PostgresStorage::connect_fresh(&url).await?;
    let state = AppState::new(
        std::sync::Arc::new(storage),
        &fieldcase_server::keys::KeySource::dir(dir.path().join("keys")),
        dir.path().join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    let phones = dir.path().join("phones");
    std::fs::create_dir_all(&phones)?;
    let seeded = seed(state.clone(), &phones).await?;
    scenario(state, seeded).await
}

async fn scenario(state: AppState, seeded: Seeded) -> R {
    let sv = bearer(&state, "SV-1").await?; // supervisor of luan/jinan
    let rv = bearer(&state, "RV-1").await?; // reviewer of luan
    let of = bearer(&state, "OF-1").await?; // officer of luan/jinan/squad-1
    let vl = bearer(&state, "VL-1").await?; // volunteer

    // Access: no credential, a volunteer, an officer asking for a report, a unit outside the
    // caller's subtree, unknown query parameters and bad dates.
    assert_eq!(
        get(&state, "/v1/stats", None).await?.status,
        StatusCode::UNAUTHORIZED
    );
    for uri in [
        "/v1/stats",
        "/v1/reports",
        "/v1/reviews/queue",
        "/v1/follow-ups",
    ] {
        assert_eq!(
            get(&state, uri, Some(&vl)).await?.status,
            StatusCode::FORBIDDEN,
            "{uri}"
        );
    }
    assert_eq!(
        get(&state, "/v1/reports?format=csv", Some(&of))
            .await?
            .status,
        StatusCode::FORBIDDEN
    );
    for unit in ["luan/yuan", "luan", "luan/jinanx"] {
        let r = get(&state, &format!("/v1/stats?unit={unit}"), Some(&sv)).await?;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{unit}");
    }
    for uri in [
        "/v1/stats?from=2026-02-30",
        "/v1/stats?from=2026-11-02&to=2026-11-01",
        "/v1/stats?pii=1",
        "/v1/reports?format=pdf",
    ] {
        let r = get(&state, uri, Some(&sv)).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.json()?["error"], "bad_request");
    }

    // Statistics before review: the two major decisions are not in effect.
    let squad = "luan/jinan/squad-1";
    let before: Stats = get(&state, "/v1/stats", Some(&sv))
        .await?
        .json()
        .map(serde_json::from_value)??;
    assert_eq!(before.cases, 5);
    assert_eq!(before.decisions_pending_review, 2);
    assert_eq!(before.decisions_effective, 2);
    assert_eq!(
        enforcement(&before),
        2,
        "unapproved penalties are no measure"
    );
    assert_eq!(before.exemptions_granted, 1);
    assert_eq!(before.demonstrations, 1);
    assert_eq!(before.people_persuaded, 12);
    assert_eq!(before.repeat_by_place.count, 1);
    let mut recounted = recount(&seeded.phone1, &seeded.device1, "luan/jinan")?;
    recounted.scope = before.scope.clone();
    assert_eq!(
        serde_json::to_value(&before)?,
        serde_json::to_value(&recounted)?
    );

    // The review queue of the reviewer holds both major decisions, oldest first.
    let queue = get(&state, "/v1/reviews/queue", Some(&rv)).await?.json()?;
    let pending: Vec<&str> = queue["pending"]
        .as_array()
        .ok_or("pending")?
        .iter()
        .filter_map(|r| r["case_id"].as_str())
        .collect();
    assert_eq!(
        pending,
        vec![seeded.major_a.as_str(), seeded.major_b.as_str()]
    );
    let decision_of = |i: usize| -> R<String> {
        Ok(queue["pending"][i]["decision_id"]
            .as_str()
            .ok_or("decision id")?
            .to_string())
    };
    let (dec_a, dec_b) = (decision_of(0)?, decision_of(1)?);

    // Reviews: officers and supervisors may not; bad requests change nothing.
    let pass = json!({"passed": true});
    let all_passed = json!({"subject": pass, "facts": pass, "evidence": pass, "basis": pass, "discretion": pass, "procedure": pass});
    let approve = json!({"case_id": seeded.major_a, "decision_id": dec_a, "outcome": "approved", "opinion": "事实清楚，证据充分，裁量适当。", "checklist": all_passed});
    // Without the checklist, or approving with a point not passed: refused.
    let mut bare = approve.clone();
    bare.as_object_mut().ok_or("object")?.remove("checklist");
    assert_eq!(
        post_review(&state, &rv, bare).await?.status,
        StatusCode::BAD_REQUEST
    );
    let mut failed_point = approve.clone();
    failed_point["checklist"]["evidence"] = json!({"passed": false, "note": "缺少现场照片"});
    assert_eq!(
        post_review(&state, &rv, failed_point).await?.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_review(&state, &of, approve.clone()).await?.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_review(&state, &sv, approve.clone()).await?.status,
        StatusCode::FORBIDDEN
    );
    let mut empty = approve.clone();
    empty["opinion"] = json!("   ");
    assert_eq!(
        post_review(&state, &rv, empty).await?.status,
        StatusCode::BAD_REQUEST
    );
    let mut extra = approve.clone();
    extra["reviewer"] = json!("someone-else");
    assert_eq!(
        post_review(&state, &rv, extra).await?.status,
        StatusCode::BAD_REQUEST
    );
    let mut stale = approve.clone();
    stale["decision_id"] = json!(dec_b);
    assert_eq!(
        post_review(&state, &rv, stale).await?.status,
        StatusCode::CONFLICT
    );
    let mut unknown = approve.clone();
    unknown["case_id"] = json!(fieldcase_core::ids::new_id());
    assert_eq!(
        post_review(&state, &rv, unknown).await?.status,
        StatusCode::NOT_FOUND
    );
    let mut small = approve.clone();
    small["case_id"] = json!(seeded.small);
    assert_eq!(
        post_review(&state, &rv, small).await?.status,
        StatusCode::CONFLICT
    );
    let r = post_review(&state, &rv, approve.clone()).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let signed_a: fieldcase_core::model::Review = serde_json::from_slice(&r.body)?;
    assert_eq!(
        signed_a.signed_by_key.as_deref(),
        Some(hex::encode(state.signing_key.verifying_key().as_bytes()).as_str())
    );
    let stored_a = phone_free_case(&state, &seeded.major_a).await?;
    let decision_a = stored_a.decision.clone().ok_or("decision")?;
    assert_eq!(
        fieldcase_core::evidence::records::check_review(&seeded.major_a, &decision_a, &signed_a),
        Some(true)
    );
    let mut tampered = signed_a.clone();
    tampered.opinion.push('！');
    assert_eq!(
        fieldcase_core::evidence::records::check_review(&seeded.major_a, &decision_a, &tampered),
        Some(false)
    );
    assert_eq!(
        post_review(&state, &rv, approve).await?.status,
        StatusCode::CONFLICT,
        "reviewed once"
    );
    let opinion_b = "证据不足，请补充现场照片后重新决定。";
    let r = post_review(
        &state,
        &rv,
        json!({"case_id": seeded.major_b, "decision_id": dec_b, "outcome": "returned", "opinion": opinion_b,
               "checklist": {"subject": pass, "facts": pass, "evidence": {"passed": false, "note": "缺少现场照片"}, "basis": pass, "discretion": pass, "procedure": pass}}),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // Reviewed, the ordinary-procedure decision awaits the head's approval (负责人批准):
    // not the reviewer's, not an officer's, and only for the decision in force.
    let approval = json!({"case_id": seeded.major_a, "decision_id": dec_a});
    for (who, want) in [(&rv, StatusCode::FORBIDDEN), (&of, StatusCode::FORBIDDEN)] {
        assert_eq!(
            post_json(&state, "/v1/approvals", who, approval.clone())
                .await?
                .status,
            want
        );
    }
    let returned = json!({"case_id": seeded.major_b, "decision_id": dec_b});
    assert_ne!(
        post_json(&state, "/v1/approvals", &sv, returned)
            .await?
            .status,
        StatusCode::OK,
        "a returned decision is not approved"
    );
    let r = post_json(&state, "/v1/approvals", &sv, approval.clone()).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        post_json(&state, "/v1/approvals", &sv, approval)
            .await?
            .status,
        StatusCode::CONFLICT,
        "approved once"
    );

    // The reviews and the approval reach the officer's phone like any other change.
    let phone = sync_phone(&state, &seeded.phone1, &seeded.device1).await?;
    let a = phone.case(&seeded.major_a)?;
    assert_eq!(a.status(), CaseStatus::Decided);
    let b = phone.case(&seeded.major_b)?;
    assert_eq!(b.status(), CaseStatus::Returned);
    let rb = b
        .decision
        .as_ref()
        .and_then(|d| d.review.as_ref())
        .ok_or("review")?;
    assert_eq!(
        (rb.outcome, rb.opinion.as_str(), rb.reviewer.as_str()),
        (ReviewOutcome::Returned, opinion_b, "RV-1")
    );
    drop(phone);
    let queue = get(&state, "/v1/reviews/queue", Some(&of)).await?.json()?;
    assert_eq!(queue["pending"].as_array().map(Vec::len), Some(0));
    assert_eq!(queue["returned"][0]["opinion"], opinion_b);

    // Statistics after review, against the recount from the phone's synced documents.
    let after: Stats = serde_json::from_value(get(&state, "/v1/stats", Some(&sv)).await?.json()?)?;
    assert_eq!(after.decisions_pending_review, 0);
    assert_eq!(after.decisions_effective, 3);
    assert_eq!(after.decisions_returned, 1);
    assert_eq!(enforcement(&after), 3);
    let mut recounted = recount(&seeded.phone1, &seeded.device1, "luan/jinan")?;
    recounted.scope = after.scope.clone();
    assert_eq!(
        serde_json::to_value(&after)?,
        serde_json::to_value(&recounted)?
    );
    let squad_stats: Stats = serde_json::from_value(
        get(&state, &format!("/v1/stats?unit={squad}"), Some(&sv))
            .await?
            .json()?,
    )?;
    assert_eq!(squad_stats.cases, after.cases);

    // Reports: XLSX read back, CSV and JSON, all equal to the statistics.
    let r = get(&state, "/v1/reports?format=xlsx", Some(&sv)).await?;
    assert_eq!(r.status, StatusCode::OK);
    let cells = xlsx_cells(&r.body)?;
    let headers = fieldcase_server::supervision::report::HEADERS;
    let col = |name: &str| headers.iter().position(|h| *h == name).map(|c| c as u32);
    assert_eq!(cells.get(&(2, 0)).map(String::as_str), Some("单位"));
    let total_row = cells
        .iter()
        .find(|(_, v)| v.starts_with("合计"))
        .map(|((r, _), _)| *r)
        .ok_or("total row")?;
    for (name, want) in [
        ("案件数", after.cases),
        ("执法类措施", enforcement(&after)),
        ("生效处罚决定数", after.decisions_effective),
        ("待法制审核决定数", after.decisions_pending_review),
        ("法制审核退回数", after.decisions_returned),
        ("劝导人数", after.people_persuaded),
        ("免罚数", after.exemptions_granted),
    ] {
        let c = col(name).ok_or(name)?;
        let got: f64 = cells.get(&(total_row, c)).ok_or(name)?.parse()?;
        assert_eq!(got as i64, want, "{name}");
    }
    let csv = get(&state, "/v1/reports?format=csv", Some(&sv))
        .await?
        .text();
    let total_line = csv
        .lines()
        .find(|l| l.starts_with("合计"))
        .ok_or("csv total")?;
    let fields: Vec<&str> = total_line.split(',').collect();
    assert_eq!(fields[1], after.cases.to_string());
    let json_report = get(&state, "/v1/reports?format=json", Some(&sv))
        .await?
        .json()?;
    assert_eq!(json_report["total"]["cases"], after.cases);
    for out in [&csv, &json_report.to_string()] {
        assert_no_canary("a report", out);
    }

    // Follow-ups of the squad: the lapsed pledge is escalated, its follow-up overdue, the
    // other follow-up due.
    let fu = get(
        &state,
        &format!("/v1/follow-ups?at={}", seeded.now_ms),
        Some(&of),
    )
    .await?
    .json()?;
    let q = &fu["squads"][0];
    assert_eq!(q["unit"], squad);
    assert_eq!(q["escalated"][0]["case_id"], seeded.lapsed.as_str());
    assert_eq!(q["escalated"][0]["days_overdue"], 17);
    // Every pledge now schedules its visit at the deadline, so other pledged cases of the
    // seed are overdue too; the lapsed one is among them.
    let overdue: Vec<&str> = q["overdue"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["case_id"].as_str()).collect())
        .unwrap_or_default();
    assert!(overdue.contains(&seeded.lapsed.as_str()), "{overdue:?}");
    assert_eq!(q["due"][0]["case_id"], seeded.small.as_str());
    assert_eq!(fu["squads"].as_array().map(Vec::len), Some(1));

    // The dashboard: a one-time link sets a session cookie; the page shows the same numbers.
    assert_eq!(
        get(&state, "/dashboard", None).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        issue_login_link(state.storage.as_ref(), "OF-1", "http://x", 5)
            .await
            .is_err(),
        "officers get no dashboard link"
    );
    let link = issue_login_link(state.storage.as_ref(), "SV-1", "http://x", 5).await?;
    let path = link.url.trim_start_matches("http://x");
    let r = get(&state, path, None).await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let set_cookie = r
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .ok_or("cookie")?
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert_eq!(
        get(&state, path, None).await?.status,
        StatusCode::FORBIDDEN,
        "single use"
    );
    let cookie = set_cookie.split(';').next().ok_or("cookie")?.to_string();
    let page = call(
        &state,
        Request::get("/dashboard")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())?,
    )
    .await?;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("柔性执法监督看板"));
    assert!(html.contains(&format!("<b id=\"cases\">{}</b>", after.cases)));
    assert!(html.contains(&format!(
        "<b id=\"persuaded\">{}</b>",
        after.people_persuaded
    )));
    assert!(html.contains("法制审核队列（0）"));
    assert!(
        html.contains("负责人批准（0）"),
        "the approved decision left the approval queue"
    );
    // The lapsed case's visit and the visits its pledges scheduled are overdue.
    assert!(html.contains("逾期回访（") && !html.contains("逾期回访（0）"));
    assert!(html.contains(&seeded.lapsed));
    assert!(!html.contains("<script"));
    assert_no_canary("the dashboard", &html);
    let trend_total: i64 = html
        .split("data-count=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter_map(|n| n.parse::<i64>().ok())
        .sum();
    let actions_total: i64 = after.measures.iter().map(|m| m.count).sum();
    assert_eq!(trend_total, actions_total, "the weekly bars add up");
    // A logout from another site is refused (the session stays); from the page, it ends.
    let cross = call(
        &state,
        Request::post("/logout")
            .header(header::COOKIE, &cookie)
            .header(header::HOST, "x")
            .header(header::ORIGIN, "http://evil.example")
            .body(Body::empty())?,
    )
    .await?;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let logout = call(
        &state,
        Request::post("/logout")
            .header(header::COOKIE, &cookie)
            .header(header::HOST, "x")
            .header(header::ORIGIN, "http://x")
            .body(Body::empty())?,
    )
    .await?;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    let gone = call(
        &state,
        Request::get("/dashboard")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())?,
    )
    .await?;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);

    // Public disclosure: no login; the approved major decision and the effective small ones;
    // never the returned one or the minor's case; no personal data whatever the query.
    let feed = get(&state, "/v1/disclosure", None).await?;
    assert_eq!(feed.status, StatusCode::OK);
    let entries = feed.json()?["entries"].clone();
    let published: std::collections::BTreeSet<String> = entries
        .as_array()
        .ok_or("entries")?
        .iter()
        .filter_map(|e| e["decision_id"].as_str().map(String::from))
        .collect();
    assert_eq!(published.len(), 3, "small, approved major, yuan");
    assert!(published.contains(&dec_a));
    assert!(!published.contains(&dec_b));
    let parties: Vec<&str> = entries
        .as_array()
        .ok_or("entries")?
        .iter()
        .filter_map(|e| e["party"].as_str())
        .collect();
    assert!(
        parties
            .iter()
            .all(|p| p.chars().count() == 3 && p.ends_with("**"))
    );
    for uri in [
        "/disclosure",
        "/v1/disclosure",
        "/disclosure?unit=luan&pii=1&party_id=x",
        "/v1/disclosure?include=pii",
    ] {
        let r = get(&state, uri, None).await?;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_no_canary(uri, &r.text());
        assert!(!r.text().contains(&seeded.minor));
    }

    // A decision whose case is reopened is withdrawn from the feed (a new version, audited).
    {
        let phone = FieldStore::open(
            &seeded.phone1,
            StoreConfig::insecure_plain_for_tests(seeded.device1.as_str()),
        )?;
        let small = phone.case(&seeded.small)?;
        let dec_small = small.decision.as_ref().ok_or("decision")?.id.clone();
        assert!(published.contains(&dec_small));
        let at = fieldcase_core::ids::now_ms();
        crate::lawful::serve_and_execute(&phone, &seeded.small, "OF-1", at - 10)?;
        phone.close_case(&seeded.small, "OF-1", at, "已缴纳罚款")?;
        phone.reopen_case(&seeded.small, "OF-1", at + 1, "当事人申请复议，决定变更")?;
    }
    sync_phone(&state, &seeded.phone1, &seeded.device1).await?;
    let entries = get(&state, "/v1/disclosure", None).await?.json()?["entries"].clone();
    let now_published: Vec<&str> = entries
        .as_array()
        .ok_or("entries")?
        .iter()
        .filter_map(|e| e["decision_id"].as_str())
        .collect();
    assert_eq!(
        now_published.len(),
        2,
        "the reopened case's decision is withdrawn"
    );

    // The audit chain: every view, export, review, login and publication, verifiable, and
    // without personal data; an unchanged feed is published (audited) once.
    let entries = state.storage.audit_entries().await?;
    let head = state.storage.audit_head().await?;
    fieldcase_server::audit::verify(&entries, head.as_ref(), &state.signing_key.verifying_key())?;
    let count = |action: &str| entries.iter().filter(|e| e.event.action == action).count();
    assert_eq!(count("review"), 2);
    assert_eq!(
        count("disclosure"),
        2,
        "the first feed and the one after the withdrawal"
    );
    assert_eq!(count("login"), 1);
    assert!(count("export") >= 3);
    for e in &entries {
        assert_no_canary("the audit log", &format!("{:?}", e.event));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_report_and_stats_from_the_cli() -> R {
    const BIN: &str = env!("CARGO_BIN_EXE_fieldcase-server");
    let (dir, state, _seeded) = seeded().await?;
    let data = dir.path().join("data");
    let run = |args: &[&str]| -> R<std::process::Output> {
        Ok(std::process::Command::new(BIN)
            .arg("admin")
            .arg("--data")
            .arg(&data)
            .args(args)
            .env_remove("FIELDCASE_DATABASE_URL")
            .output()?)
    };
    let out = run(&["--json", "stats"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let city: Stats = serde_json::from_slice(&out.stdout)?;
    assert_eq!(city.cases, 6);
    assert_eq!(city.scope.unit, None);
    let out = run(&["stats", "--unit", "luan/yuan"])?;
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains("案件数：1"), "{text}");

    let xlsx = dir.path().join("report.xlsx");
    let xlsx_arg = xlsx.to_string_lossy().to_string();
    let out = run(&["--json", "report", "--format", "xlsx", "--out", &xlsx_arg])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells = xlsx_cells(&std::fs::read(&xlsx)?)?;
    let total_row = cells
        .iter()
        .find(|(_, v)| v.as_str() == "合计（全市）")
        .map(|((r, _), _)| *r)
        .ok_or("total row")?;
    assert_eq!(cells.get(&(total_row, 1)).map(String::as_str), Some("6"));
    let units: Vec<&String> = cells
        .iter()
        .filter(|((r, c), _)| *c == 0 && *r > 2 && *r < total_row)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(units, vec!["luan/jinan/squad-1", "luan/yuan"]);

    // Bad arguments: a clear error, nothing written.
    let bad = dir.path().join("bad.csv");
    let bad_arg = bad.to_string_lossy().to_string();
    for args in [
        vec!["report", "--format", "pdf", "--out", &bad_arg],
        vec![
            "report",
            "--format",
            "csv",
            "--from",
            "2026-13-01",
            "--out",
            &bad_arg,
        ],
        vec![
            "report", "--format", "csv", "--unit", "Luan/", "--out", &bad_arg,
        ],
    ] {
        let out = run(&args)?;
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
        assert!(!bad.exists());
    }
    let csv = dir.path().join("r.csv");
    let out = run(&[
        "report",
        "--format",
        "csv",
        "--unit",
        "luan/jinan",
        "--from",
        "2000-01-01",
        "--to",
        "2199-12-31",
        "--out",
        &csv.to_string_lossy(),
    ])?;
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv)?;
    assert!(text.contains("合计（luan/jinan）,5,"));
    assert_no_canary("the CSV report", &text);
    let out = run(&[
        "dashboard-link",
        "--user",
        "SV-0",
        "--base-url",
        "http://127.0.0.1:1",
    ])?;
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)?.starts_with("http://127.0.0.1:1/login?token="));
    drop(state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_reviews_from_the_dashboard() -> R {
    let (_dir, state, seeded) = seeded().await?;
    let login = |user: &'static str| {
        let state = state.clone();
        async move {
            let link = issue_login_link(state.storage.as_ref(), user, "http://x", 5).await?;
            let r = get(&state, link.url.trim_start_matches("http://x"), None).await?;
            let cookie = r
                .headers
                .get(header::SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .ok_or("cookie")?
                .to_string();
            R::Ok(cookie)
        }
    };
    let reviewer = login("RV-1").await?;
    let supervisor = login("SV-0").await?;
    let page = |cookie: String| {
        let state = state.clone();
        async move {
            call(
                &state,
                Request::get("/dashboard")
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())?,
            )
            .await
        }
    };
    let html = page(reviewer.clone()).await?.text();
    assert!(html.contains("法制审核队列（2）"));
    assert_eq!(html.matches("action=\"/dashboard/review\"").count(), 2);
    assert!(!page(supervisor.clone()).await?.text().contains("<form"));
    let queue = get(
        &state,
        "/v1/reviews/queue?unit=luan",
        Some(&bearer(&state, "RV-1").await?),
    )
    .await?
    .json()?;
    let dec = queue["pending"][0]["decision_id"]
        .as_str()
        .ok_or("decision")?
        .to_string();
    let form = format!(
        "case_id={}&decision_id={dec}&outcome=returned&opinion=%E8%AF%81%E6%8D%AE%E4%B8%8D%E8%B6%B3&pass_subject=on&pass_facts=on&note_evidence=%E7%BC%BA%E7%85%A7%E7%89%87&pass_basis=on&pass_discretion=on&pass_procedure=on",
        seeded.major_a
    );
    let post = |cookie: String, origin: &'static str| {
        let state = state.clone();
        let form = form.clone();
        async move {
            call(
                &state,
                Request::post("/dashboard/review")
                    .header(header::COOKIE, cookie)
                    .header(header::HOST, "127.0.0.1:8443")
                    .header(header::ORIGIN, origin)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form))?,
            )
            .await
        }
    };
    assert_eq!(
        post(supervisor, "http://127.0.0.1:8443").await?.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(reviewer.clone(), "http://evil.example").await?.status,
        StatusCode::FORBIDDEN,
        "cross-site post"
    );
    let r = post(reviewer.clone(), "http://127.0.0.1:8443").await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let again = post(reviewer.clone(), "http://127.0.0.1:8443").await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text().contains("审核未提交"));
    assert!(page(reviewer).await?.text().contains("法制审核队列（1）"));
    let entries = state.storage.audit_entries().await?;
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.event.action == "review" && e.event.actor == "RV-1")
            .count(),
        1
    );
    Ok(())
}
