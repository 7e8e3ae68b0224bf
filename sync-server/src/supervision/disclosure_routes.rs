//! The public disclosure routes (no login): `GET /v1/disclosure` (JSON) and `GET /disclosure`
//! (HTML), one page of the feed each, with the totals. The feed itself is the whole city's and
//! the same for everybody; a page is only a cut of it (`docs/supervision.md`).

use super::disclosure::{DisclosureEntry, DisclosurePage, disclose, paging, render_html};
use super::records;
use crate::AppState;
use crate::audit::AuditEvent;
use crate::error::{Result, ServerError};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Html;
use sha2::Digest;

/// The public feed: every publishable decision of the whole city, newest first, each naming
/// its unit. Takes no parameters, so nothing a caller sends can widen it (the routes only cut
/// it into pages). A new version is audited once.
pub async fn disclosure_entries(state: &AppState) -> Result<Vec<DisclosureEntry>> {
    let recs = records::load(state.storage.as_ref(), None, true).await?;
    let catalogues = state.catalogues.set();
    let unit_names: std::collections::BTreeMap<String, String> = state
        .storage
        .units()
        .await?
        .into_iter()
        .map(|u| (u.path, u.name))
        .collect();
    let mut entries: Vec<DisclosureEntry> = recs
        .cases
        .iter()
        .filter_map(|c| {
            let name = c
                .party
                .as_ref()
                .and_then(|p| recs.party_names.get(&p.party_id))
                .map(String::as_str);
            disclose(c, name, &catalogues).map(|mut e| {
                e.name_unit(&unit_names);
                e
            })
        })
        .collect();
    entries.sort_by(|a, b| {
        b.decided_at_ms
            .cmp(&a.decided_at_ms)
            .then_with(|| a.decision_id.cmp(&b.decision_id))
    });
    let bytes = serde_json::to_vec(&entries).map_err(|e| ServerError::Config(e.to_string()))?;
    let hash = hex::encode(sha2::Sha256::digest(&bytes));
    let changed = {
        let mut last = state
            .last_disclosure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.as_deref() == Some(hash.as_str()) {
            false
        } else {
            *last = Some(hash.clone());
            true
        }
    };
    if changed {
        state
            .audit(AuditEvent {
                at_ms: fieldcase_core::ids::now_ms(),
                actor: "public".into(),
                action: "disclosure".into(),
                case_id: None,
                detail: format!("published {} decisions; feed sha256 {hash}", entries.len()),
            })
            .await?;
    }
    Ok(entries)
}

type PagingQuery = std::result::Result<
    Query<std::collections::HashMap<String, String>>,
    axum::extract::rejection::QueryRejection,
>;

/// The page a disclosure request asks for (see [`paging`]; a query that does not parse is
/// the first page).
async fn disclosure_page_of(state: &AppState, q: PagingQuery) -> Result<DisclosurePage> {
    let (page, per_page) = q
        .map(|Query(q)| paging(&q))
        .unwrap_or((1, super::disclosure::DEFAULT_PER_PAGE));
    let entries = disclosure_entries(state).await?;
    Ok(DisclosurePage::of(&entries, page, per_page))
}

/// `GET /v1/disclosure?page=&per_page=` (no login): one page of the feed with the totals.
pub async fn disclosure_json(
    State(state): State<AppState>,
    crate::ratelimit::ClientAddr(client): crate::ratelimit::ClientAddr,
    q: PagingQuery,
) -> Result<Json<DisclosurePage>> {
    state.public_rate.check(&client)?;
    Ok(Json(disclosure_page_of(&state, q).await?))
}

/// `GET /disclosure?page=&per_page=` (no login): the HTML page.
pub async fn disclosure_page(
    State(state): State<AppState>,
    crate::ratelimit::ClientAddr(client): crate::ratelimit::ClientAddr,
    q: PagingQuery,
) -> Result<Html<String>> {
    state.public_rate.check(&client)?;
    Ok(Html(render_html(&disclosure_page_of(&state, q).await?)))
}
