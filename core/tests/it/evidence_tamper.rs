//! The tamper battery: hundreds of seeded mutations of a store and of an exported package, each
//! of which must be detected, and untouched copies that must verify clean. Defined once, in
//! `tests/src/tamper.rs`, and shared with the reliability battery.

#[path = "../../../tests/src/tamper.rs"]
mod tamper;

#[test]
fn every_mutation_is_detected_and_untouched_copies_verify_clean() {
    const { assert!(tamper::MUTATIONS >= 200) };
    let st = tamper::run(tamper::SEED, tamper::MUTATIONS).expect("every mutation detected");
    assert_eq!(st.mutations, tamper::MUTATIONS);
    assert_eq!(st.clean_copies, 10);
    assert!(st.kinds >= 20, "{} kinds", st.kinds);
}
