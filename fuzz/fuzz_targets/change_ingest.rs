//! `cargo fuzz run change_ingest`: the body is `fieldcase_tests::fuzz_targets::change_ingest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fieldcase_tests::fuzz_targets::change_ingest(data);
});
