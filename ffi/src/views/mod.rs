//! What an app reads: views of records and lists, converted from core's records. A view holds
//! what a screen needs and never a party's personal data (only masked forms).

mod case;
mod catalogue;
mod exemption;
mod lists;
mod parties;

pub use case::*;
pub use catalogue::*;
pub use exemption::*;
pub use lists::*;
pub use parties::*;

use fieldcase_core::store;

/// What merging a bundle did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    /// Records that gained changes.
    pub changed: Vec<String>,
    /// Records that were already up to date.
    pub unchanged: u64,
}

impl From<store::ImportReport> for ImportReport {
    fn from(r: store::ImportReport) -> Self {
        ImportReport {
            changed: r.changed,
            unchanged: u64::try_from(r.unchanged).unwrap_or(u64::MAX),
        }
    }
}
