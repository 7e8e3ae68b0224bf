//! Embeds the catalogue files of `schemas/catalogue/base/` and of the default profile
//! (`schemas/catalogue/profiles/cn-ah-la/`) as the built-in catalogue.

use std::{env, fs, path::PathBuf};

/// The profile compiled in; `catalogue::bundle::BUILTIN_PROFILE` names the same.
const PROFILE: &str = "cn-ah-la";

fn main() {
    // Read at build-script run time (not through `env!`), and fail loudly: a build without
    // the catalogue would give a library whose every store refuses to open.
    let manifest =
        env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| panic!("CARGO_MANIFEST_DIR unset"));
    let root = PathBuf::from(manifest).join("../schemas/catalogue");
    let mut out = String::from("[\n");
    for sub in ["base".to_string(), format!("profiles/{PROFILE}")] {
        let dir = root.join(&sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read the catalogue folder {}: {e}", dir.display()));
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        if files.is_empty() {
            panic!("no catalogue files in {}", dir.display());
        }
        for f in &files {
            println!("cargo:rerun-if-changed={}", f.display());
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            out.push_str(&format!(
                "({:?}, include_str!({:?})),\n",
                format!("{sub}/{name}"),
                f.display().to_string()
            ));
        }
    }
    out.push(']');
    let dest = PathBuf::from(env::var("OUT_DIR").unwrap_or_else(|_| panic!("OUT_DIR unset")));
    if let Err(e) = fs::write(dest.join("catalogue_files.rs"), out) {
        panic!("cannot write catalogue_files.rs: {e}");
    }
}
