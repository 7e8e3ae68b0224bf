//! Attacks an enrolled phone holder or a colleague can make on the server, made the way an
//! attacker would: raw HTTP requests with the device's own credential and Automerge bytes
//! built by hand, against a real server on loopback (the spawned `fieldcase-server` binary for
//! the memory attack, so its resident memory can be read from `/proc`; the in-process server
//! for the others). Each function returns a one-line summary of what the server did, or the
//! first answer that lets the attack through. The integration test `tests/tests/it/attacks.rs`
//! and the battery's `attacks` family both run them.
//!
//! - [`memory_bomb`]: a pushed compressed change chunk that inflates to hundreds of MiB, and a
//!   request of chunks each just under the per-chunk limit that pass the per-request one.
//! - [`blob_by_reference`]: a volunteer and an officer of another unit push demonstrations
//!   naming a case photo's SHA-256, then ask for the photo and its status.
//! - [`upload_hijack`]: a colleague appends to, shrinks or restarts another device's upload.
//! - [`upload_quota`]: one device opens unfinished uploads past its quota.
//! - [`upload_race`]: two colleagues start the same upload at once through two server
//!   instances.

use crate::harness::{Phone, T0, TestResult, TestServer, phone_config, raw_http};
use automerge::AutoCommit;
use fieldcase_core::FieldStore;
use fieldcase_core::model::RecordKind;
use fieldcase_core::sync::wire::{DocPush, PROTOCOL_VERSION, SyncRequest, SyncResponse};
use fieldcase_server::storage::{DocWrite, Role};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Inflated size of the single-chunk bomb (256 MiB; the request carrying it is ~350 KB).
pub const BOMB_INFLATED: usize = 256 * 1024 * 1024;
/// Growth of the server's peak resident memory the bomb may cause (16 MiB): the request body,
/// a decoder window and allocator noise, never the inflated bytes.
pub const BOMB_MAX_GROWTH_KIB: u64 = 16 * 1024;
/// Growth the request of chunks just under the per-chunk limit may cause (32 MiB): each such
/// chunk passes the bound and Automerge inflates it (its output and the re-framed copy, two
/// buffers of up to 8 MiB, freed before the next push), plus the same allowance as above.
/// What it must not reach is the 67.5 MiB those chunks decode to together.
pub const MANY_MAX_GROWTH_KIB: u64 = 2 * 8 * 1024 + BOMB_MAX_GROWTH_KIB;

fn check(ok: bool, what: impl FnOnce() -> String) -> TestResult {
    if ok { Ok(()) } else { Err(what().into()) }
}

/// A compressed change chunk (type 2) whose DEFLATE data inflates to `inflated` zero bytes.
/// The checksum is not that of a real change: the server must refuse the chunk by its size
/// before anything would check it.
pub fn compressed_bomb(inflated: usize) -> TestResult<Vec<u8>> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1024 * 1024];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(block.len());
        enc.write_all(&block[..n])?;
        left -= n;
    }
    let data = enc.finish()?;
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0xde, 0xad, 0xbe, 0xef, 2];
    let mut n = data.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend(data);
    Ok(out)
}

/// `VmRSS` and `VmHWM` (peak) of a process, KiB.
pub fn rss_kib(pid: u32) -> TestResult<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> TestResult<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .ok_or("malformed status line")?
            .parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The spawned server; killed when dropped, so no failure path leaves it running.
struct Spawned {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn admin(bin: &Path, data: &Path, args: &[&str]) -> TestResult<serde_json::Value> {
    let out = Command::new(bin)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .arg("--json")
        .args(args)
        .env_remove("FIELDCASE_DATABASE_URL")
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_str(&text)?)
}

fn healthy(addr: SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

fn spawn_server(bin: &Path, data: &Path) -> TestResult<Spawned> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let log = std::fs::File::create(data.join("server.log"))?;
    let child = Command::new(bin)
        .arg("serve")
        .arg("--data")
        .arg(data)
        .arg("--listen")
        .arg(addr.to_string())
        .env_remove("FIELDCASE_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let mut s = Spawned { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = s.child.try_wait() {
            return Err(format!("server exited on start: {status}").into());
        }
        if healthy(s.addr) {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err("server did not answer /healthz in 30 s".into())
}

/// The device credential a phone's store holds (what an attacker holding the phone has).
pub fn credential(store: &FieldStore) -> TestResult<String> {
    Ok(String::from_utf8(
        store.meta("sync_credential")?.ok_or("no credential")?,
    )?)
}

/// Posts a raw sync request; returns the status and the body.
async fn post_sync(
    http: &reqwest::Client,
    url: &str,
    cred: &str,
    req: &SyncRequest,
) -> TestResult<(u16, String)> {
    let r = http
        .post(format!("{url}/v1/sync"))
        .bearer_auth(cred)
        .timeout(Duration::from_secs(300))
        .json(req)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await?))
}

fn request(device_id: &str, docs: Vec<DocPush>) -> SyncRequest {
    SyncRequest {
        roster_digest: None,
        protocol: PROTOCOL_VERSION,
        device_id: device_id.into(),
        request_id: fieldcase_core::ids::new_id(),
        cursor: 0,
        docs,
        actor_id: None,
        catalogue_version: None,
        catalogue_versions: vec![],
        catalogue_refused: None,
    }
}

fn new_push(changes: Vec<u8>) -> DocPush {
    DocPush {
        doc_id: fieldcase_core::ids::new_id(),
        kind: RecordKind::Demonstration,
        have_heads: vec![],
        server_heads: vec![],
        changes,
    }
}

/// What [`memory_bomb`] measured.
#[derive(Debug, Clone)]
pub struct BombReport {
    /// Peak resident memory (`VmHWM`) of the idle server after enrolment, KiB.
    pub idle_peak_kib: u64,
    /// Peak after the single-chunk bomb, KiB.
    pub bomb_peak_kib: u64,
    /// HTTP status of the bomb request.
    pub bomb_status: u16,
    /// The push's `code` and `reason` (a 200 reply), or the error body.
    pub bomb_answer: String,
    /// Peak after the request of many chunks under the per-chunk limit, KiB.
    pub many_peak_kib: u64,
    /// HTTP status of that request.
    pub many_status: u16,
    /// Its answer.
    pub many_answer: String,
}

impl std::fmt::Display for BombReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "server peak RSS idle {} KiB; {} MiB bomb: {} ({}) peak {} KiB (+{} KiB); \
             9 chunks of 7.5 MiB: {} ({}) peak {} KiB (+{} KiB over idle)",
            self.idle_peak_kib,
            BOMB_INFLATED >> 20,
            self.bomb_status,
            self.bomb_answer,
            self.bomb_peak_kib,
            self.bomb_peak_kib.saturating_sub(self.idle_peak_kib),
            self.many_status,
            self.many_answer,
            self.many_peak_kib,
            self.many_peak_kib.saturating_sub(self.idle_peak_kib),
        )
    }
}

fn answer(status: u16, body: &str) -> String {
    if status != 200 {
        return body.chars().take(200).collect();
    }
    match serde_json::from_str::<SyncResponse>(body) {
        Ok(r) => r
            .docs
            .iter()
            .map(|d| {
                format!(
                    "{:?} code={} reason={}",
                    d.status,
                    d.code.as_deref().unwrap_or("-"),
                    d.reason.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("unreadable reply: {e}"),
    }
}

/// The memory attack against the real server binary `bin`: a volunteer's phone enrols, then
/// pushes (raw) a demonstration whose changes are one compressed chunk inflating to
/// [`BOMB_INFLATED`] bytes, then a request of nine pushes each inflating to 7.5 MiB (under
/// the per-chunk limit, 67.5 MiB together). The peak resident memory of the server process
/// is read from `/proc/<pid>/status` before and after each. Returns the measurements; the
/// caller decides (see [`check_bomb`]).
pub async fn memory_bomb(dir: &Path, bin: &Path) -> TestResult<BombReport> {
    let data = dir.join("server");
    std::fs::create_dir_all(&data)?;
    admin(
        bin,
        &data,
        &["create-unit", "--path", "luan", "--name", "luan"],
    )?;
    admin(
        bin,
        &data,
        &[
            "create-user",
            "--id",
            "VOL-BOMB",
            "--name",
            "VOL-BOMB",
            "--role",
            "volunteer",
            "--unit",
            "luan",
        ],
    )?;
    let code = admin(bin, &data, &["create-code", "--user", "VOL-BOMB"])?;
    let code = code["code"].as_str().ok_or("create-code printed no code")?;
    let server = spawn_server(bin, &data)?;
    let url = format!("http://{}", server.addr);
    let path = dir.join("volunteer.db");
    let client = crate::harness::client(&url)?;
    let device_id = {
        let store = FieldStore::open(&path, phone_config("unenrolled"))?;
        let key = store.device_public_key()?;
        client
            .enrol(&store, code, &key, "volunteer phone")
            .await?
            .device_id
    };
    let store = FieldStore::open(&path, phone_config(device_id.clone()))?;
    let cred = credential(&store)?;
    let http = raw_http()?;
    // Warm the server's request path with an ordinary want, so the idle figure includes it.
    let (st, _) = post_sync(&http, &url, &cred, &request(&device_id, vec![])).await?;
    check(st == 200, || format!("an empty sync answered {st}"))?;
    let pid = server.child.id();
    let (_, idle_peak) = rss_kib(pid)?;

    let bomb = compressed_bomb(BOMB_INFLATED)?;
    let (bomb_status, body) = post_sync(
        &http,
        &url,
        &cred,
        &request(&device_id, vec![new_push(bomb)]),
    )
    .await?;
    let (_, bomb_peak) = rss_kib(pid)?;
    let bomb_answer = answer(bomb_status, &body);

    let under = compressed_bomb(7 * 1024 * 1024 + 512 * 1024)?;
    let pushes = (0..9).map(|_| new_push(under.clone())).collect();
    let (many_status, body) = post_sync(&http, &url, &cred, &request(&device_id, pushes)).await?;
    let (_, many_peak) = rss_kib(pid)?;
    let many_answer = answer(many_status, &body);
    check(healthy(server.addr), || {
        "the server stopped answering after the attack".into()
    })?;
    Ok(BombReport {
        idle_peak_kib: idle_peak,
        bomb_peak_kib: bomb_peak,
        bomb_status,
        bomb_answer,
        many_peak_kib: many_peak,
        many_status,
        many_answer,
    })
}

/// The verdict on a [`BombReport`]: the bomb is `Rejected` with code `too_large` and moved
/// the server's peak memory by at most [`BOMB_MAX_GROWTH_KIB`]; the request past the
/// per-request budget is `413 too_large` and moved it by at most [`MANY_MAX_GROWTH_KIB`].
pub fn check_bomb(r: &BombReport) -> TestResult {
    check(
        r.bomb_status == 200 && r.bomb_answer.contains("Rejected code=too_large"),
        || format!("the bomb was not refused as too large: {r}"),
    )?;
    check(
        r.many_status == 413 && r.many_answer.contains("too_large"),
        || format!("the request past the budget was not refused with 413: {r}"),
    )?;
    check(
        r.bomb_peak_kib.saturating_sub(r.idle_peak_kib) <= BOMB_MAX_GROWTH_KIB
            && r.many_peak_kib.saturating_sub(r.idle_peak_kib) <= MANY_MAX_GROWTH_KIB,
        || format!("the server's memory grew: {r}"),
    )
}

/// Runs [`memory_bomb`] and [`check_bomb`]; the summary line.
pub async fn memory_bomb_attack(dir: &Path, bin: &Path) -> TestResult<String> {
    let r = memory_bomb(dir, bin).await?;
    check_bomb(&r)?;
    Ok(r.to_string())
}

/// Rewrites the phone's demonstration `demo_id` to carry one more evidence entry, a copy of
/// its own photo entry naming `sha` instead, and pushes it raw with the phone's credential.
/// Returns the push's status (`Accepted` or why not).
async fn push_naming(
    http: &reqwest::Client,
    url: &str,
    p: &Phone,
    demo_id: &str,
    sha: &str,
) -> TestResult<String> {
    let heads = p.store.doc_heads(demo_id)?.ok_or("no demonstration")?;
    // Written under the phone's own actor and signed with its own key, as the rules demand:
    // the attacker is an enrolled device and may sign whatever it likes with its own key.
    let actor = automerge::ActorId::from(hex::decode(p.store.actor_hex())?);
    let mut doc = AutoCommit::load(&p.store.changes_after(demo_id, &[])?)?.with_actor(actor);
    let before = doc.get_heads();
    let json = fieldcase_core::doc::read_json(&doc)?;
    let mut entry = json["evidence"]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .ok_or("the demonstration has no photo entry")?;
    entry["id"] = serde_json::Value::String(fieldcase_core::ids::new_id());
    entry["original"]["sha256"] = serde_json::Value::String(sha.to_string());
    let mut signed: fieldcase_core::evidence::EvidenceEntry = serde_json::from_value(entry)?;
    signed.signature = hex::encode(p.store.signer()?.sign(&signed.signed_payload()?)?);
    fieldcase_core::doc::append(&mut doc, "evidence", &signed)?;
    doc.commit();
    let changes = doc.save_after(&before);
    let after: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    let mut req = request(
        &p.device_id,
        vec![DocPush {
            doc_id: demo_id.to_string(),
            kind: RecordKind::Demonstration,
            have_heads: after,
            server_heads: heads,
            changes,
        }],
    );
    req.actor_id = Some(p.store.actor_hex());
    let (st, body) = post_sync(http, url, &credential(&p.store)?, &req).await?;
    Ok(answer(st, &body))
}

/// `GET /v1/blobs/{sha}` and `GET .../status` with `cred`: (GET status, GET body length,
/// status-route status, status body with the hash blanked).
async fn probe(
    http: &reqwest::Client,
    url: &str,
    cred: &str,
    sha: &str,
) -> TestResult<(u16, usize, u16, String)> {
    let get = http
        .get(format!("{url}/v1/blobs/{sha}"))
        .bearer_auth(cred)
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    let get_status = get.status().as_u16();
    let got = get.bytes().await?;
    let st = http
        .get(format!("{url}/v1/blobs/{sha}/status"))
        .bearer_auth(cred)
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    let st_status = st.status().as_u16();
    let st_body = st.text().await?.replace(sha, "SHA");
    Ok((get_status, got.len(), st_status, st_body))
}

/// A volunteer of the officer's unit and an officer of another unit each push (raw) a
/// demonstration naming the officer's case photo's SHA-256, then ask for the photo and its
/// status. Both must get exactly what a never-stored hash gets (404 and no bytes; the same
/// status body), the rightful officer still downloads it, and every read is audited.
pub async fn blob_by_reference(dir: &Path) -> TestResult<String> {
    let s = TestServer::start(&dir.join("server")).await?;
    let url = s.url();
    let http = raw_http()?;
    let squad = "luan/jinan/squad-1";
    let officer = Phone::enrol(&s, &url, dir, "OF-VICTIM", Role::Officer, squad).await?;
    let case = officer.case(None, T0)?;
    let photo = officer.photo(&case, dir, 64, 48, 11)?;
    let r = officer.sync().await?;
    check(r.accepted == 1, || {
        format!("the case was not accepted: {r:?}")
    })?;
    let sha = photo.original.sha256.clone();
    check(s.storage().blob(&sha).await?.is_some(), || {
        "the photo did not reach the server".into()
    })?;

    let volunteer = Phone::enrol(&s, &url, dir, "VOL-ATTACK", Role::Volunteer, squad).await?;
    let outsider = Phone::enrol(&s, &url, dir, "OF-YUAN", Role::Officer, "luan/yuan").await?;
    let absent = hex::encode(Sha256::digest(b"never stored anywhere"));
    let mut lines = Vec::new();
    for (n, attacker) in [&volunteer, &outsider].into_iter().enumerate() {
        let demo = attacker.demonstration(T0 + 1_000 * n as i64)?;
        attacker.photo(&demo, dir, 32, 24, 100 + n as u64)?;
        attacker.sync().await?;
        let pushed = push_naming(&http, &url, attacker, &demo, &sha).await?;
        // The record naming the photo is stored: what stops the read is the blob's binding,
        // not a refusal of the record.
        check(pushed == "Accepted code=- reason=-", || {
            format!(
                "{}: the naming push was not stored: {pushed}",
                attacker.user
            )
        })?;
        let cred = credential(&attacker.store)?;
        let (get, len, st, body) = probe(&http, &url, &cred, &sha).await?;
        let (get_a, len_a, st_a, body_a) = probe(&http, &url, &cred, &absent).await?;
        check(get == 404 && len_a == len && get_a == 404, || {
            format!(
                "{}: GET of the named photo answered {get} with {len} bytes (push: {pushed})",
                attacker.user
            )
        })?;
        check(st == st_a && body == body_a, || {
            format!(
                "{}: status of the named photo ({st} {body}) differs from an absent one \
                 ({st_a} {body_a})",
                attacker.user
            )
        })?;
        lines.push(format!(
            "{} pushed ({pushed}), GET {get}, status {st} {body}",
            attacker.user
        ));
    }

    let cred = credential(&officer.store)?;
    let (get, len, _, body) = probe(&http, &url, &cred, &sha).await?;
    check(get == 200 && len as u64 == photo.original.size, || {
        format!("the rightful officer got {get} with {len} bytes ({body})")
    })?;
    let audit = s.storage().audit_entries().await?;
    let prefix = &sha[..16];
    let reads = |action: &str, device: &str| {
        audit
            .iter()
            .filter(|e| {
                e.event.action == action
                    && e.event.actor == device
                    && e.event.detail.contains(prefix)
                    && !e.event.detail.contains(&sha)
            })
            .count()
    };
    check(reads("blob_read", &officer.device_id) >= 1, || {
        "the officer's download was not audited".into()
    })?;
    for p in [&volunteer, &outsider] {
        check(reads("blob_read_refused", &p.device_id) >= 1, || {
            format!("{}'s refused read was not audited", p.user)
        })?;
        check(reads("blob_read", &p.device_id) == 0, || {
            format!("{} has a served read in the audit log", p.user)
        })?;
    }
    Ok(format!(
        "{}; the officer downloads {len} bytes; reads audited",
        lines.join("; ")
    ))
}

/// Records on the server that a new case of `unit` refers to `sha` (setup, not the attack).
async fn reference(s: &TestServer, unit: &str, sha: &str) -> TestResult {
    s.storage()
        .write_doc(DocWrite {
            doc_id: fieldcase_core::ids::new_id(),
            kind: RecordKind::Case,
            unit: unit.into(),
            party_hash: None,
            expected_heads: None,
            new_heads: vec![1; 32],
            chunk: vec![],
            replace: true,
            blob_refs: vec![sha.into()],
            numbers: vec![],
        })
        .await?;
    Ok(())
}

async fn put(
    http: &reqwest::Client,
    url: &str,
    cred: &str,
    sha: &str,
    offset: u64,
    total: u64,
    body: Vec<u8>,
) -> TestResult<(u16, String)> {
    let r = http
        .put(format!(
            "{url}/v1/blobs/{sha}?offset={offset}&total={total}"
        ))
        .bearer_auth(cred)
        .timeout(Duration::from_secs(60))
        .body(body)
        .send()
        .await?;
    let st = r.status().as_u16();
    Ok((st, r.text().await?))
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

/// Two officers of one unit, both allowed to upload a blob their unit's case names. The
/// colleague tries to append to, shrink (an empty last chunk at the held length, which
/// discarded the upload on a hash mismatch) and restart the first officer's upload in
/// progress; each is refused with 409, the status tells the colleague nothing, and the owner
/// finishes intact.
pub async fn upload_hijack(dir: &Path) -> TestResult<String> {
    let s = TestServer::start(&dir.join("server")).await?;
    let url = s.url();
    let http = raw_http()?;
    let squad = "luan/jinan/squad-1";
    let owner = Phone::enrol(&s, &url, dir, "OF-OWNER", Role::Officer, squad).await?;
    let colleague = Phone::enrol(&s, &url, dir, "OF-COLLEAGUE", Role::Officer, squad).await?;
    let bytes = pattern(300 * 1024, 7);
    let total = bytes.len() as u64;
    let sha = hex::encode(Sha256::digest(&bytes));
    reference(&s, squad, &sha).await?;
    let (own, cc) = (credential(&owner.store)?, credential(&colleague.store)?);
    let (st, _) = put(
        &http,
        &url,
        &own,
        &sha,
        0,
        total,
        bytes[..100 * 1024].to_vec(),
    )
    .await?;
    check(st == 200, || {
        format!("the owner's first chunk answered {st}")
    })?;

    let status = http
        .get(format!("{url}/v1/blobs/{sha}/status"))
        .bearer_auth(&cc)
        .send()
        .await?
        .json::<fieldcase_core::sync::wire::BlobStatus>()
        .await?;
    check(status.offset == 0 && !status.complete, || {
        format!("the colleague sees the owner's upload: {status:?}")
    })?;
    let mut seen = Vec::new();
    for (what, offset, tot, body) in [
        ("append", 100 * 1024, total, vec![0u8; 1024]),
        ("shrink", 100 * 1024, 100 * 1024, vec![]),
        ("restart", 0, total, bytes[..1024].to_vec()),
    ] {
        let (st, text) = put(&http, &url, &cc, &sha, offset, tot, body).await?;
        let held = s.state.blobs.received(&sha).await?;
        check(st == 409 && held == 100 * 1024, || {
            format!(
                "the colleague's {what} answered {st} ({text}); the owner's upload holds {held} bytes"
            )
        })?;
        seen.push(format!("{what} {st}"));
    }
    let (st, text) = put(
        &http,
        &url,
        &own,
        &sha,
        100 * 1024,
        total,
        bytes[100 * 1024..].to_vec(),
    )
    .await?;
    check(st == 200, || {
        format!("the owner could not finish: {st} {text}")
    })?;
    let stored = s.state.blobs.read_all(&sha).await?.unwrap_or_default();
    check(stored == bytes, || "the stored blob differs".into())?;
    Ok(format!(
        "colleague: status offset 0, {}; the owner finished intact",
        seen.join(", ")
    ))
}

/// Which database the upload race runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded SQLite database.
    Sqlite,
    /// PostgreSQL at this URL (a private schema).
    Postgres(String),
}

/// Rounds of [`upload_race`]: each a new blob, both devices' first chunks sent at once.
pub const RACE_ROUNDS: usize = 12;

/// Two colleagues whose records both name one blob (each holds the photo) start its upload at
/// the same moment, through two server instances sharing one database and one blob folder
/// (the scale-out set-up; on one instance the per-blob lock alone would serialise them). In
/// every round exactly one device owns the session (`200`), the other gets
/// `409 upload_in_progress`; the owner finishes, the stored file is the blob, recorded as the
/// owner's, and the other device then sees it complete.
pub async fn upload_race(dir: &Path, backend: Backend) -> TestResult<String> {
    use fieldcase_server::{AppState, Listen, keys::KeySource};
    let data = dir.join("server");
    let s = match &backend {
        Backend::Sqlite => TestServer::start(&data).await?,
        Backend::Postgres(url) => TestServer::start_postgres(&data, url).await?,
    };
    // A second server instance: the same storage and blob folder, its own process state.
    let twin = fieldcase_server::start(
        AppState::new(
            s.state.storage.clone(),
            &KeySource::dir(data.join("keys")),
            data.join("blobs"),
            fieldcase_server::app::DEFAULT_MAX_BLOB,
        )
        .await?,
        Listen {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let urls = [s.url(), format!("http://{}", twin.addr)];
    let http = raw_http()?;
    let squad = "luan/jinan/squad-1";
    let a = Phone::enrol(&s, &urls[0], dir, "OF-RACE-A", Role::Officer, squad).await?;
    let b = Phone::enrol(&s, &urls[1], dir, "OF-RACE-B", Role::Officer, squad).await?;
    let creds = [credential(&a.store)?, credential(&b.store)?];
    let devices = [a.device_id.clone(), b.device_id.clone()];
    let chunk = 96 * 1024;
    let mut wins = [0usize; 2];
    for round in 0..RACE_ROUNDS {
        // `pattern` sets the lowest bit of its seed: odd seeds only, one per round.
        let bytes = pattern(3 * chunk, 1001 + 2 * round as u64);
        let total = bytes.len() as u64;
        let sha = hex::encode(Sha256::digest(&bytes));
        reference(&s, squad, &sha).await?;
        let first = bytes[..chunk].to_vec();
        let (ra, rb) = tokio::join!(
            put(&http, &urls[0], &creds[0], &sha, 0, total, first.clone()),
            put(&http, &urls[1], &creds[1], &sha, 0, total, first),
        );
        let answers = [ra?, rb?];
        let owner = match (answers[0].0, answers[1].0) {
            (200, 409) => 0,
            (409, 200) => 1,
            _ => {
                return Err(format!(
                    "round {round}: both devices began the upload: {} {} / {} {}",
                    answers[0].0, answers[0].1, answers[1].0, answers[1].1
                )
                .into());
            }
        };
        let other = 1 - owner;
        check(answers[other].1.contains("upload_in_progress"), || {
            format!("round {round}: the loser got {}", answers[other].1)
        })?;
        wins[owner] += 1;
        for n in 1..3 {
            let (st, text) = put(
                &http,
                &urls[owner],
                &creds[owner],
                &sha,
                (n * chunk) as u64,
                total,
                bytes[n * chunk..(n + 1) * chunk].to_vec(),
            )
            .await?;
            check(st == 200, || {
                format!("round {round}: the owner's chunk {n} answered {st} {text}")
            })?;
        }
        let stored = s.state.blobs.read_all(&sha).await?.unwrap_or_default();
        check(stored == bytes, || {
            format!("round {round}: the stored blob differs")
        })?;
        let rec = s.storage().blob(&sha).await?.ok_or("no blob record")?;
        check(rec.device_id == devices[owner], || {
            format!("round {round}: the blob is recorded as {}", rec.device_id)
        })?;
        let (st, text) = put(&http, &urls[other], &creds[other], &sha, 0, total, vec![]).await?;
        check(st == 200 && text.contains("\"complete\":true"), || {
            format!("round {round}: afterwards the other device got {st} {text}")
        })?;
    }
    twin.shutdown(Duration::from_secs(5)).await?;
    Ok(format!(
        "{RACE_ROUNDS} rounds on {}: one owner and one 409 upload_in_progress each \
         (A owned {}, B {}); every blob intact",
        match backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        },
        wins[0],
        wins[1]
    ))
}

/// One device opens unfinished uploads declaring 1 GiB each (1 byte sent of each): the
/// third passes the 2 GiB quota and is refused `413 too_large`; another device is unaffected.
pub async fn upload_quota(dir: &Path) -> TestResult<String> {
    let s = TestServer::start(&dir.join("server")).await?;
    let url = s.url();
    let http = raw_http()?;
    let squad = "luan/jinan/squad-2";
    let hog = Phone::enrol(&s, &url, dir, "OF-HOG", Role::Officer, squad).await?;
    let other = Phone::enrol(&s, &url, dir, "OF-OTHER", Role::Officer, squad).await?;
    let total = fieldcase_server::app::DEFAULT_MAX_BLOB;
    let cred = credential(&hog.store)?;
    let mut answers = Vec::new();
    for i in 0..3u8 {
        let sha = hex::encode(Sha256::digest([b'q', i]));
        reference(&s, squad, &sha).await?;
        let (st, text) = put(&http, &url, &cred, &sha, 0, total, vec![i]).await?;
        let expected = if i < 2 { 200 } else { 413 };
        check(
            st == expected && (st != 413 || text.contains("too_large")),
            || format!("upload {i} of 1 GiB answered {st} ({text}), expected {expected}"),
        )?;
        answers.push(st.to_string());
    }
    let sha = hex::encode(Sha256::digest(b"other device"));
    reference(&s, squad, &sha).await?;
    let (st, text) = put(
        &http,
        &url,
        &credential(&other.store)?,
        &sha,
        0,
        total,
        vec![1],
    )
    .await?;
    check(st == 200, || {
        format!("another device was refused: {st} {text}")
    })?;
    Ok(format!(
        "three 1 GiB uploads of one device: {}; another device: {st}",
        answers.join(", ")
    ))
}

/// Every attack on in-process servers (the memory attack needs the binary: see
/// [`memory_bomb_attack`]); one summary line each.
pub async fn run_in_process(dir: &Path) -> TestResult<Vec<String>> {
    let mut out = Vec::new();
    for (name, sub) in [
        ("blob_by_reference", "a"),
        ("upload_hijack", "b"),
        ("upload_quota", "c"),
        ("upload_race", "e"),
    ] {
        let d: PathBuf = dir.join(sub);
        std::fs::create_dir_all(&d)?;
        let line = match name {
            "blob_by_reference" => blob_by_reference(&d).await,
            "upload_hijack" => upload_hijack(&d).await,
            "upload_race" => upload_race(&d, Backend::Sqlite).await,
            _ => upload_quota(&d).await,
        }
        .map_err(|e| format!("{name}: {e}"))?;
        out.push(format!("{name}: {line}"));
    }
    let d = dir.join("d");
    std::fs::create_dir_all(&d)?;
    out.push(format!(
        "phone_bomb: {}",
        phone_bomb(&d).map_err(|e| format!("phone_bomb: {e}"))?
    ));
    Ok(out)
}

/// The memory attack on a phone: a colleague's phone-to-phone bundle, and a (compromised or
/// impersonated) server's sync reply, each carrying a compressed chunk that inflates to
/// [`BOMB_INFLATED`] bytes. The import is refused with `CoreError::TooLarge`; the reply's
/// document is refused (named, so a sync sets it aside) before Automerge inflates anything.
pub fn phone_bomb(dir: &Path) -> TestResult<String> {
    use fieldcase_core::CoreError;
    use fieldcase_core::store::{ChangeBundle, DocChanges, SyncApply};
    let store = FieldStore::open(dir.join("phone.db"), phone_config("dev-phone-bomb"))?;
    let bomb = compressed_bomb(BOMB_INFLATED)?;
    let doc_id = fieldcase_core::ids::new_id();
    let bundle = ChangeBundle {
        docs: vec![DocChanges {
            doc_id: doc_id.clone(),
            kind: RecordKind::Demonstration,
            bytes: bomb.clone(),
            heads: vec![],
        }],
    };
    let imported = store.import_changes(&bundle);
    check(matches!(imported, Err(CoreError::TooLarge { .. })), || {
        format!("the bundle bomb was not refused as too large: {imported:?}")
    })?;
    let applied = store.apply_sync_results(&[SyncApply {
        doc_id: &doc_id,
        kind: RecordKind::Demonstration,
        changes: &bomb,
        server_heads: &[],
        acked_change: None,
    }]);
    check(
        matches!(&applied, Err(CoreError::MalformedDocument { doc_id: d, reason })
            if *d == doc_id && reason.contains("exceeds the limit")),
        || format!("the reply bomb was not refused by size: {applied:?}"),
    )?;
    Ok(format!(
        "bundle: TooLarge; sync reply: refused ({} bytes sent, {} MiB inflated)",
        bomb.len(),
        BOMB_INFLATED >> 20
    ))
}
