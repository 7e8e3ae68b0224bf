//! `GET /openapi.json`: the OpenAPI 3.1 description of every route of [`ROUTES`], its schemas
//! derived (schemars, JSON Schema 2020-12) from the very types the handlers decode and encode,
//! so the description cannot drift from the server: a field added to a wire type appears in
//! the next build's document. What a type cannot say (status codes, content types, who may
//! call) is stated per route in [`operations`], next to the handler it describes; a test
//! sends real requests and checks the replies against the schemas.

mod operations;

use crate::ops::ROUTES;
use fieldcase_core::sync::wire::ErrorBody;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// The JSON Schema dialect of the schemas (OpenAPI 3.1's own).
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone (health, enrolment with its one-time code, public disclosure).
    Public,
    /// An enrolled device's bearer credential.
    Device,
    /// A device's credential or a dashboard session (the supervision routes take both).
    DeviceOrSession,
    /// A dashboard session cookie.
    Session,
}

/// The parts of one operation a handler's types do not carry.
#[derive(Debug)]
pub(crate) struct Op {
    access: Access,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Map<String, Value>,
}

impl Op {
    pub(crate) fn new(access: Access) -> Op {
        Op {
            access,
            parameters: Vec::new(),
            body: None,
            responses: Map::new(),
        }
    }

    /// A reply: `content` maps media types to schemas (empty for none).
    pub(crate) fn reply(mut self, status: u16, description: &str, content: Value) -> Op {
        let mut r = json!({ "description": description });
        if content.as_object().is_some_and(|c| !c.is_empty()) {
            r["content"] = content;
        }
        self.responses.insert(status.to_string(), r);
        self
    }

    /// Adds a header to the reply of `status` (already added).
    pub(crate) fn header(
        mut self,
        status: u16,
        name: &str,
        description: &str,
        schema: Value,
    ) -> Op {
        if let Some(r) = self.responses.get_mut(&status.to_string()) {
            r["headers"][name] = json!({"description": description, "schema": schema});
        }
        self
    }

    pub(crate) fn param(mut self, name: &str, place: &str, required: bool, schema: Value) -> Op {
        self.parameters.push(json!({
            "name": name, "in": place, "required": required, "schema": schema,
        }));
        self
    }

    pub(crate) fn body(mut self, content: Value) -> Op {
        self.body = Some(json!({"required": true, "content": content}));
        self
    }
}

/// The schema generator shared by every route, so each type is one component.
pub(crate) struct Schemas {
    generator: SchemaGenerator,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas").finish_non_exhaustive()
    }
}

impl Schemas {
    fn new() -> Schemas {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        });
        Schemas {
            generator: settings.into_generator(),
        }
    }

    /// `T`'s schema: a `$ref` into `components/schemas` for a named type.
    pub(crate) fn of<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    /// `{"application/json": {"schema": T}}`.
    pub(crate) fn json<T: JsonSchema>(&mut self) -> Value {
        json!({"application/json": {"schema": self.of::<T>()}})
    }

    /// The error body, as JSON (every error reply is JSON, whatever the route serves).
    pub(crate) fn error(&mut self) -> Value {
        self.json::<ErrorBody>()
    }

    /// The query parameters of a handler's query struct `T`, one per property.
    pub(crate) fn query<T: JsonSchema>(&mut self) -> Vec<Value> {
        let inline = SchemaSettings::draft2020_12()
            .with(|s| {
                s.inline_subschemas = true;
                s.meta_schema = None;
            })
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value();
        let required: Vec<&str> = inline["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(props) = inline["properties"].as_object() else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(name, schema)| {
                let mut schema = schema.clone();
                let description = schema.as_object_mut().and_then(|s| s.remove("description"));
                // An absent parameter is the `None`: a query string cannot carry a null.
                if let Some(types) = schema["type"].as_array() {
                    let types: Vec<Value> =
                        types.iter().filter(|t| *t != "null").cloned().collect();
                    schema["type"] = match types.as_slice() {
                        [one] => one.clone(),
                        _ => Value::Array(types),
                    };
                }
                let mut p = json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&name.as_str()),
                    "schema": schema,
                });
                if let Some(d) = description {
                    p["description"] = d;
                }
                p
            })
            .collect()
    }
}

/// The OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut schemas = Schemas::new();
    let mut paths = Map::new();
    for (method, path, summary) in ROUTES {
        let op = operations::operation(&mut schemas, method, path);
        let mut entry = json!({
            "summary": summary,
            "operationId": operation_id(method, path),
            "responses": op.responses,
        });
        let mut params = op.parameters;
        for name in path_params(path) {
            if !params
                .iter()
                .any(|p| p["name"] == name && p["in"] == "path")
            {
                params.push(json!({
                    "name": name, "in": "path", "required": true,
                    "schema": operations::path_param_schema(name),
                }));
            }
        }
        if !params.is_empty() {
            entry["parameters"] = Value::Array(params);
        }
        if let Some(b) = op.body {
            entry["requestBody"] = b;
        }
        entry["security"] = match op.access {
            Access::Public => json!([]),
            Access::Device => json!([{"bearer": []}]),
            Access::DeviceOrSession => json!([{"bearer": []}, {"session": []}]),
            Access::Session => json!([{"session": []}]),
        };
        let slot = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        if let Some(m) = slot.as_object_mut() {
            m.insert(method.to_string(), entry);
        }
    }
    let components = schemas.generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": DIALECT,
        "info": {
            "title": "fieldcase sync server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sync protocol v1 (docs/sync-protocol.md), blobs, enrolment, supervision and public disclosure. Every error reply is an ErrorBody in JSON.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http", "scheme": "bearer",
                    "description": "The device credential from POST /v1/enrol",
                },
                "session": {
                    "type": "apiKey", "in": "cookie",
                    "name": crate::supervision::routes::SESSION_COOKIE,
                    "description": "A dashboard session, from a one-time login link (GET /login)",
                },
            },
        },
    })
}

/// `{name}` segments of a path, in order.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// A stable id per operation (`get_v1_blobs_sha256_status`), for generated clients.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| !matches!(c, '{' | '}'))
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// `GET /openapi.json`.
pub async fn openapi_route() -> axum::Json<Value> {
    axum::Json(openapi())
}

#[cfg(test)]
mod tests;
