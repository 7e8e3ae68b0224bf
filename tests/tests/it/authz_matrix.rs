//! The authorisation matrix: every role x operation x unit cell, through real phones and a
//! real server. Users sit at `luan/jinan`; "inside" is `luan/jinan/squad-1`, "outside" is
//! `luan/yuan`.

use fieldcase_core::model::RecordKind;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};

const HOME: &str = "luan/jinan";
const INSIDE: &str = "luan/jinan/squad-1";
const OUTSIDE: &str = "luan/yuan";
const KINDS: [RecordKind; 3] = [
    RecordKind::Case,
    RecordKind::Party,
    RecordKind::Demonstration,
];

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
        RecordKind::Party => p.party(&format!("3401021990010{:05}", *n))?,
        RecordKind::Demonstration => p.demonstration(T0 + i64::from(*n))?,
    };
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_operation_and_unit_cell() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let mut n = 0u32;

    // A bureau-level officer seeds one document of each kind inside and outside.
    let mut seed = Phone::enrol(&s, &s.url(), dir.path(), "OF-ROOT", Role::Officer, "luan").await?;
    let mut seeded = Vec::new();
    for kind in KINDS {
        for unit in [INSIDE, OUTSIDE] {
            seeded.push((make(&mut seed, kind, unit, &mut n)?, kind, unit));
        }
    }
    let r = seed.sync().await?;
    assert_eq!(r.accepted, 6);

    let mut cells = 0;
    for role in Role::ALL {
        let mut p = Phone::enrol(
            &s,
            &s.url(),
            dir.path(),
            &format!("U-{}", role.as_str()),
            role,
            HOME,
        )
        .await?;
        // Read cells: what the feed delivered.
        p.sync().await?;
        for (id, kind, unit) in &seeded {
            let got = p.store.doc_kind(id)?.is_some();
            assert_eq!(
                got,
                expect_read(role, *kind, unit),
                "read: {} {} {}",
                role.as_str(),
                kind.as_str(),
                unit
            );
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
            assert_eq!(
                stored,
                want,
                "create: {} {} {}",
                role.as_str(),
                kind.as_str(),
                unit
            );
            assert_eq!(
                rejected.contains(id),
                !want,
                "rejected mark {}",
                role.as_str()
            );
            assert!(p.store.doc_kind(id)?.is_some(), "kept on the phone");
            cells += 1;
        }
        // Edit cells: append a note to the seeded inside case (reviewers may not: only reviews).
        let (case_in, _, _) = &seeded[0];
        if p.store.doc_kind(case_in)?.is_some() {
            p.store
                .add_note(case_in, &p.user.clone(), T0 + 99, "note")?;
            let r = p.sync().await?;
            let want = role == Role::Officer;
            assert_eq!(r.accepted == 1, want, "edit: {} {r:?}", role.as_str());
            assert_eq!(r.rejected == 1, !want, "edit: {}", role.as_str());
            cells += 1;
        }
    }
    // 5 roles x 6 read cells + 5 x 6 create cells + the edit cells of roles that read cases.
    assert_eq!(cells, 5 * 6 + 5 * 6 + 3);
    Ok(())
}
