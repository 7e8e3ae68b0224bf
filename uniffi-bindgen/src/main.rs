//! `uniffi-bindgen`: writes the Kotlin, Swift and Python bindings of `fieldcase-ffi` from the
//! built library (see `ffi/generate-bindings.sh`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
