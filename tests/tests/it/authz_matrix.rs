//! The authorisation matrix (see `fieldcase_tests::authz`): every role x operation x unit
//! cell, through real phones and a real server.

use fieldcase_tests::authz::{CELLS, run_matrix};
use fieldcase_tests::harness::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_operation_and_unit_cell() -> TestResult {
    let dir = tempfile::tempdir()?;
    assert_eq!(run_matrix(dir.path(), 1).await?, CELLS);
    Ok(())
}
