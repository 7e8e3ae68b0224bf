use super::*;
use std::collections::BTreeSet;

type R = std::result::Result<(), Box<dyn std::error::Error>>;

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn pointer<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

#[test]
fn every_ref_resolves_and_every_route_is_described() -> R {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["jsonSchemaDialect"], DIALECT);
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(
        all.len() > 50,
        "schemas are referenced, not inlined: {}",
        all.len()
    );
    for r in &all {
        assert!(
            r.starts_with("#/components/schemas/"),
            "{r} is not a component"
        );
        assert!(pointer(&doc, r).is_some(), "{r} does not resolve");
    }
    let schemes = &doc["components"]["securitySchemes"];
    for (method, path, summary) in ROUTES {
        let op = &doc["paths"][path][method];
        assert_eq!(op["summary"], *summary, "{method} {path}");
        let statuses: Vec<u16> = op["responses"]
            .as_object()
            .ok_or("responses")?
            .keys()
            .map(|k| k.parse())
            .collect::<std::result::Result<_, _>>()?;
        assert!(
            statuses.iter().any(|s| (200..400).contains(s)),
            "{method} {path} has no success reply: {statuses:?}"
        );
        // Every error reply is an ErrorBody, but readiness: its 503 is the check's answer.
        for s in statuses.iter().filter(|s| **s >= 400 && *path != "/readyz") {
            if let Some(c) =
                op["responses"][s.to_string()]["content"]["application/json"].get("schema")
            {
                assert_eq!(
                    c["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {s}"
                );
            }
        }
        for req in op["security"].as_array().ok_or("security")? {
            for name in req.as_object().ok_or("requirement")?.keys() {
                assert!(schemes[name].is_object(), "{method} {path}: {name}");
            }
        }
        for name in path_params(path) {
            assert!(
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path")),
                "{method} {path}: {name}"
            );
        }
    }
    let ops: usize = doc["paths"]
        .as_object()
        .ok_or("paths")?
        .values()
        .map(|p| p.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(ops, ROUTES.len(), "no operation beyond ROUTES");
    // Who may call what.
    assert_eq!(doc["paths"]["/v1/enrol"]["post"]["security"], json!([]));
    assert_eq!(
        doc["paths"]["/v1/sync"]["post"]["security"],
        json!([{"bearer": []}])
    );
    assert_eq!(
        doc["paths"]["/dashboard"]["get"]["security"],
        json!([{"session": []}])
    );
    Ok(())
}

#[test]
fn bodies_and_queries_come_from_the_handlers_types() -> R {
    let doc = openapi();
    let sync = &doc["paths"]["/v1/sync"]["post"];
    for media in ["application/json", "application/cbor"] {
        assert_eq!(
            sync["requestBody"]["content"][media]["schema"]["$ref"],
            "#/components/schemas/SyncRequest"
        );
        assert_eq!(
            sync["responses"]["200"]["content"][media]["schema"]["$ref"],
            "#/components/schemas/SyncResponse"
        );
    }
    let put = &doc["paths"]["/v1/blobs/{sha256}"]["put"];
    assert!(put["requestBody"]["content"]["application/octet-stream"].is_object());
    let names: BTreeSet<(&str, bool)> = put["parameters"]
        .as_array()
        .ok_or("params")?
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| Some((p["name"].as_str()?, p["required"].as_bool()?)))
        .collect();
    assert_eq!(names, BTreeSet::from([("offset", true), ("total", true)]));
    let stats = doc["paths"]["/v1/stats"]["get"]["parameters"]
        .as_array()
        .ok_or("stats params")?;
    for p in stats {
        assert_eq!(p["required"], false, "{p}");
        assert_ne!(p["schema"]["type"], json!(null), "{p}");
        assert!(
            !p["schema"]["type"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("null"))),
            "a query cannot carry null: {p}"
        );
    }
    // The wire's byte fields are described as they travel in JSON.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["DocPush"]["properties"]["changes"]["contentEncoding"],
        "base64"
    );
    assert_eq!(
        schemas["DocPush"]["properties"]["have_heads"]["items"]["pattern"],
        "^[0-9a-f]{64}$"
    );
    assert_eq!(
        schemas["SignedCatalogue"]["properties"]["bundle"]["type"],
        "string"
    );
    Ok(())
}

/// The hand-written schemas of `schemas/wire/` (kept for clients that read them without the
/// server) name the same required fields as the generated ones, and no field the types lack.
#[test]
fn generated_schemas_agree_with_the_hand_written_ones() -> R {
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/wire");
    let pairs = [
        ("sync-request", "", "SyncRequest"),
        ("sync-request", "doc_push", "DocPush"),
        ("sync-response", "", "SyncResponse"),
        ("sync-response", "doc_result", "DocResult"),
        ("sync-response", "feed_entry", "FeedEntry"),
        ("sync-response", "signed_catalogue", "SignedCatalogue"),
        ("enrol-request", "", "EnrolRequest"),
        ("enrol-response", "", "EnrolResponse"),
        ("blob-status", "", "BlobStatus"),
        ("device-keys-response", "", "DeviceKeysResponse"),
        ("error", "", "ErrorBody"),
    ];
    let names = |v: &Value, key: &str| -> BTreeSet<String> {
        match &v[key] {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            Value::Object(m) => m.keys().cloned().collect(),
            _ => BTreeSet::new(),
        }
    };
    for (file, def, component) in pairs {
        let hand: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{file}.schema.json")))?)?;
        let hand = if def.is_empty() {
            &hand
        } else {
            &hand["$defs"][def]
        };
        let generated = &schemas[component];
        assert!(generated.is_object(), "{component} generated");
        assert_eq!(
            names(hand, "required"),
            names(generated, "required"),
            "{file} {def} vs {component}: required"
        );
        let extra: Vec<String> = names(hand, "properties")
            .difference(&names(generated, "properties"))
            .cloned()
            .collect();
        assert!(
            extra.is_empty(),
            "{file} {def} names fields {component} lacks: {extra:?}"
        );
    }
    Ok(())
}

/// Writes the document to `target/openapi.json` for a person to read
/// (`cargo test -p fieldcase-server --lib openapi -- --ignored`).
#[test]
#[ignore]
fn write_the_document() -> R {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/openapi.json");
    std::fs::write(out, serde_json::to_vec_pretty(&openapi())?)?;
    Ok(())
}
