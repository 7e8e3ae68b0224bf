//! Supervision: what supervisors, reviewers and the public see of the merged records —
//! bureau reports, the dashboard and its case pages, and the public disclosure feed. Pure functions over records and statistics;
//! the HTTP routes and the CLI are thin shells around them.

pub mod approval;
pub mod case_check;
pub mod case_file;
pub mod case_page;
pub mod case_routes;
pub mod case_view;
pub mod dashboard;
pub mod disclosure;
pub mod disclosure_routes;
pub mod labels;
pub mod queues;
pub mod records;
pub mod report;
pub mod review;
pub mod routes;
