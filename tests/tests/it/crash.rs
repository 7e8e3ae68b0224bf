//! Kill -9 during writes (Invariant 1, R1): 0 acknowledged records lost, 0 damaged files.

use fieldcase_tests::crash::{CrashConfig, crash_loop};
use std::path::Path;
use std::time::Duration;

#[test]
fn sigkill_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = crash_loop(
        Path::new(env!("CARGO_BIN_EXE_crash-writer")),
        &[],
        dir.path(),
        CrashConfig {
            kills: 120,
            seed: 0x5EED_0001,
            max_delay: Duration::from_millis(150),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.kills, 120);
    // Most kills must land while the writer is writing, not before it started.
    assert!(report.kills_before_first_ack < 60, "{report:?}");
    assert!(
        report.acked_cases + report.acked_actions > 150,
        "{report:?}"
    );
    eprintln!("{report:?}");
}
