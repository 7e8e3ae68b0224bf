//! Shared helpers of the end-to-end tests and harnesses: a real server on a loopback port
//! driven by the real core client ([`harness`]), and a TCP proxy that injects faults
//! ([`proxy`]), and the fleet simulator behind `fleet-sim` ([`fleet`]).

pub mod harness;
pub mod proxy;

pub mod fleet;
