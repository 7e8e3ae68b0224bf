//! Shared machinery of the end-to-end tests and harnesses: a real server on a loopback port
//! driven by the real core client ([`harness`]), a TCP proxy that injects faults ([`proxy`]),
//! the fleet simulator behind `fleet-sim` ([`fleet`]), a server restored from a backup under a
//! fleet ([`restore`]), the convergence schedules, the kill -9 loops of the store and of the server binary
//! ([`server_crash`]) and the malformed-input checks. The `battery`
//! and `bench` binaries and the integration tests under `tests/tests/` drive them.

pub mod attacks;
pub mod authz;
pub mod bad_input;
pub mod balancer;
pub mod convergence;
pub mod crash;
pub mod disk_faults;
pub mod fleet;
pub mod fuzz_targets;
pub mod harness;
#[path = "../../core/tests/it/common/lawful.rs"]
pub mod lawful;
pub mod link;
#[path = "../../sync-server/tests/it/moto.rs"]
pub mod moto;
pub mod outsider;
pub mod pdf;
pub mod proxy;
pub mod restore;
pub mod server_crash;
pub mod tamper;
