//! The authorisation matrix: every role x operation x unit cell, through real phones and a
//! real server (in process, on a loopback port). Users sit at `luan/jinan`; "inside" is
//! `luan/jinan/squad-1`, "outside" is `luan/yuan`. The integration test
//! `tests/tests/it/authz_matrix.rs` and the battery's `authz_matrix` family both run
//! [`run_matrix`]; the seed orders the roles and numbers the records, the verdicts are fixed.

use crate::crash::Rng;
use crate::harness::{Phone, T0, TestResult, TestServer};
use fieldcase_core::model::RecordKind;
use fieldcase_server::storage::Role;
use std::path::Path;

const HOME: &str = "luan/jinan";
const INSIDE: &str = "luan/jinan/squad-1";
const OUTSIDE: &str = "luan/yuan";
const KINDS: [RecordKind; 3] = [
    RecordKind::Case,
    RecordKind::Party,
    RecordKind::Demonstration,
];

/// Cells every run checks: 5 roles x 6 read cells + 5 x 6 create cells + the edit cells of the
/// three roles that read cases.
pub const CELLS: u32 = 5 * 6 + 5 * 6 + 3;

fn expect_read(role: Role, kind: RecordKind, unit: &str) -> bool {
    let kind_ok = match role {
        Role::Officer | Role::Reviewer | Role::Supervisor => true,
        Role::Volunteer => kind == RecordKind::Demonstration,
        Role::Operator => false,
    };
    kind_ok && unit != OUTSIDE
}

fn expect_create(role: Role, kind: RecordKind, unit: &str) -> bool {
    let kind_ok = match role {
        Role::Officer => true,
        Role::Volunteer => kind == RecordKind::Demonstration,
        // Reviewers only review existing cases; supervisors and operators write nothing.
        Role::Reviewer | Role::Supervisor | Role::Operator => false,
    };
    kind_ok && unit != OUTSIDE
}

fn make(p: &mut Phone, kind: RecordKind, unit: &str, n: &mut u32) -> TestResult<String> {
    p.unit = unit.into();
    *n += 1;
    let id = match kind {
        RecordKind::Case => p.case(None, T0 + i64::from(*n))?,
        RecordKind::Party => {
            // A phone not given the party-match key (volunteer, operator) plays a client that
            // is not ours and makes a key of its own: the server must still refuse the party.
            if p.store.party_match_hash("0").is_err() {
                p.store.set_party_match_key(Some([0x5a; 32]))?;
            }
            p.party(&crate::harness::id_number(u64::from(*n % 100_000)))?
        }
        RecordKind::Demonstration => p.demonstration(T0 + i64::from(*n))?,
    };
    Ok(id)
}

fn check(ok: bool, what: impl FnOnce() -> String) -> TestResult {
    if ok { Ok(()) } else { Err(what().into()) }
}

/// Runs the whole matrix against a new server in `dir`; returns the cells checked, or the
/// first cell whose verdict differs from the expected one.
pub async fn run_matrix(dir: &Path, seed: u64) -> TestResult<u32> {
    let s = TestServer::start(&dir.join("server")).await?;
    let mut rng = Rng::new(seed);
    let mut n = (seed % 10_000) as u32 * 100;

    // A bureau-level officer seeds one document of each kind inside and outside.
    let mut seeder = Phone::enrol(&s, &s.url(), dir, "OF-ROOT", Role::Officer, "luan").await?;
    let mut seeded = Vec::new();
    for kind in KINDS {
        for unit in [INSIDE, OUTSIDE] {
            seeded.push((make(&mut seeder, kind, unit, &mut n)?, kind, unit));
        }
    }
    let r = seeder.sync().await?;
    check(r.accepted == 6, || {
        format!("seeding: {} of 6 accepted", r.accepted)
    })?;

    let mut roles = Role::ALL.to_vec();
    for i in (1..roles.len()).rev() {
        roles.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut cells = 0;
    for role in roles {
        let mut p = Phone::enrol(
            &s,
            &s.url(),
            dir,
            &format!("U-{}", role.as_str()),
            role,
            HOME,
        )
        .await?;
        // The server's enforcement is what is measured: this phone plays a client that
        // does not apply our rules before writing.
        p.store.set_local_rule_checks_for_tests(false);
        // Read cells: what the feed delivered.
        p.sync().await?;
        for (id, kind, unit) in &seeded {
            let got = p.store.doc_kind(id)?.is_some();
            check(got == expect_read(role, *kind, unit), || {
                format!(
                    "read: {} {} {unit}: got {got}",
                    role.as_str(),
                    kind.as_str()
                )
            })?;
            cells += 1;
        }
        // Create cells: what the server accepted.
        let mut made = Vec::new();
        for kind in KINDS {
            for unit in [INSIDE, OUTSIDE] {
                made.push((make(&mut p, kind, unit, &mut n)?, kind, unit));
            }
        }
        p.sync().await?;
        let rejected: Vec<String> = p
            .store
            .rejected_docs()?
            .into_iter()
            .map(|r| r.doc_id)
            .collect();
        for (id, kind, unit) in &made {
            let stored = s.storage().load_doc(id).await?.is_some();
            let want = expect_create(role, *kind, unit);
            check(stored == want, || {
                format!(
                    "create: {} {} {unit}: stored {stored}",
                    role.as_str(),
                    kind.as_str()
                )
            })?;
            check(rejected.contains(id) != want, || {
                format!("rejected mark: {} {} {unit}", role.as_str(), kind.as_str())
            })?;
            check(p.store.doc_kind(id)?.is_some(), || {
                format!("a refused {} was not kept on the phone", kind.as_str())
            })?;
            cells += 1;
        }
        // Edit cells: append a note to the seeded inside case (reviewers may not: only reviews).
        let (case_in, _, _) = &seeded[0];
        if p.store.doc_kind(case_in)?.is_some() {
            p.store
                .add_note(case_in, &p.user.clone(), T0 + 99, "note")?;
            let r = p.sync().await?;
            let want = role == Role::Officer;
            check(
                (r.accepted == 1) == want && (r.rejected == 1) != want,
                || format!("edit: {} {r:?}", role.as_str()),
            )?;
            cells += 1;
        }
    }
    check(cells == CELLS, || {
        format!("{cells} cells checked, {CELLS} expected")
    })?;
    s.server.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(cells)
}
