//! What the rules look up on the server: the users a record names and the author a device's
//! push is checked as. The check itself is core's merge step ([`fieldcase_core::engine::judge`]),
//! the same rules the phone applied before it wrote the change.

use crate::storage::User;
use fieldcase_core::rules::{Author, Directory, UserInfo};
use serde_json::Value;
use std::collections::HashMap;

pub use fieldcase_core::engine::{Accepted, blob_refs};

/// Users the server knows, as the rules look them up: complete, so an unknown id is refused.
#[derive(Debug, Clone, Default)]
pub struct Users(pub HashMap<String, UserInfo>);

impl Directory for Users {
    fn user(&self, id: &str) -> Option<UserInfo> {
        self.0.get(id).cloned()
    }

    fn complete(&self) -> bool {
        true
    }
}

impl Users {
    /// Adds a user.
    pub fn insert(&mut self, u: &User) {
        self.insert_with_cert(u, None);
    }

    /// Adds a user with its certificate number (what documents print).
    pub fn insert_with_cert(&mut self, u: &User, cert_no: Option<String>) {
        self.0.insert(
            u.id.clone(),
            UserInfo {
                role: u.role,
                unit: u.unit.clone(),
                name: u.name.clone(),
                cert_no,
            },
        );
    }
}

/// The ids of the officers a case record names (what [`Users`] must hold to check it).
pub fn named_officers(json: &Value) -> Vec<String> {
    json.get("officers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The author a device's push is checked as: its user, and the device's key for everything it
/// signs (reviews included).
pub fn device_author(user: &User, device_id: &str, device_key: &str) -> Author {
    Author::device(
        user.id.clone(),
        user.role,
        user.unit.clone(),
        device_id,
        Some(device_key.to_ascii_lowercase()),
    )
}
