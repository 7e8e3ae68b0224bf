//! `cargo fuzz run sync_request`: the body is `fieldcase_tests::fuzz_targets::sync_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fieldcase_tests::fuzz_targets::sync_request(data);
});
