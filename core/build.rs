//! Embeds the catalogue files of `schemas/catalogue/base/` and of the default profile
//! (`schemas/catalogue/profiles/cn-ah-la/`) as the built-in catalogue, and compiles the
//! message catalogue (`core/messages/*.toml`) into a sorted static table.
//!
//! The messages are checked here, not at run time: a code defined twice, a text missing in
//! one language, an empty text or placeholders that differ between the languages fail the
//! build, so the phone library never parses TOML and never meets a broken entry.

use std::collections::{BTreeMap, BTreeSet};
use std::{env, fs, path::Path, path::PathBuf};

/// The languages every message must have, in the order of the generated tuples.
const LANGS: [&str; 2] = ["zh-CN", "en"];

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
    let messages =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("messages");
    if let Err(e) = fs::write(dest.join("messages.rs"), message_table(&messages)) {
        panic!("cannot write messages.rs: {e}");
    }
}

/// Reads every `*.toml` of `dir` (whoever added it) into `&[(code, zh-CN, en)]`, sorted by
/// code for a binary search.
fn message_table(dir: &Path) -> String {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the message folder {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    if files.is_empty() {
        panic!("no message files in {}", dir.display());
    }
    // code -> (file, [zh-CN, en])
    let mut all: BTreeMap<String, (String, [String; 2])> = BTreeMap::new();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        let table: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not valid TOML: {e}"));
        for (code, entry) in table {
            let entry = entry
                .as_table()
                .unwrap_or_else(|| panic!("{name}: [\"{code}\"] is not a table"));
            if !code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            {
                panic!("{name}: code {code:?} must be lower-case ASCII, digits, '.', '_' or '-'");
            }
            if let Some(k) = entry.keys().find(|k| !LANGS.contains(&k.as_str())) {
                panic!("{name}: [\"{code}\"] has an unknown language {k:?}");
            }
            let texts = LANGS.map(|lang| match entry.get(lang).and_then(|v| v.as_str()) {
                Some(t) if !t.trim().is_empty() => t.to_string(),
                _ => panic!("{name}: [\"{code}\"] has no {lang} text"),
            });
            if placeholders(&texts[0]) != placeholders(&texts[1]) {
                panic!("{name}: [\"{code}\"] names different placeholders in zh-CN and en");
            }
            if let Some((other, _)) = all.get(&code) {
                panic!("message code {code:?} is defined twice: in {other} and in {name}");
            }
            all.insert(code, (name.clone(), texts));
        }
    }
    let mut out = String::from("&[\n");
    for (code, (_, [zh, en])) in &all {
        out.push_str(&format!("({code:?}, {zh:?}, {en:?}),\n"));
    }
    out.push(']');
    out
}

/// The `{name}` placeholders of a text.
fn placeholders(text: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.insert(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}
