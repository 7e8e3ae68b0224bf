//! Who wrote a change: the user and device a rule check attributes it to, and what the checker
//! may look up about other users.
//!
//! The phone knows only itself (the enrolled user and this device); the server knows every
//! user and device. Rules that name other people (the second officer present) therefore ask a
//! [`Directory`], which on the phone answers "unknown" and on the server answers for real: the
//! phone lets such a name through and the server, which re-runs every rule, decides.

use serde::{Deserialize, Serialize};

/// The roles of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Patrol officer: records cases, parties, demonstrations of the unit subtree.
    Officer,
    /// Volunteer: demonstrations only; never receives personal data.
    Volunteer,
    /// Legal reviewer: reads the subtree, writes reviews of decisions.
    Reviewer,
    /// Supervisor: reads the subtree.
    Supervisor,
    /// Server operator: no document access.
    Operator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Officer,
        Role::Volunteer,
        Role::Reviewer,
        Role::Supervisor,
        Role::Operator,
    ];

    /// The identifier stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::Volunteer => "volunteer",
            Role::Reviewer => "reviewer",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
        }
    }

    /// Parses the identifier.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Whether `unit` lies in the subtree rooted at `scope` (`luan/jinan` covers
/// `luan/jinan/squad-1`, not `luan/jinanx`).
pub fn unit_in_scope(unit: &str, scope: &str) -> bool {
    unit == scope
        || (unit.len() > scope.len()
            && unit.starts_with(scope)
            && unit.as_bytes()[scope.len()] == b'/')
}

/// The author a change is checked as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// User id (officer or volunteer number, or a UUID).
    pub user_id: String,
    /// The user's role.
    pub role: Role,
    /// The user's unit path.
    pub unit: String,
    /// The device the change came from.
    pub device_id: String,
    /// The device's ed25519 public key (hex): what its signatures must verify under.
    pub device_key: Option<String>,
    /// Keys a review written through this channel may be signed with: the device key for a
    /// reviewer's phone, the server's review key for the review service.
    pub review_keys: Vec<String>,
}

impl Author {
    /// An author writing from their own device (sync or the phone itself).
    pub fn device(
        user_id: impl Into<String>,
        role: Role,
        unit: impl Into<String>,
        device_id: impl Into<String>,
        device_key: Option<String>,
    ) -> Self {
        Author {
            user_id: user_id.into(),
            role,
            unit: unit.into(),
            device_id: device_id.into(),
            review_keys: device_key.iter().cloned().collect(),
            device_key,
        }
    }
}

/// What a user is, as far as the rules need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Role.
    pub role: Role,
    /// Unit path.
    pub unit: String,
    /// Full name, as documents print it (empty when not known).
    pub name: String,
    /// Enforcement certificate number (执法证号) of an officer, when entered.
    pub cert_no: Option<String>,
}

/// Look-ups of other users.
pub trait Directory {
    /// The user `id`, if known.
    fn user(&self, id: &str) -> Option<UserInfo>;
    /// Whether [`Directory::user`] knows every user: then an unknown id is refused. A phone's
    /// directory is partial, and lets unknown ids through for the server to decide.
    fn complete(&self) -> bool;
}

/// The directory of a device that knows no one: every other user is unknown and allowed (the
/// server re-checks).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

impl Directory for NoDirectory {
    fn user(&self, _id: &str) -> Option<UserInfo> {
        None
    }

    fn complete(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_is_by_path_segment() {
        assert!(unit_in_scope("luan/jinan/squad-1", "luan/jinan"));
        assert!(unit_in_scope("luan/jinan", "luan/jinan"));
        assert!(!unit_in_scope("luan/jinanx", "luan/jinan"));
        assert!(!unit_in_scope("luan", "luan/jinan"));
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
