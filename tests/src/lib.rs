//! Shared helpers of the end-to-end tests and harnesses: a real server on a loopback port
//! driven by the real core client ([`harness`]), and a TCP proxy that injects faults
//! ([`proxy`]).

pub mod harness;
pub mod proxy;
