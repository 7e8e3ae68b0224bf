//! Seeds a server data folder with a small, known set of synced records for demonstrations
//! and the dashboard browser test: units, users, two officers' phones that record cases
//! (an exemption whose pledge lapsed, effective and major penalty decisions, a case involving
//! a minor, follow-ups) and a demonstration, synced through the real protocol. The first major
//! decision's case carries a photo (JPEG) and a recording (WAV) captured through the phone's
//! evidence ingest and uploaded by the sync.
//!
//! ```sh
//! cargo run -p fieldcase-server --example seed_demo -- DATA_DIR
//! ```
//!
//! The parties' names, identity and phone numbers are fixed canaries ([`CANARIES`]) that must
//! never appear in public output.

#![allow(dead_code)]

use fieldcase_core::catalogue::{ExemptionKind, Method, PartyType, PenaltyKind};
use fieldcase_core::evidence::CaptureInfo;
use fieldcase_core::model::{Place, Procedure, ProposedPenalty, StepKind};
use fieldcase_core::store::{
    ExemptionRequest, NewAction, NewCase, NewDemonstration, NewParty, PenaltyRequest, PledgeInput,
    StepInput,
};
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::storage::Role;
use fieldcase_server::{AppState, Listen, admin};
use serde_json::json;
use std::path::{Path, PathBuf};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Full names, identity numbers and phone numbers of the seeded parties.
pub const CANARIES: [&str; 9] = [
    "欧阳金花",
    "341502198803037778",
    "13955550123",
    "张三丰",
    "341502199001011239",
    "13866661234",
    "李小龙",
    "34150219750202555X",
    "梅山中路",
];

const DAY: i64 = 86_400_000;

/// What was seeded.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Now, as the seed saw it.
    pub now_ms: i64,
    /// Squad-1 officer's phone database.
    pub phone1: PathBuf,
    /// Its device id.
    pub device1: String,
    /// Yu'an officer's phone database.
    pub phone2: PathBuf,
    /// Case with a lapsed pledge (escalated) and an overdue follow-up.
    pub lapsed: String,
    /// Case with an effective small penalty and a follow-up due soon.
    pub small: String,
    /// Case with a major penalty, to be approved; it has a photo and a recording.
    pub major_a: String,
    /// The photo's evidence entry on `major_a`.
    pub photo_id: String,
    /// The recording's evidence entry on `major_a`.
    pub audio_id: String,
    /// Case with a major penalty, to be returned.
    pub major_b: String,
    /// Case involving a minor, small penalty.
    pub minor: String,
    /// Case in luan/yuan with a small penalty.
    pub yuan: String,
}

fn place(address: &str, lat: f64) -> Place {
    Place {
        lat,
        lon: 116.5,
        accuracy_m: Some(5.0),
        address: Some(address.into()),
    }
}

fn persuasion(at: i64, by: &str) -> NewAction {
    NewAction {
        method: Method::Persuasion,
        at_ms: at,
        by: by.into(),
        note: None,
        fields: json!({"explained": "占道经营影响通行", "outcome": "accepted"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

/// A photo-like JPEG of `w` x `h` (gradients and a disc, so every thumbnail differs).
pub fn demo_jpeg(w: u32, h: u32) -> R<Vec<u8>> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as i64 - w as i64 / 2, y as i64 - h as i64 / 3);
        let disc = dx * dx + dy * dy < (h as i64 / 5).pow(2);
        if disc {
            image::Rgb([200, 40, 40])
        } else {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 120])
        }
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img)?;
    Ok(out)
}

/// A 16-bit mono PCM WAV of `ms` milliseconds at 16 kHz: a 440 Hz tone.
pub fn demo_wav(ms: u32) -> Vec<u8> {
    let rate = 16_000u32;
    let n = rate * ms / 1000;
    let data_len = n * 2;
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 2).to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n {
        let t = f64::from(i) / f64::from(rate);
        let s = ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16;
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

struct Phone {
    store: FieldStore,
    officer: String,
    /// The second officer on every case (行政处罚法 第四十二条).
    colleague: String,
    unit: String,
}

impl Phone {
    fn party(&self, name: &str, id: &str, phone: &str) -> R<String> {
        Ok(self
            .store
            .register_party(NewParty {
                party_type: PartyType::Person,
                unit: self.unit.clone(),
                by: self.officer.clone(),
                name: name.into(),
                id_number: id.into(),
                id_document: None,
                phone: Some(phone.into()),
                address: Some("六安市金安区梅山中路18号3单元".into()),
            })?
            .id)
    }

    fn case(
        &self,
        party: Option<String>,
        code: &str,
        tier: &str,
        at: i64,
        lat: f64,
        minor: bool,
    ) -> R<String> {
        Ok(self
            .store
            .create_case(NewCase {
                unit: self.unit.clone(),
                occurred_at_ms: at,
                place: place("六安市金安区梅山中路18号", lat),
                officers: vec![self.officer.clone(), self.colleague.clone()],
                recorded_by: self.officer.clone(),
                party_id: party,
                violation_code: code.into(),
                tier: tier.into(),
                description: None,
                actions: vec![persuasion(at, &self.officer)],
                involves_minor: minor,
                privacy_protected: false,
            })?
            .id)
    }

    fn capture(&self, at: i64) -> CaptureInfo {
        CaptureInfo {
            officer: self.officer.clone(),
            device_time_ms: at,
            monotonic_ms: 1_000,
            place: Some(place("六安市金安区梅山中路18号", 31.75)),
            note: None,
        }
    }

    fn step(&self, step: StepKind, at: i64) -> StepInput {
        StepInput {
            step,
            at_ms: at,
            by: self.officer.clone(),
            officers: vec![],
            evidence_ids: vec![],
            note: None,
            decision_id: None,
            proposed: None,
            hearing_right_notified: false,
        }
    }

    /// A fine after an order to correct given `at`: on the spot (简易程序) when `ordinary` is
    /// false, else through 立案, investigation, prior notice and a waived hearing, decided ten
    /// days on.
    fn penalty(&self, case: &str, at: i64, amount: i64, reason: Option<&str>, ordinary: bool) -> R {
        let start = at;
        self.store.order_correction(
            case,
            &self.officer,
            start,
            start + DAY,
            vec!["整改".into()],
        )?;
        if ordinary {
            self.store
                .record_step(case, self.step(StepKind::Filing, start + 1))?;
            self.store.record_step(
                case,
                StepInput {
                    officers: vec![self.officer.clone(), self.colleague.clone()],
                    ..self.step(StepKind::Investigation, start + 2)
                },
            )?;
            self.store.record_step(
                case,
                StepInput {
                    proposed: Some(ProposedPenalty {
                        penalty: PenaltyKind::Fine,
                        amount_yuan: amount,
                    }),
                    hearing_right_notified: true,
                    ..self.step(StepKind::PriorNotice, start + 3)
                },
            )?;
            self.store
                .record_step(case, self.step(StepKind::HearingWaived, start + 4))?;
        }
        self.store.decide_penalty(
            case,
            PenaltyRequest {
                by: self.officer.clone(),
                at_ms: if ordinary { at + 10 * DAY } else { at + 1 },
                tier: None,
                amount_yuan: amount,
                reason: reason.map(String::from),
                penalty: PenaltyKind::Fine,
                procedure: if ordinary {
                    Procedure::Ordinary
                } else {
                    Procedure::Simple
                },
                construction_cost_yuan: None,
            },
        )?;
        Ok(())
    }
}

/// Creates units and users (if missing), starts a loopback server over `state`, enrols two
/// phones under `tmp`, records the cases and syncs them; the server is stopped on return.
pub async fn seed(state: AppState, tmp: &Path) -> R<Seeded> {
    let st = state.storage.as_ref();
    for (path, name) in [
        ("luan", "六安市城管局"),
        ("luan/jinan", "金安区城管局"),
        ("luan/jinan/squad-1", "金安区一中队"),
        ("luan/yuan", "裕安区城管局"),
    ] {
        admin::create_unit(st, path, name).await?;
    }
    for (id, name, role, unit) in [
        ("OF-1", "王队员", Role::Officer, "luan/jinan/squad-1"),
        ("OF-3", "陈队员", Role::Officer, "luan/jinan/squad-1"),
        ("OF-2", "赵队员", Role::Officer, "luan/yuan"),
        ("OF-4", "钱队员", Role::Officer, "luan/yuan"),
        ("RV-1", "法制审核员", Role::Reviewer, "luan"),
        ("SV-1", "金安督查", Role::Supervisor, "luan/jinan"),
        ("SV-0", "市局督查", Role::Supervisor, "luan"),
        ("VL-1", "志愿者", Role::Volunteer, "luan/jinan"),
    ] {
        admin::create_user(st, id, name, role, unit).await?;
    }
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
    let mut phones = Vec::new();
    for (user, colleague, unit, file) in [
        ("OF-1", "OF-3", "luan/jinan/squad-1", "phone1.db"),
        ("OF-2", "OF-4", "luan/yuan", "phone2.db"),
    ] {
        let code = admin::create_code(st, user, 1, None, None).await?.code;
        let path = tmp.join(file);
        let device_id = {
            let store =
                FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("unenrolled"))?;
            let key = store.device_public_key()?;
            client.enrol(&store, &code, &key, user).await?.device_id
        };
        let store = FieldStore::open(
            &path,
            StoreConfig::insecure_plain_for_tests(device_id.clone()),
        )?;
        phones.push((
            Phone {
                store,
                officer: user.into(),
                colleague: colleague.into(),
                unit: unit.into(),
            },
            path,
            device_id,
        ));
    }
    let now = fieldcase_core::ids::now_ms();
    let t0 = now - 20 * DAY;
    let cat = phones[0].0.store.catalogue();
    let exempt_item = cat
        .items()
        .find(|i| {
            i.exemption.allows(ExemptionKind::FirstOffence)
                && i.applies_to.contains(&PartyType::Person)
                && !i.exemption.exempt_tiers.is_empty()
        })
        .ok_or("no exemptible item")?
        .clone();
    let (fine_item, small_tier) = cat
        .items()
        .find_map(|i| {
            i.tiers
                .iter()
                .find(|t| {
                    t.party_type == PartyType::Person
                        && t.penalty == PenaltyKind::Fine
                        && t.min_yuan.is_some_and(|m| m > 0 && m <= 200)
                })
                .map(|t| (i.clone(), t.clone()))
        })
        .ok_or("no item with a small fine")?;
    // On the spot within the simple procedure's cap; the "major" decisions go through the
    // ordinary procedure, which the Lu'an profile sends to legal review.
    let small_amount = small_tier.min_yuan.unwrap_or(0);
    let major_amount = small_tier.max_yuan.unwrap_or(0);
    let _ = &fine_item;

    let p1 = &phones[0].0;
    // A first-offence exemption on a pledge that lapsed uncorrected; its follow-up is overdue.
    let pa = p1.party("欧阳金花", "341502198803037778", "13955550123")?;
    let lapsed = p1.case(
        Some(pa),
        &exempt_item.code,
        &exempt_item.exemption.exempt_tiers[0],
        t0,
        31.7301,
        false,
    )?;
    p1.store.grant_exemption(
        &lapsed,
        ExemptionRequest {
            by: "OF-1".into(),
            at_ms: t0 + 1_000,
            minor: true,
            no_harm: true,
            pledge: Some(PledgeInput {
                text: "本人承诺三日内整改".into(),
                signature_evidence_id: None,
                deadline_ms: Some(t0 + 3 * DAY),
                signed_at_ms: t0 + 1_000,
            }),
        },
    )?;
    p1.store
        .schedule_follow_up(&lapsed, "OF-1", t0 + 3 * DAY, Some("核查整改"))?;
    // An effective small penalty at the same place; a follow-up due in two days.
    let pb = p1.party("张三丰", "341502199001011239", "13866661234")?;
    let small = p1.case(
        Some(pb),
        &fine_item.code,
        &small_tier.tier,
        t0 + DAY,
        31.7302,
        false,
    )?;
    p1.penalty(&small, t0 + DAY + 1_000, small_amount, None, false)?;
    p1.store
        .schedule_follow_up(&small, "OF-1", now + 2 * DAY, Some("回访"))?;
    // Two major decisions awaiting legal review.
    let pc = p1.party("李小龙", "34150219750202555X", "13700001111")?;
    let major_a = p1.case(
        Some(pc),
        &fine_item.code,
        &small_tier.tier,
        t0 + 2 * DAY,
        31.75,
        false,
    )?;
    // The scene: a photo and the officer's recording of the persuasion, as a phone captures
    // them (files the camera and recorder wrote, ingested, signed and later uploaded).
    let photo_file = tmp.join("scene.jpg");
    std::fs::write(&photo_file, demo_jpeg(640, 480)?)?;
    let photo_id = p1
        .store
        .add_photo(&major_a, &photo_file, p1.capture(t0 + 2 * DAY + 200))?
        .id;
    let audio_file = tmp.join("persuasion.wav");
    std::fs::write(&audio_file, demo_wav(1_500))?;
    let audio_id = p1
        .store
        .add_audio(&major_a, &audio_file, p1.capture(t0 + 2 * DAY + 300), None)?
        .id;
    p1.penalty(
        &major_a,
        t0 + 2 * DAY + 1_000,
        major_amount,
        Some("情节严重，多次劝导拒不整改"),
        true,
    )?;
    let pd = p1.party("钱多多", "341502198212126664", "13700002222")?;
    let major_b = p1.case(
        Some(pd),
        &fine_item.code,
        &small_tier.tier,
        t0 + 3 * DAY,
        31.76,
        false,
    )?;
    p1.penalty(
        &major_b,
        t0 + 3 * DAY + 1_000,
        major_amount,
        Some("情节严重"),
        true,
    )?;
    // A case involving a minor: effective, never published.
    let pe = p1.party("孙小小", "341502201001018887", "13700003333")?;
    let minor = p1.case(
        Some(pe),
        &fine_item.code,
        &small_tier.tier,
        t0 + 4 * DAY,
        31.77,
        true,
    )?;
    p1.penalty(&minor, t0 + 4 * DAY + 1_000, small_amount, None, false)?;
    p1.store.record_demonstration(NewDemonstration {
        unit: "luan/jinan/squad-1".into(),
        team: "一中队志愿服务队".into(),
        participants: vec!["OF-1".into()],
        place: place("六安市金安区梅山中路", 31.7301),
        started_at_ms: t0 + 5 * DAY,
        ended_at_ms: t0 + 5 * DAY + 3_600_000,
        topic: "门前三包".into(),
        people_persuaded: 12,
        note: None,
        by: "OF-1".into(),
    })?;

    let p2 = &phones[1].0;
    let pg = p2.party("周一一", "341502196601019994", "13700004444")?;
    let yuan = p2.case(
        Some(pg),
        &fine_item.code,
        &small_tier.tier,
        t0 + DAY,
        31.70,
        false,
    )?;
    p2.penalty(&yuan, t0 + DAY + 1_000, small_amount, None, false)?;

    for (phone, _, _) in &phones {
        let report = client.sync(&phone.store).await?;
        if report.rejected != 0 {
            return Err(format!("{} documents rejected", report.rejected).into());
        }
    }
    server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(Seeded {
        now_ms: now,
        phone1: phones[0].1.clone(),
        device1: phones[0].2.clone(),
        phone2: phones[1].1.clone(),
        lapsed,
        small,
        major_a,
        photo_id,
        audio_id,
        major_b,
        minor,
        yuan,
    })
}

#[tokio::main]
async fn main() -> R {
    let data = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: seed_demo DATA_DIR")?;
    let state = AppState::open_dir(&data).await?;
    let phones = data.join("demo-phones");
    std::fs::create_dir_all(&phones)?;
    let s = seed(state, &phones).await?;
    println!(
        "seeded 6 cases and 1 demonstration; pending review: {} {}",
        s.major_a, s.major_b
    );
    Ok(())
}
