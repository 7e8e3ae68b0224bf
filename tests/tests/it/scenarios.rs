//! The legal scenario table: cases written from the law (行政处罚法 and the items' own
//! articles, under the Lu'an profile), each a sequence of steps whose last is accepted or
//! refused with a stable code. Every row runs two ways against a real server on loopback:
//!
//! - **phone**: enrolled phones with their own rule checks, through the store's API: the last
//!   step must be refused *on the phone*, before anything is written, with the row's code;
//! - **raw**: phones whose checks are off (a client that is not ours), which write what they
//!   are asked and push the raw Automerge changes: the server must refuse the push with the
//!   same code and keep what it had. Run on SQLite and on PostgreSQL.
//!
//! The article behind each row is in its `basis`; `docs/procedure.md` lists the rules.

use fieldcase_core::CoreError;
use fieldcase_core::catalogue::{PartyType, PenaltyKind};
use fieldcase_core::model::{
    CheckPoint, Procedure, ProposedPenalty, ReviewChecklist, ReviewOutcome, StepKind,
};
use fieldcase_core::store::{
    ExemptionRequest, FollowUpInput, NewCase, NewParty, PenaltyRequest, PledgeInput, ReviewInput,
    StepInput,
};
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, TestResult, TestServer, persuasion, pg_url, place};
use std::path::Path;

/// Monday 2 November 2026, 09:00 China time: working-day periods count from here.
const T0: i64 = 1_793_581_200_000;
const SQUAD: &str = "luan/jinan/squad-1";
const fn h(n: i64) -> i64 {
    n * 3_600_000
}
const fn d(n: i64) -> i64 {
    n * 86_400_000
}

/// One step of a scenario, at a time relative to the encounter.
#[derive(Debug, Clone)]
enum Op {
    /// 责令改正 with its deadline.
    Order { at: i64, deadline: i64 },
    /// A follow-up visit and what it found.
    Visit { at: i64, corrected: bool },
    /// 说服教育.
    Educate { at: i64 },
    /// A procedure step by the officer (`two`: with the colleague).
    Step {
        kind: StepKind,
        at: i64,
        two: bool,
        proposed: Option<(PenaltyKind, i64)>,
        hearing: bool,
    },
    /// The decision.
    Decide {
        at: i64,
        penalty: PenaltyKind,
        amount: i64,
        procedure: Procedure,
        reason: bool,
        cost: Option<i64>,
    },
    /// The legal reviewer's review (from the reviewer's phone).
    Review { approve: bool },
    /// The approval, by the head (`head`) or, wrongly, by the officer.
    Approve { at: i64, head: bool },
    /// 送达.
    Serve { at: i64 },
    /// 执行.
    Execute { at: i64 },
    /// An exemption with a pledge to correct within three days.
    Exempt { at: i64 },
    /// 结案.
    Close { at: i64 },
}

/// An earlier case of the same party and item, thirty days before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prior {
    None,
    /// Ended in an exemption.
    Exempted,
    /// Ended in a fine.
    Penalised,
    /// Only persuaded: no offence on record.
    Persuaded,
}

struct Row {
    name: &'static str,
    basis: &'static str,
    code: &'static str,
    tier: &'static str,
    party: PartyType,
    two_officers: bool,
    prior: Prior,
    ops: Vec<Op>,
    /// `None`: the last step is accepted; else the refusal code.
    expect: Option<&'static str>,
}

fn order() -> Op {
    Op::Order {
        at: h(1),
        deadline: h(2),
    }
}

fn step(kind: StepKind, at: i64) -> Op {
    Op::Step {
        kind,
        at,
        two: false,
        proposed: None,
        hearing: false,
    }
}

fn investigation(at: i64) -> Op {
    Op::Step {
        kind: StepKind::Investigation,
        at,
        two: true,
        proposed: None,
        hearing: false,
    }
}

fn notice(at: i64, penalty: PenaltyKind, amount: i64) -> Op {
    Op::Step {
        kind: StepKind::PriorNotice,
        at,
        two: false,
        proposed: Some((penalty, amount)),
        hearing: penalty != PenaltyKind::Warning,
    }
}

fn decide(at: i64, penalty: PenaltyKind, amount: i64, procedure: Procedure) -> Op {
    Op::Decide {
        at,
        penalty,
        amount,
        procedure,
        reason: false,
        cost: None,
    }
}

fn simple_fine(amount: i64) -> Vec<Op> {
    vec![
        order(),
        decide(h(3), PenaltyKind::Fine, amount, Procedure::Simple),
    ]
}

/// The ordinary procedure up to its decision, done right: order, 立案, investigation by two,
/// notice with the hearing right, hearing waived, decided ten days on.
fn ordinary(penalty: PenaltyKind, amount: i64) -> Vec<Op> {
    vec![
        order(),
        step(StepKind::Filing, h(2)),
        investigation(h(3)),
        notice(h(4), penalty, amount),
        step(StepKind::HearingWaived, h(5)),
        decide(d(10), penalty, amount, Procedure::Ordinary),
    ]
}

/// The ordinary procedure through review, approval, service and execution.
fn ordinary_through(upto: usize) -> Vec<Op> {
    let mut ops = ordinary(PenaltyKind::Fine, 300);
    let rest = [
        Op::Review { approve: true },
        Op::Approve {
            at: d(12),
            head: true,
        },
        Op::Serve { at: d(13) },
        Op::Execute { at: d(14) },
        Op::Close { at: d(15) },
    ];
    ops.extend(rest.into_iter().take(upto));
    ops
}

fn with_last(mut ops: Vec<Op>, last: Op) -> Vec<Op> {
    ops.push(last);
    ops
}

fn replace(mut ops: Vec<Op>, i: usize, op: Op) -> Vec<Op> {
    ops[i] = op;
    ops
}

fn exemption_ops() -> Vec<Op> {
    vec![Op::Educate { at: h(1) }, Op::Exempt { at: h(2) }]
}

/// The table. Items: CG-ST-001 (占道经营, 城市道路管理条例 第四十二条: up to 20,000 yuan,
/// benchmark minor 50–200 for a person), CG-NP-001 (道交法 第八十九条: warning or 5–50),
/// CG-AP-002 (no confirmed basis: no penalty), CG-AD-001 (市容条例 第三十七条: fine only
/// after an expired order, amount unset), CG-NO-001 (噪声法 第八十一条: 5,000–50,000, on
/// refusal 50,000–200,000), CG-NO-002 (噪声法 第八十二条: fine only after an expired order),
/// CG-IC-001 (城乡规划法 第六十四条: 5–10% of the construction cost), CG-SA-005 (市容条例
/// 第三十五条: confiscation), CG-ST-002 (persons only).
fn table() -> Vec<Row> {
    use PenaltyKind::*;
    use Procedure::*;
    let row = |name, basis, code, tier, ops, expect| Row {
        name,
        basis,
        code,
        tier,
        party: PartyType::Person,
        two_officers: true,
        prior: Prior::None,
        ops,
        expect,
    };
    let mut t = vec![
        // 简易程序
        row(
            "simple fine within the cap",
            "行政处罚法 第五十一条",
            "CG-ST-001",
            "minor",
            simple_fine(50),
            None,
        ),
        row(
            "simple fine at the cap of 200",
            "第五十一条",
            "CG-ST-001",
            "minor",
            simple_fine(200),
            None,
        ),
        row(
            "simple fine above 200 for a person",
            "第五十一条",
            "CG-ST-001",
            "general",
            simple_fine(201),
            Some("procedure_invalid"),
        ),
        row(
            "simple warning",
            "第五十一条; 道交法 第八十九条",
            "CG-NP-001",
            "minor",
            vec![order(), decide(h(3), Warning, 0, Simple)],
            None,
        ),
        row(
            "a warning carries no amount",
            "道交法 第八十九条",
            "CG-NP-001",
            "minor",
            vec![order(), decide(h(3), Warning, 10, Simple)],
            Some("penalty_unlawful"),
        ),
        row(
            "one officer only",
            "第四十二条",
            "CG-ST-001",
            "minor",
            simple_fine(50),
            Some("procedure_invalid"),
        ),
        row(
            "no order to correct with the penalty",
            "第二十八条",
            "CG-ST-001",
            "minor",
            vec![decide(h(3), Fine, 50, Simple)],
            Some("procedure_invalid"),
        ),
        row(
            "a registered case is not decided on the spot",
            "第五十一、五十四条",
            "CG-ST-001",
            "minor",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                decide(h(3), Fine, 50, Simple),
            ],
            Some("procedure_invalid"),
        ),
        row(
            "confiscation is never on the spot",
            "第五十一条",
            "CG-SA-005",
            "general",
            vec![
                order(),
                decide(h(3), ConfiscateIllegalProperty, 100, Simple),
            ],
            Some("procedure_invalid"),
        ),
        row(
            "serving a simple decision at once",
            "第五十二条",
            "CG-ST-001",
            "minor",
            with_last(simple_fine(50), Op::Serve { at: h(4) }),
            None,
        ),
        row(
            "executing a served simple decision",
            "第六十七、六十八条",
            "CG-ST-001",
            "minor",
            with_last(
                with_last(simple_fine(50), Op::Serve { at: h(4) }),
                Op::Execute { at: h(5) },
            ),
            None,
        ),
        row(
            "closing a simple case after execution",
            "结案",
            "CG-ST-001",
            "minor",
            with_last(
                with_last(
                    with_last(simple_fine(50), Op::Serve { at: h(4) }),
                    Op::Execute { at: h(5) },
                ),
                Op::Close { at: h(6) },
            ),
            None,
        ),
        row(
            "closing before the decision is served",
            "第六十一条",
            "CG-ST-001",
            "minor",
            with_last(simple_fine(50), Op::Close { at: h(6) }),
            Some("lifecycle_invalid"),
        ),
        row(
            "executing before service",
            "第六十一、六十七条",
            "CG-ST-001",
            "minor",
            with_last(simple_fine(50), Op::Execute { at: h(5) }),
            Some("procedure_invalid"),
        ),
        // Penalties as the law writes them
        row(
            "a fine where no basis is confirmed",
            "第三十八条",
            "CG-AP-002",
            "minor",
            vec![order(), decide(h(3), Fine, 50, Simple)],
            Some("penalty_unlawful"),
        ),
        row(
            "a warning where no basis is confirmed",
            "第三十八条",
            "CG-AP-002",
            "minor",
            vec![order(), decide(h(3), Warning, 0, Simple)],
            Some("penalty_unlawful"),
        ),
        row(
            "a warning the item's law does not prescribe",
            "城市道路管理条例 第四十二条",
            "CG-ST-001",
            "minor",
            vec![order(), decide(h(3), Warning, 0, Simple)],
            Some("penalty_unlawful"),
        ),
        row(
            "a fine whose amount the law leaves unset",
            "市容条例 第三十七条; 第三十八条",
            "CG-AD-001",
            "general",
            vec![order(), decide(h(3), Fine, 100, Simple)],
            Some("penalty_unlawful"),
        ),
        row(
            "above the statutory maximum, with a reason",
            "城市道路管理条例 第四十二条",
            "CG-ST-001",
            "serious",
            replace(
                ordinary(Fine, 25_000),
                5,
                Op::Decide {
                    at: d(10),
                    penalty: Fine,
                    amount: 25_000,
                    procedure: Ordinary,
                    reason: true,
                    cost: None,
                },
            ),
            Some("penalty_unlawful"),
        ),
        row(
            "outside the benchmark, no reason",
            "裁量基准",
            "CG-ST-001",
            "general",
            ordinary(Fine, 1_500),
            Some("decision_invalid"),
        ),
        row(
            "outside the benchmark, with a reason",
            "裁量基准; 第五十八条",
            "CG-ST-001",
            "general",
            replace(
                ordinary(Fine, 1_500),
                5,
                Op::Decide {
                    at: d(10),
                    penalty: Fine,
                    amount: 1_500,
                    procedure: Ordinary,
                    reason: true,
                    cost: None,
                },
            ),
            None,
        ),
        row(
            "a share of the cost without the cost",
            "城乡规划法 第六十四条",
            "CG-IC-001",
            "general",
            ordinary(Fine, 6_000),
            Some("penalty_unlawful"),
        ),
        row(
            "6% of the construction cost",
            "城乡规划法 第六十四条",
            "CG-IC-001",
            "general",
            replace(
                ordinary(Fine, 6_000),
                5,
                Op::Decide {
                    at: d(10),
                    penalty: Fine,
                    amount: 6_000,
                    procedure: Ordinary,
                    reason: false,
                    cost: Some(100_000),
                },
            ),
            None,
        ),
        row(
            "12% of the construction cost",
            "城乡规划法 第六十四条",
            "CG-IC-001",
            "general",
            replace(
                ordinary(Fine, 12_000),
                5,
                Op::Decide {
                    at: d(10),
                    penalty: Fine,
                    amount: 12_000,
                    procedure: Ordinary,
                    reason: true,
                    cost: Some(100_000),
                },
            ),
            Some("penalty_unlawful"),
        ),
        row(
            "a share of the cost on the spot",
            "第五十一条",
            "CG-IC-001",
            "general",
            vec![
                order(),
                Op::Decide {
                    at: h(3),
                    penalty: Fine,
                    amount: 60,
                    procedure: Simple,
                    reason: false,
                    cost: Some(1_000),
                },
            ],
            Some("procedure_invalid"),
        ),
        row(
            "confiscation under the ordinary procedure",
            "市容条例 第三十五条",
            "CG-SA-005",
            "general",
            ordinary(ConfiscateIllegalProperty, 500),
            None,
        ),
        row(
            "5,000 yuan on the spot",
            "第五十一条",
            "CG-NO-001",
            "minor",
            simple_fine(5_000),
            Some("procedure_invalid"),
        ),
        row(
            "5,000 yuan under the ordinary procedure",
            "噪声法 第八十一条",
            "CG-NO-001",
            "minor",
            ordinary(Fine, 5_000),
            None,
        ),
        row(
            "the refusal range without a refusal",
            "噪声法 第八十一条",
            "CG-NO-001",
            "severe",
            ordinary(Fine, 60_000),
            Some("penalty_unlawful"),
        ),
        row(
            "the refusal range after an uncorrected order",
            "噪声法 第八十一条",
            "CG-NO-001",
            "severe",
            replace(
                replace(
                    ordinary(Fine, 60_000),
                    0,
                    Op::Order {
                        at: h(1),
                        deadline: d(1),
                    },
                ),
                4,
                Op::Visit {
                    at: d(2),
                    corrected: false,
                },
            ),
            None,
        ),
        // 责令限期改正；逾期不改正的，处罚款
        row(
            "fined before the order's deadline",
            "噪声法 第八十二条",
            "CG-NO-002",
            "serious",
            vec![
                Op::Order {
                    at: h(1),
                    deadline: d(5),
                },
                decide(h(3), Fine, 200, Simple),
            ],
            Some("penalty_unlawful"),
        ),
        row(
            "fined after the deadline, no visit",
            "噪声法 第八十二条",
            "CG-NO-002",
            "serious",
            vec![
                Op::Order {
                    at: h(1),
                    deadline: h(2),
                },
                decide(h(3), Fine, 200, Simple),
            ],
            Some("penalty_unlawful"),
        ),
        row(
            "fined although the visit found it corrected",
            "噪声法 第八十二条",
            "CG-NO-002",
            "serious",
            vec![
                Op::Order {
                    at: h(1),
                    deadline: h(2),
                },
                Op::Visit {
                    at: h(3),
                    corrected: true,
                },
                decide(h(4), Fine, 200, Simple),
            ],
            Some("penalty_unlawful"),
        ),
        row(
            "fined after a visit found it uncorrected",
            "噪声法 第八十二条",
            "CG-NO-002",
            "serious",
            vec![
                Op::Order {
                    at: h(1),
                    deadline: h(2),
                },
                Op::Visit {
                    at: h(3),
                    corrected: false,
                },
                decide(h(4), Fine, 200, Simple),
            ],
            None,
        ),
        row(
            "a warning needs no expired order",
            "噪声法 第八十二条",
            "CG-NO-002",
            "general",
            vec![order(), decide(h(3), Warning, 0, Simple)],
            None,
        ),
        // 普通程序
        row(
            "the ordinary procedure done right",
            "第五十四至五十七条",
            "CG-ST-001",
            "general",
            ordinary(Fine, 300),
            None,
        ),
        row(
            "decided without 立案",
            "第五十四条",
            "CG-ST-001",
            "general",
            vec![order(), decide(d(10), Fine, 300, Ordinary)],
            Some("procedure_invalid"),
        ),
        row(
            "investigation before 立案",
            "第五十四条",
            "CG-ST-001",
            "general",
            vec![order(), investigation(h(3))],
            Some("procedure_invalid"),
        ),
        row(
            "investigation by one officer",
            "第四十二、五十五条",
            "CG-ST-001",
            "general",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                step(StepKind::Investigation, h(3)),
            ],
            Some("procedure_invalid"),
        ),
        row(
            "notice before the investigation",
            "第四十四条",
            "CG-ST-001",
            "general",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                notice(h(4), Fine, 300),
            ],
            Some("procedure_invalid"),
        ),
        row(
            "a notice proposing nothing",
            "第四十四条",
            "CG-ST-001",
            "general",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                investigation(h(3)),
                step(StepKind::PriorNotice, h(4)),
            ],
            Some("procedure_invalid"),
        ),
        row(
            "a fine notified without the hearing right",
            "第六十三、六十四条",
            "CG-ST-001",
            "general",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                investigation(h(3)),
                Op::Step {
                    kind: StepKind::PriorNotice,
                    at: h(4),
                    two: false,
                    proposed: Some((Fine, 300)),
                    hearing: false,
                },
            ],
            Some("procedure_invalid"),
        ),
        row(
            "a notice proposing what the law does not allow",
            "城市道路管理条例 第四十二条",
            "CG-ST-001",
            "general",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                investigation(h(3)),
                notice(h(4), Warning, 0),
            ],
            Some("penalty_unlawful"),
        ),
        row(
            "decided inside the statement period",
            "第四十四、四十五条",
            "CG-ST-001",
            "general",
            replace(ordinary(Fine, 300), 5, decide(d(2), Fine, 300, Ordinary)),
            Some("procedure_invalid"),
        ),
        row(
            "decided early once the party stated its case",
            "第四十五条",
            "CG-ST-001",
            "general",
            {
                let mut o = replace(ordinary(Fine, 300), 5, decide(d(2), Fine, 300, Ordinary));
                o.insert(4, step(StepKind::Statement, h(5)));
                o
            },
            None,
        ),
        row(
            "decided inside the hearing-request period",
            "第六十四条第一项",
            "CG-ST-001",
            "general",
            replace(
                replace(ordinary(Fine, 300), 4, step(StepKind::Statement, h(5))),
                5,
                decide(d(3), Fine, 300, Ordinary),
            ),
            Some("procedure_invalid"),
        ),
        row(
            "decided after the hearing-request period lapsed",
            "第六十四条第一项",
            "CG-ST-001",
            "general",
            replace(ordinary(Fine, 300), 4, step(StepKind::Statement, h(5))),
            None,
        ),
        row(
            "a hearing asked for and not held",
            "第六十四条",
            "CG-ST-001",
            "general",
            replace(ordinary(Fine, 300), 4, step(StepKind::HearingRequest, d(1))),
            Some("procedure_invalid"),
        ),
        row(
            "a hearing asked for and held",
            "第六十四、六十五条",
            "CG-ST-001",
            "general",
            {
                let mut o = replace(ordinary(Fine, 300), 4, step(StepKind::HearingRequest, d(1)));
                o.insert(5, step(StepKind::Hearing, d(9)));
                o
            },
            None,
        ),
        row(
            "a hearing asked for too late",
            "第六十四条第一项",
            "CG-ST-001",
            "general",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                investigation(h(3)),
                notice(h(4), Fine, 300),
                step(StepKind::HearingRequest, d(8)),
            ],
            Some("procedure_invalid"),
        ),
        row(
            "a hearing without a request",
            "第六十四条",
            "CG-ST-001",
            "general",
            vec![
                order(),
                step(StepKind::Filing, h(2)),
                investigation(h(3)),
                notice(h(4), Fine, 300),
                step(StepKind::Hearing, d(2)),
            ],
            Some("procedure_invalid"),
        ),
        row(
            "heavier than the notice",
            "第四十五条第二款",
            "CG-ST-001",
            "general",
            replace(ordinary(Fine, 300), 5, decide(d(10), Fine, 400, Ordinary)),
            Some("procedure_invalid"),
        ),
        row(
            "lighter than the notice",
            "第四十五条",
            "CG-ST-001",
            "general",
            replace(ordinary(Fine, 300), 5, decide(d(10), Fine, 250, Ordinary)),
            None,
        ),
        row(
            "another penalty than the notice",
            "第四十四条",
            "CG-NP-001",
            "minor",
            replace(ordinary(Fine, 20), 5, decide(d(10), Warning, 0, Ordinary)),
            Some("procedure_invalid"),
        ),
        row(
            "legal review of an ordinary decision",
            "第五十八条",
            "CG-ST-001",
            "general",
            ordinary_through(1),
            None,
        ),
        row(
            "approval by the head after review",
            "第五十七条",
            "CG-ST-001",
            "general",
            ordinary_through(2),
            None,
        ),
        row(
            "service after approval",
            "第六十一条",
            "CG-ST-001",
            "general",
            ordinary_through(3),
            None,
        ),
        row(
            "execution after service",
            "第六十七条",
            "CG-ST-001",
            "general",
            ordinary_through(4),
            None,
        ),
        row(
            "closing after execution",
            "结案",
            "CG-ST-001",
            "general",
            ordinary_through(5),
            None,
        ),
        row(
            "approval by an officer",
            "第五十七条",
            "CG-ST-001",
            "general",
            with_last(
                ordinary_through(1),
                Op::Approve {
                    at: d(12),
                    head: false,
                },
            ),
            Some("out_of_scope"),
        ),
        row(
            "approval before legal review",
            "第五十七、五十八条",
            "CG-ST-001",
            "general",
            with_last(
                ordinary(Fine, 300),
                Op::Approve {
                    at: d(11),
                    head: true,
                },
            ),
            Some("procedure_invalid"),
        ),
        row(
            "service before approval",
            "第五十七、六十一条",
            "CG-ST-001",
            "general",
            with_last(ordinary_through(1), Op::Serve { at: d(13) }),
            Some("procedure_invalid"),
        ),
        row(
            "closing while approval is pending",
            "第五十七条",
            "CG-ST-001",
            "general",
            with_last(ordinary_through(1), Op::Close { at: d(13) }),
            Some("lifecycle_invalid"),
        ),
        // Exemption (首违不罚 / 轻微不罚) and 免罚不免责
        row(
            "a first, minor offence exempted on a pledge",
            "第三十三条第一款",
            "CG-ST-001",
            "minor",
            exemption_ops(),
            None,
        ),
        row(
            "exempted without education",
            "第三十三条第三款",
            "CG-ST-001",
            "minor",
            vec![Op::Exempt { at: h(2) }],
            Some("exemption_invalid"),
        ),
        row(
            "exempted at a tier the list does not exempt",
            "免罚清单",
            "CG-ST-001",
            "general",
            exemption_ops(),
            Some("exemption_invalid"),
        ),
        row(
            "an item the law fines only after an order",
            "市容条例 第三十七条",
            "CG-AD-001",
            "general",
            exemption_ops(),
            Some("exemption_invalid"),
        ),
        row(
            "fined while the pledge runs",
            "第三十三条 (免罚不免责)",
            "CG-ST-001",
            "minor",
            vec![
                Op::Educate { at: h(1) },
                Op::Exempt { at: h(2) },
                Op::Order {
                    at: h(3),
                    deadline: h(4),
                },
                decide(h(5), PenaltyKind::Fine, 50, Procedure::Simple),
            ],
            Some("decision_invalid"),
        ),
        row(
            "fined after the pledge lapsed uncorrected",
            "第三十三条 (免罚不免责)",
            "CG-ST-001",
            "minor",
            vec![
                Op::Educate { at: h(1) },
                Op::Exempt { at: h(2) },
                Op::Visit {
                    at: d(4),
                    corrected: false,
                },
                Op::Order {
                    at: d(4) + h(1),
                    deadline: d(5),
                },
                decide(d(4) + h(2), PenaltyKind::Fine, 50, Procedure::Simple),
            ],
            None,
        ),
    ];
    // 行政指导 where no violation was found: a service record only.
    t.push(row(
        "guidance where no violation was found",
        "通知 五、方式方法 (行政指导)",
        "CG-SV-001",
        "trivial",
        vec![Op::Educate { at: h(1) }],
        None,
    ));
    t.push(row(
        "an order to correct where no violation was found",
        "第二十八条 (a violation to correct)",
        "CG-SV-001",
        "trivial",
        vec![order()],
        Some("invalid_action"),
    ));
    t.push(row(
        "a fine where no violation was found",
        "第三十八条",
        "CG-SV-001",
        "trivial",
        vec![decide(h(3), PenaltyKind::Fine, 50, Procedure::Simple)],
        Some("penalty_unlawful"),
    ));
    t.push(row(
        "an exemption where no violation was found",
        "第三十三条",
        "CG-SV-001",
        "trivial",
        exemption_ops(),
        Some("exemption_invalid"),
    ));
    t.push(row(
        "a decision dated ahead of the clock to skip the periods",
        "第四十五、六十四条 (periods run in real time)",
        "CG-ST-001",
        "general",
        replace(
            ordinary(PenaltyKind::Fine, 300),
            5,
            decide(d(3_650), PenaltyKind::Fine, 300, Procedure::Ordinary),
        ),
        Some("procedure_invalid"),
    ));
    t[5].two_officers = false;
    let prior = |name, p, expect| Row {
        name,
        basis: "第三十三条; 免罚清单 (首次被发现)",
        code: "CG-ST-001",
        tier: "minor",
        party: PartyType::Person,
        two_officers: true,
        prior: p,
        ops: exemption_ops(),
        expect,
    };
    let extra = vec![
        prior(
            "exempted again after an exemption",
            Prior::Exempted,
            Some("exemption_invalid"),
        ),
        prior(
            "exempted after a fine",
            Prior::Penalised,
            Some("exemption_invalid"),
        ),
        prior(
            "exempted after mere persuasion (no offence on record)",
            Prior::Persuaded,
            None,
        ),
    ];
    t.extend(extra);
    let unit = |name, tier, ops, expect| Row {
        name,
        basis: "行政处罚法 第五十一条 (单位 3,000)",
        code: "CG-ST-001",
        tier,
        party: PartyType::Unit,
        two_officers: true,
        prior: Prior::None,
        ops,
        expect,
    };
    t.push(unit(
        "a unit fined 500 on the spot",
        "minor",
        simple_fine(500),
        None,
    ));
    t.push(unit(
        "a unit fined 3,000 on the spot",
        "serious",
        simple_fine(3_000),
        None,
    ));
    t.push(unit(
        "a unit fined 3,001 on the spot",
        "serious",
        simple_fine(3_001),
        Some("procedure_invalid"),
    ));
    t
}

/// The phones of one run.
struct World {
    officer: Phone,
    reviewer: Phone,
    head: Phone,
    raw: bool,
    n: u32,
}

impl World {
    async fn new(s: &TestServer, dir: &Path, raw: bool) -> TestResult<World> {
        let url = s.url();
        let officer = Phone::enrol(s, &url, dir, "OF-1", Role::Officer, SQUAD).await?;
        let _colleague = Phone::enrol(s, &url, dir, "OF-9", Role::Officer, SQUAD).await?;
        let reviewer = Phone::enrol(s, &url, dir, "RV-1", Role::Reviewer, "luan").await?;
        let head = Phone::enrol(s, &url, dir, "SV-1", Role::Supervisor, "luan").await?;
        for p in [&officer, &reviewer, &head] {
            p.store.set_local_rule_checks_for_tests(!raw);
        }
        Ok(World {
            officer,
            reviewer,
            head,
            raw,
            n: 0,
        })
    }

    fn party(&mut self, t: PartyType) -> TestResult<String> {
        self.n += 1;
        Ok(self
            .officer
            .store
            .register_party(NewParty {
                party_type: t,
                unit: SQUAD.into(),
                by: "OF-1".into(),
                name: format!("当事人{}", self.n),
                id_number: match t {
                    PartyType::Unit => fieldcase_tests::harness::credit_code(u64::from(self.n)),
                    _ => fieldcase_tests::harness::id_number(u64::from(self.n)),
                },
                id_document: None,
                phone: None,
                address: None,
            })?
            .id)
    }

    fn case(&self, row: &Row, party: &str, at: i64) -> TestResult<String> {
        let mut officers = vec!["OF-1".to_string()];
        if row.two_officers {
            officers.push("OF-9".into());
        }
        Ok(self
            .officer
            .store
            .create_case(NewCase {
                unit: SQUAD.into(),
                occurred_at_ms: at,
                place: place(),
                officers,
                recorded_by: "OF-1".into(),
                party_id: Some(party.to_string()),
                violation_code: row.code.into(),
                tier: row.tier.into(),
                description: None,
                actions: vec![],
                involves_minor: false,
                privacy_protected: false,
            })?
            .id)
    }

    /// Applies `op` on the phone of whoever takes it; returns that phone.
    fn apply(&self, case: &str, t0: i64, op: &Op) -> Result<&Phone, CoreError> {
        let by = |p: &Phone| p.user.clone();
        let st = |kind, at, by: String| StepInput {
            step: kind,
            at_ms: t0 + at,
            by,
            officers: vec![],
            evidence_ids: vec![],
            note: None,
            decision_id: None,
            proposed: None,
            hearing_right_notified: false,
        };
        let o = &self.officer;
        match op {
            Op::Order { at, deadline } => {
                o.store.order_correction(
                    case,
                    "OF-1",
                    t0 + at,
                    t0 + deadline,
                    vec!["整改".into()],
                )?;
            }
            Op::Visit { at, corrected } => {
                let f = o.store.schedule_follow_up(case, "OF-1", t0 + at, None)?;
                o.store.record_follow_up(
                    case,
                    &f,
                    FollowUpInput {
                        at_ms: t0 + at,
                        by: "OF-1".into(),
                        corrected: *corrected,
                        opinion: None,
                        satisfaction: None,
                    },
                )?;
            }
            Op::Educate { at } => {
                o.store.append_action(case, persuasion("OF-1", t0 + at))?;
            }
            Op::Step {
                kind,
                at,
                two,
                proposed,
                hearing,
            } => {
                o.store.record_step(
                    case,
                    StepInput {
                        officers: if *two {
                            vec!["OF-1".into(), "OF-9".into()]
                        } else {
                            vec![]
                        },
                        proposed: proposed.map(|(penalty, amount_yuan)| ProposedPenalty {
                            penalty,
                            amount_yuan,
                        }),
                        hearing_right_notified: *hearing,
                        ..st(*kind, *at, by(o))
                    },
                )?;
            }
            Op::Decide {
                at,
                penalty,
                amount,
                procedure,
                reason,
                cost,
            } => {
                o.store.decide_penalty(
                    case,
                    PenaltyRequest {
                        by: "OF-1".into(),
                        at_ms: t0 + at,
                        tier: None,
                        amount_yuan: *amount,
                        reason: reason.then(|| "情节较重，经集体讨论".to_string()),
                        penalty: *penalty,
                        procedure: *procedure,
                        construction_cost_yuan: *cost,
                    },
                )?;
            }
            Op::Review { approve } => {
                let r = &self.reviewer;
                let c = r.store.case(case)?;
                let decision = c.decision.ok_or(CoreError::NotFound {
                    kind: "decision".into(),
                    id: case.into(),
                })?;
                let pass = CheckPoint {
                    passed: true,
                    note: None,
                };
                let failed = CheckPoint {
                    passed: false,
                    note: Some("证据不足".into()),
                };
                r.store.review_decision(
                    case,
                    &decision.id,
                    ReviewInput {
                        reviewer: "RV-1".into(),
                        outcome: if *approve {
                            ReviewOutcome::Approved
                        } else {
                            ReviewOutcome::Returned
                        },
                        opinion: "事实清楚，证据确凿，程序合法".into(),
                        checklist: ReviewChecklist {
                            subject: pass.clone(),
                            facts: pass.clone(),
                            evidence: if *approve { pass.clone() } else { failed },
                            basis: pass.clone(),
                            discretion: pass.clone(),
                            procedure: pass,
                        },
                        at_ms: t0 + d(11),
                    },
                )?;
                return Ok(r);
            }
            Op::Approve { at, head } => {
                let p = if *head { &self.head } else { o };
                p.store
                    .record_step(case, st(StepKind::Approval, *at, by(p)))?;
                return Ok(p);
            }
            Op::Serve { at } => {
                o.store
                    .record_step(case, st(StepKind::Service, *at, by(o)))?;
            }
            Op::Execute { at } => {
                o.store
                    .record_step(case, st(StepKind::Execution, *at, by(o)))?;
            }
            Op::Exempt { at } => {
                o.store.grant_exemption(
                    case,
                    ExemptionRequest {
                        by: "OF-1".into(),
                        at_ms: t0 + at,
                        minor: true,
                        no_harm: true,
                        pledge: Some(PledgeInput {
                            text: "本人承诺三日内整改".into(),
                            signature_evidence_id: None,
                            deadline_ms: Some(t0 + at + d(3)),
                            signed_at_ms: t0 + at,
                        }),
                    },
                )?;
            }
            Op::Close { at } => {
                o.store.close_case(case, "OF-1", t0 + at, "结案")?;
            }
        }
        Ok(o)
    }

    fn phone_of(&self, op: &Op) -> &Phone {
        match op {
            Op::Review { .. } => &self.reviewer,
            Op::Approve { head: true, .. } => &self.head,
            _ => &self.officer,
        }
    }

    /// The earlier case of the same party, thirty days before.
    async fn prior(&self, row: &Row, party: &str) -> TestResult {
        let t = T0 - d(30);
        let ops = match row.prior {
            Prior::None => return Ok(()),
            Prior::Exempted => exemption_ops(),
            Prior::Penalised => simple_fine(50),
            Prior::Persuaded => vec![Op::Educate { at: h(1) }],
        };
        let case = self.case(row, party, t)?;
        for op in &ops {
            self.apply(&case, t, op)?;
        }
        Ok(())
    }

    /// Runs a row; `Err` says how it went wrong.
    async fn run(&mut self, row: &Row) -> TestResult {
        let party = self.party(row.party)?;
        self.prior(row, &party).await?;
        let case = self.case(row, &party, T0)?;
        let r = self.officer.sync().await?;
        if r.rejected != 0 {
            return Err(format!("setup rejected: {:?}", r.rejections).into());
        }
        let (last, before) = row.ops.split_last().ok_or("no steps")?;
        for op in before {
            let p = self.phone_of(op);
            p.sync().await?;
            self.apply(&case, T0, op)
                .map_err(|e| format!("step {op:?} failed: {e}"))?;
            let r = p.sync().await?;
            if r.rejected != 0 {
                return Err(format!("step {op:?} rejected: {:?}", r.rejections).into());
            }
        }
        let p = self.phone_of(last);
        p.sync().await?;
        let heads_before = p.store.case(&case)?;
        let local = self.apply(&case, T0, last).map(drop);
        if !self.raw {
            return match (local, row.expect) {
                (Ok(()), None) => {
                    let r = p.sync().await?;
                    if r.rejected == 0 {
                        Ok(())
                    } else {
                        Err(format!(
                            "accepted on the phone, rejected by the server: {:?}",
                            r.rejections
                        )
                        .into())
                    }
                }
                (Err(CoreError::Refused { code, .. }), Some(want)) if code == want => {
                    if p.store.case(&case)? != heads_before {
                        return Err("refused on the phone but something was written".into());
                    }
                    Ok(())
                }
                // The phone states why an exemption is not open before the server's rule
                // would refuse it.
                (Err(CoreError::NotEligible { .. }), Some("exemption_invalid")) => {
                    if p.store.case(&case)? != heads_before {
                        return Err("refused on the phone but something was written".into());
                    }
                    Ok(())
                }
                (got, want) => Err(format!("phone: expected {want:?}, got {got:?}").into()),
            };
        }
        local.map_err(|e| format!("the raw client could not write the step: {e}"))?;
        let r = p.sync().await?;
        let got = r.rejections.first().and_then(|x| x.code.clone());
        match (row.expect, r.rejected, got) {
            (None, 0, _) => Ok(()),
            (Some(want), 1, Some(code)) if code == want => Ok(()),
            (want, n, got) => Err(format!(
                "server: expected {want:?}, got {n} rejection(s) {got:?}: {:?}",
                r.rejections
            )
            .into()),
        }
    }
}

async fn run_table(s: &TestServer, dir: &Path, raw: bool) -> TestResult<usize> {
    let mut w = World::new(s, dir, raw).await?;
    let mut failures = Vec::new();
    let rows = table();
    for row in &rows {
        if let Err(e) = w.run(row).await {
            failures.push(format!("{} [{}; {}]: {e}", row.name, row.code, row.basis));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed ({}):\n{}",
        failures.len(),
        rows.len(),
        if raw { "raw changes, server" } else { "phone" },
        failures.join("\n")
    );
    Ok(rows.len())
}

#[test]
fn the_table_has_sixty_rows_refusals_and_acceptances() {
    let rows = table();
    assert!(rows.len() >= 60, "{} rows", rows.len());
    let refused = rows.iter().filter(|r| r.expect.is_some()).count();
    assert!(refused >= 30 && rows.len() - refused >= 20);
    let names: std::collections::BTreeSet<_> = rows.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), rows.len(), "row names are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_are_refused_on_the_phone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(dir.path()).await?;
    run_table(&s, dir.path(), false).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_as_raw_changes_are_refused_by_the_server_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(dir.path()).await?;
    run_table(&s, dir.path(), true).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_as_raw_changes_are_refused_by_the_server_on_postgres() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start_postgres(dir.path(), &pg_url()).await?;
    run_table(&s, dir.path(), true).await?;
    Ok(())
}
