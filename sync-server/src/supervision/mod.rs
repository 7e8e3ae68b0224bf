//! Supervision: what supervisors, reviewers and the public see of the merged records —
//! bureau reports and the public disclosure feed. Pure functions over records and statistics;
//! the HTTP routes and the CLI are thin shells around them.

pub mod approval;
pub mod dashboard;
pub mod disclosure;
pub mod queues;
pub mod records;
pub mod report;
pub mod review;
pub mod routes;
