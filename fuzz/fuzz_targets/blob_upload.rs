//! `cargo fuzz run blob_upload`: the body is `fieldcase_tests::fuzz_targets::blob_upload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fieldcase_tests::fuzz_targets::blob_upload(data);
});
