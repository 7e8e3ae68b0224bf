//! Evidence entries against their JSON Schema, and recordings that lack their final segment,
//! on phones enrolled with the real server.

use fieldcase_core::CoreError;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer, capture, wav};

const SQUAD: &str = "luan/jinan/squad-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_the_core_writes_match_the_evidence_entry_schema() -> TestResult {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/evidence-entry.schema.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let validator = jsonschema::draft202012::new(&schema).map_err(|e| e.to_string())?;

    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let case = a.case(None, T0)?;
    a.photo(&case, dir.path(), 320, 240, 11)?;
    let rec = fieldcase_core::ids::new_id();
    for i in 0..2u32 {
        let file = dir.path().join(format!("seg{i}.wav"));
        std::fs::write(&file, wav(16_000, 20 + u64::from(i)))?;
        a.store.add_audio(
            &case,
            &file,
            capture("OF-A", T0 + i64::from(i)),
            Some(fieldcase_core::evidence::SegmentInfo {
                recording_id: rec.clone(),
                index: i,
                last: i == 1,
            }),
        )?;
    }
    let json = a.store.record_json(&case)?;
    let entries = json["evidence"].as_array().ok_or("no evidence list")?;
    assert_eq!(entries.len(), 3);
    for e in entries {
        let errors: Vec<String> = validator.iter_errors(e).map(|x| x.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{e}");
    }
    assert_eq!(entries[2]["segment"]["final"], serde_json::json!(true));
    // The schema is not vacuous.
    let mut bad = entries[0].clone();
    bad["original"]["sha256"] = serde_json::json!("XYZ");
    assert!(!validator.is_valid(&bad));
    let mut extra = entries[0].clone();
    extra["surprise"] = serde_json::json!(1);
    assert!(!validator.is_valid(&extra));
    // Untouched: clean, and the finished recording is not listed as open.
    let v = a.store.verify_case(&case)?;
    assert!(v.is_clean(), "{:?}", v.issues);
    assert!(v.open_recordings.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_without_its_final_segment_is_open_on_the_phone_and_incomplete_in_a_package()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let case = a.case(None, T0)?;
    let rec = fieldcase_core::ids::new_id();
    let seg = |i: u32, last: bool| fieldcase_core::evidence::SegmentInfo {
        recording_id: rec.clone(),
        index: i,
        last,
    };
    for i in 0..2u32 {
        let file = dir.path().join(format!("seg{i}.wav"));
        std::fs::write(&file, wav(8_000, 40 + u64::from(i)))?;
        a.store
            .add_audio(&case, &file, capture("OF-A", T0), Some(seg(i, false)))?;
    }
    let v = a.store.verify_case(&case)?;
    assert!(v.is_clean(), "{:?}", v.issues);
    assert_eq!(v.open_recordings, vec![rec.clone()]);

    let pkg = dir.path().join("open.zip");
    a.store.export_case_package(&case, &pkg)?;
    let p = fieldcase_core::evidence::verify_package(&pkg)?;
    assert!(
        p.has(fieldcase_core::evidence::IssueKind::SegmentChainIncomplete),
        "{:?}",
        p.issues
    );

    // The final segment closes the chain; nothing may follow it.
    let last = dir.path().join("seg2.wav");
    std::fs::write(&last, wav(8_000, 42))?;
    a.store
        .add_audio(&case, &last, capture("OF-A", T0), Some(seg(2, true)))?;
    let more = dir.path().join("seg3.wav");
    std::fs::write(&more, wav(8_000, 43))?;
    let r = a
        .store
        .add_audio(&case, &more, capture("OF-A", T0), Some(seg(3, false)));
    assert!(
        matches!(r, Err(CoreError::SegmentOutOfOrder { index: 3, .. })),
        "{r:?}"
    );
    let v = a.store.verify_case(&case)?;
    assert!(v.is_clean() && v.open_recordings.is_empty(), "{v:?}");
    a.store.export_case_package(&case, &pkg)?;
    let p = fieldcase_core::evidence::verify_package(&pkg)?;
    assert!(p.is_clean(), "{:?}", p.issues);
    Ok(())
}
