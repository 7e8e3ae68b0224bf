//! `cargo fuzz run catalogue`: the body is `fieldcase_tests::fuzz_targets::catalogue`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fieldcase_tests::fuzz_targets::catalogue(data);
});
