//! Who may read and write what: the one place access decisions are made.
//!
//! A user acts on their unit and every unit under it. Officers read and write cases, parties
//! and demonstrations; volunteers only demonstrations (they never receive a party or case
//! document); reviewers read everything in scope and write cases (only to review decisions,
//! which validation enforces); supervisors read; operators manage devices and read no records.

use crate::storage::{Role, User, unit_in_scope};
use fieldcase_core::model::RecordKind;

/// Kinds a role may read.
pub fn readable_kinds(role: Role) -> &'static [RecordKind] {
    match role {
        Role::Officer | Role::Reviewer | Role::Supervisor => &[
            RecordKind::Case,
            RecordKind::Party,
            RecordKind::Demonstration,
        ],
        Role::Volunteer => &[RecordKind::Demonstration],
        Role::Operator => &[],
    }
}

/// Whether a role's phones receive the bureau key for personal data of the public: those
/// who read party documents. Volunteers and operators never do.
pub fn may_read_pii(role: Role) -> bool {
    readable_kinds(role).contains(&RecordKind::Party)
}

/// Whether a role's phones receive the bureau's party-match key: those that record or read
/// party documents (the same roles as [`may_read_pii`]; they see identity numbers in the
/// sealed data anyway). Anyone else holding it could test guessed identity numbers against
/// match hashes, so volunteers and operators never get it (`docs/security.md`, Keys).
pub fn may_match_parties(role: Role) -> bool {
    may_read_pii(role)
}

/// Kinds a role may write: the rule the phone applies too.
pub use fieldcase_core::rules::writable_kinds;

/// Whether `user` may read a document of `kind` in `unit`.
pub fn can_read(user: &User, kind: RecordKind, unit: &str) -> bool {
    readable_kinds(user.role).contains(&kind) && unit_in_scope(unit, &user.unit)
}

/// Whether `user` may write a document of `kind` in `unit`.
pub fn can_write(user: &User, kind: RecordKind, unit: &str) -> bool {
    writable_kinds(user.role).contains(&kind) && unit_in_scope(unit, &user.unit)
}

/// The unit subtrees the user reads (the feed's scope).
pub fn scopes(user: &User) -> Vec<String> {
    vec![user.unit.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_roles_that_read_parties_get_the_personal_data_key() {
        assert!(may_read_pii(Role::Officer));
        assert!(may_read_pii(Role::Reviewer));
        assert!(may_read_pii(Role::Supervisor));
        assert!(!may_read_pii(Role::Volunteer));
        assert!(!may_read_pii(Role::Operator));
        for role in [Role::Officer, Role::Reviewer, Role::Supervisor] {
            assert!(may_match_parties(role));
        }
        assert!(!may_match_parties(Role::Volunteer));
        assert!(!may_match_parties(Role::Operator));
    }

    fn user(role: Role, unit: &str) -> User {
        User {
            id: "u".into(),
            name: "n".into(),
            role,
            unit: unit.into(),
            created_at_ms: 0,
        }
    }

    #[test]
    fn subtree_and_kind_rules() {
        let o = user(Role::Officer, "luan/jinan");
        assert!(can_write(&o, RecordKind::Party, "luan/jinan/squad-1"));
        assert!(!can_write(&o, RecordKind::Case, "luan/yuan"));
        assert!(!can_read(&o, RecordKind::Case, "luan/jinanx"));
        let v = user(Role::Volunteer, "luan");
        assert!(can_write(&v, RecordKind::Demonstration, "luan/a"));
        assert!(!can_read(&v, RecordKind::Party, "luan/a"));
        assert!(!can_read(&v, RecordKind::Case, "luan/a"));
        let s = user(Role::Supervisor, "luan");
        assert!(can_read(&s, RecordKind::Case, "luan/a"));
        // Supervisors write approvals (负责人批准) on cases, nothing else (the rules check).
        assert!(can_write(&s, RecordKind::Case, "luan/a"));
        assert!(!can_write(&s, RecordKind::Party, "luan/a"));
        let op = user(Role::Operator, "luan");
        assert!(!can_read(&op, RecordKind::Demonstration, "luan"));
    }
}
