//! A real server on a loopback port, phones with real stores and the real sync client, and the
//! records officers and volunteers make.

use fieldcase_core::catalogue::{ExemptionKind, Method, PartyType};
use fieldcase_core::model::Place;
use fieldcase_core::store::{
    ExemptionRequest, NewAction, NewCase, NewDemonstration, NewParty, PledgeInput,
};
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::storage::{Role, Storage};
use fieldcase_server::{AppState, Listen, RunningServer, admin};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Boxed error for test helpers.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The PostgreSQL the tests use (`FIELDCASE_TEST_PG_URL`, else the local server).
pub fn pg_url() -> String {
    std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fixed time inside the valid range: 2026-09-21.
pub const T0: i64 = 1_790_000_000_000;

/// The unit tree every scenario uses.
pub const UNITS: &[&str] = &[
    "luan",
    "luan/jinan",
    "luan/jinan/squad-1",
    "luan/jinan/squad-2",
    "luan/yuan",
];

/// A server on `127.0.0.1:0` over a data folder.
#[derive(Debug)]
pub struct TestServer {
    /// The data folder.
    pub data: PathBuf,
    /// The state (for admin calls).
    pub state: AppState,
    /// The running server.
    pub server: RunningServer,
}

impl TestServer {
    /// Starts a server on `data`, creating the unit tree when new.
    pub async fn start(data: &Path) -> TestResult<TestServer> {
        TestServer::start_with(data, |_| {}).await
    }

    /// Like [`TestServer::start`], with `adjust` changing the state first (request budgets).
    pub async fn start_with(
        data: &Path,
        adjust: impl FnOnce(&mut AppState),
    ) -> TestResult<TestServer> {
        let mut state = AppState::open_dir(data).await?;
        adjust(&mut state);
        TestServer::serve(data, state).await
    }

    /// Starts a server on PostgreSQL at `url` (a private schema, dropped with the last
    /// handle), evidence under `data`, with the unit tree.
    pub async fn start_postgres(data: &Path, url: &str) -> TestResult<TestServer> {
        let storage =
            fieldcase_server::storage::postgres::PostgresStorage::connect_fresh(url).await?;
        let state = AppState::new(
            Arc::new(storage),
            &fieldcase_server::keys::KeySource::dir(data.join("keys")),
            data.join("blobs"),
            fieldcase_server::app::DEFAULT_MAX_BLOB,
        )
        .await?;
        TestServer::serve(data, state).await
    }

    /// Starts a server on the embedded database under `data` with evidence in `blobs` (an
    /// object store, see `fieldcase_server::blobs::BlobStoreSettings`), with the unit tree.
    pub async fn start_with_blobs(
        data: &Path,
        blobs: fieldcase_server::blobs::BlobStore,
    ) -> TestResult<TestServer> {
        std::fs::create_dir_all(data)?;
        let storage =
            fieldcase_server::storage::sqlite::SqliteStorage::open(data.join("server.db"))?;
        let state = AppState::with_blobs(
            Arc::new(storage),
            &fieldcase_server::keys::KeySource::dir(data.join("keys")),
            Arc::new(blobs),
        )
        .await?;
        TestServer::serve(data, state).await
    }

    /// Serves `state` on a loopback port, creating the unit tree when new.
    async fn serve(data: &Path, state: AppState) -> TestResult<TestServer> {
        if state.storage.units().await?.is_empty() {
            for u in UNITS {
                admin::create_unit(state.storage.as_ref(), u, u).await?;
            }
        }
        let server = fieldcase_server::start(
            state.clone(),
            Listen {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                tls: None,
                allow_insecure_http: false,
            },
        )
        .await?;
        Ok(TestServer {
            data: data.to_path_buf(),
            state,
            server,
        })
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The storage.
    pub fn storage(&self) -> &dyn Storage {
        self.state.storage.as_ref()
    }

    /// Creates a user and a one-time code for it.
    pub async fn user_code(&self, id: &str, role: Role, unit: &str) -> TestResult<String> {
        if self.storage().user(id).await?.is_none() {
            admin::create_user(self.storage(), id, id, role, unit).await?;
            if role == Role::Officer {
                // Documents print every officer's certificate number.
                admin::set_cert_no(self.storage(), id, Some(&format!("皖城执{id}"))).await?;
            }
        }
        Ok(admin::create_code(self.storage(), id, 1, None, None)
            .await?
            .code)
    }

    /// Kills the server abruptly and starts a new one on the same data folder.
    pub async fn restart(self) -> TestResult<TestServer> {
        let data = self.data.clone();
        self.server.kill().await?;
        drop(self.state);
        TestServer::start(&data).await
    }
}

/// A phone: its own store and the sync client.
#[derive(Debug)]
pub struct Phone {
    /// The store.
    pub store: FieldStore,
    /// The client.
    pub client: SyncClient,
    /// The store file.
    pub path: PathBuf,
    /// The enrolled device id.
    pub device_id: String,
    /// The user.
    pub user: String,
    /// The user's unit.
    pub unit: String,
}

/// The store key of every test phone: phones in the field run encrypted stores (and so seal
/// their evidence files), so the end-to-end tests do too.
pub const PHONE_KEY: [u8; 32] = [0x6b; 32];

/// The configuration a test phone's store is opened with.
pub fn phone_config(device_id: impl Into<String>) -> StoreConfig {
    StoreConfig::new(device_id, PHONE_KEY)
}

/// A client for `url` with short timeouts, as tests want.
pub fn client(url: &str) -> TestResult<SyncClient> {
    let mut cfg = ClientConfig::new(url);
    cfg.timeout = Duration::from_secs(10);
    cfg.attempts = 3;
    Ok(SyncClient::new(cfg)?)
}

impl Phone {
    /// Enrols a new phone for a new user `user` of `role` in `unit`.
    pub async fn enrol(
        server: &TestServer,
        url: &str,
        dir: &Path,
        user: &str,
        role: Role,
        unit: &str,
    ) -> TestResult<Phone> {
        let code = server.user_code(user, role, unit).await?;
        let path = dir.join(format!("{user}-{}.db", fieldcase_core::ids::new_id()));
        let client = client(url)?;
        let device_id = {
            let store = FieldStore::open(&path, phone_config("unenrolled"))?;
            let key = store.device_public_key()?;
            let resp = client
                .enrol(&store, &code, &key, &format!("{user} phone"))
                .await?;
            resp.device_id
        };
        let store = FieldStore::open(&path, phone_config(device_id.clone()))?;
        Ok(Phone {
            store,
            client,
            path,
            device_id,
            user: user.into(),
            unit: unit.into(),
        })
    }

    /// Runs one sync session.
    pub async fn sync(&self) -> fieldcase_core::Result<fieldcase_core::sync::SyncReport> {
        self.client.sync(&self.store).await
    }

    /// Rebuilds the phone's client with these sync body options (JSON only, binary without
    /// compression, ...), keeping its URL.
    pub fn use_wire(
        &mut self,
        url: &str,
        wire: fieldcase_core::sync::negotiate::WireOptions,
    ) -> TestResult {
        let mut cfg = ClientConfig::new(url);
        cfg.timeout = Duration::from_secs(10);
        cfg.attempts = 3;
        cfg.wire = wire;
        self.client = SyncClient::new(cfg)?;
        Ok(())
    }

    /// Points the phone at another URL (a proxy or a restarted server).
    pub fn use_url(&mut self, url: &str) -> TestResult {
        self.client = client(url)?;
        Ok(())
    }

    /// Adds a generated photo (`w` x `h`, distinct per `seed`) to a record; returns the entry.
    pub fn photo(
        &self,
        record_id: &str,
        dir: &Path,
        w: u32,
        h: u32,
        seed: u64,
    ) -> TestResult<fieldcase_core::evidence::EvidenceEntry> {
        let file = dir.join(format!(
            "photo-{seed}-{}.jpg",
            fieldcase_core::ids::new_id()
        ));
        std::fs::write(&file, jpeg(w, h, seed)?)?;
        Ok(self
            .store
            .add_photo(record_id, &file, capture(&self.user, T0))?)
    }

    /// Registers a party with this identity number (see [`id_number`] for valid ones).
    pub fn party(&self, id_number: &str) -> TestResult<String> {
        Ok(self
            .store
            .register_party(NewParty {
                party_type: PartyType::Person,
                unit: self.unit.clone(),
                by: self.user.clone(),
                name: "张三丰".into(),
                id_number: id_number.into(),
                id_document: None,
                phone: Some("13812345678".into()),
                address: None,
            })?
            .id)
    }

    /// Records a case (optionally of a party) and returns its id.
    pub fn case(&self, party_id: Option<String>, at: i64) -> TestResult<String> {
        self.case_of(&self.unit.clone(), party_id, at)
    }

    /// Records a case in `unit` (which may lie outside the user's scope) and returns its id.
    pub fn case_in(&self, unit: &str, at: i64) -> TestResult<String> {
        self.case_of(unit, None, at)
    }

    fn case_of(&self, unit: &str, party_id: Option<String>, at: i64) -> TestResult<String> {
        let (code, tier) = exemptable(&self.store)?;
        let case = self.store.create_case(NewCase {
            unit: unit.to_string(),
            occurred_at_ms: at,
            place: place(),
            officers: vec![self.user.clone()],
            recorded_by: self.user.clone(),
            party_id,
            violation_code: code,
            tier,
            description: Some("店外摆放货架".into()),
            actions: vec![persuasion(&self.user, at)],
            involves_minor: false,
            privacy_protected: false,
        })?;
        Ok(case.id)
    }

    /// Grants a first-offence exemption with a pledge.
    pub fn exempt(&self, case_id: &str, at: i64) -> TestResult {
        let ex = self.store.grant_exemption(
            case_id,
            ExemptionRequest {
                by: self.user.clone(),
                at_ms: at,
                minor: true,
                no_harm: true,
                pledge: Some(PledgeInput {
                    text: "本人承诺当日内整改".into(),
                    signature_evidence_id: None,
                    deadline_ms: Some(at + 86_400_000),
                    signed_at_ms: at,
                }),
            },
        )?;
        if ex.kind != ExemptionKind::FirstOffence {
            return Err("expected a first-offence exemption".into());
        }
        Ok(())
    }

    /// Records a demonstration and returns its id.
    pub fn demonstration(&self, at: i64) -> TestResult<String> {
        Ok(self
            .store
            .record_demonstration(NewDemonstration {
                unit: self.unit.clone(),
                team: "梅山志愿队".into(),
                participants: vec![self.user.clone()],
                place: place(),
                started_at_ms: at,
                ended_at_ms: at + 3_600_000,
                topic: "门前三包".into(),
                people_persuaded: 12,
                note: None,
                by: self.user.clone(),
            })?
            .id)
    }
}

/// A photo-like JPEG of `w` x `h` (gradients plus noise), distinct per `seed`.
pub fn jpeg(w: u32, h: u32, seed: u64) -> TestResult<Vec<u8>> {
    use image::ImageEncoder;
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut img = image::RgbImage::new(w, h);
    for (px, py, p) in img.enumerate_pixels_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *p = image::Rgb([
            ((px * 255 / w.max(1)) as u8).wrapping_add((x & 0x3F) as u8),
            ((py * 255 / h.max(1)) as u8).wrapping_add(((x >> 8) & 0x3F) as u8),
            (x >> 16) as u8,
        ]);
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).write_image(
        img.as_raw(),
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// A mono 16-bit 8 kHz WAV of `bytes` PCM bytes (noise, so every file differs by `seed`).
pub fn wav(bytes: u32, seed: u64) -> Vec<u8> {
    let bytes = bytes & !1;
    let mut out = Vec::with_capacity(bytes as usize + 44);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + bytes).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&bytes.to_le_bytes());
    let mut x = seed | 1;
    for _ in 0..bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out
}

/// What the app knows at capture.
pub fn capture(officer: &str, at: i64) -> fieldcase_core::evidence::CaptureInfo {
    fieldcase_core::evidence::CaptureInfo {
        officer: officer.into(),
        device_time_ms: at,
        monotonic_ms: 1_000,
        place: Some(place()),
        note: None,
    }
}

/// A place in Lu'an.
pub fn place() -> Place {
    Place {
        lat: 31.7349,
        lon: 116.5079,
        accuracy_m: Some(8.0),
        address: Some("六安市金安区梅山中路".into()),
    }
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A persuasion action.
pub fn persuasion(by: &str, at: i64) -> NewAction {
    NewAction {
        method: Method::Persuasion,
        at_ms: at,
        by: by.into(),
        note: None,
        fields: fields(json!({"explained": "占道经营影响通行", "outcome": "accepted"})),
    }
}

/// The first catalogue item allowing a first-offence exemption of a person, and its tier.
/// Records, on `store`, a first-offence case of an exemptable item in `unit` by `user` at
/// `at`, with one persuasion: the simulated phones' everyday case. Returns its id.
pub fn everyday_case(store: &FieldStore, unit: &str, user: &str, at: i64) -> TestResult<String> {
    let (code, tier) = exemptable(store)?;
    let case = store.create_case(fieldcase_core::store::NewCase {
        unit: unit.to_string(),
        occurred_at_ms: at,
        place: place(),
        officers: vec![user.to_string()],
        recorded_by: user.to_string(),
        party_id: None,
        violation_code: code,
        tier,
        description: Some("店外摆放货架".into()),
        actions: vec![persuasion(user, at)],
        involves_minor: false,
        privacy_protected: false,
    })?;
    Ok(case.id)
}

pub fn exemptable(store: &FieldStore) -> TestResult<(String, String)> {
    let c = store.catalogue();
    let item = c
        .items()
        .find(|i| {
            i.exemption.allows(ExemptionKind::FirstOffence)
                && i.exemption.pledge_required
                && i.applies_to.contains(&PartyType::Person)
                && !i.exemption.exempt_tiers.is_empty()
        })
        .ok_or("no exemptable item")?;
    Ok((item.code.clone(), item.exemption.exempt_tiers[0].clone()))
}

/// A plain reqwest client for raw requests in tests (ring as the TLS provider).
pub fn raw_http() -> TestResult<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder().no_proxy().build()?)
}

/// Shared handle for tests that need the server in an `Arc`.
pub type Shared<T> = Arc<T>;

/// A valid unified social credit code (GB 32100) of an enterprise registered in 金安区,
/// distinct for each `n` below a billion.
pub fn credit_code(n: u64) -> String {
    let body = format!("91341502{:09}", n % 1_000_000_000);
    let check = fieldcase_core::identity::credit_code_check_character(&body).unwrap_or('0');
    format!("{body}{check}")
}

/// A valid identity number of a person in Lu'an, distinct for each `n` below 50 million:
/// region 341502, 341503 or 341504 (金安区, 裕安区, 叶集区), a birth date between 1960 and
/// 2009, a sequence, and the GB 11643 check character.
pub fn id_number(n: u64) -> String {
    const REGIONS: [&str; 3] = ["341502", "341503", "341504"];
    let region = REGIONS[(n % 3) as usize];
    let k = n / 3;
    let (seq, d) = (k % 1000, k / 1000);
    let (year, month, day) = (1960 + d % 50, 1 + (d / 50) % 12, 1 + (d / 600) % 28);
    let body = format!("{region}{year:04}{month:02}{day:02}{seq:03}");
    let check = fieldcase_core::identity::check_character(&body).unwrap_or('0');
    format!("{body}{check}")
}
