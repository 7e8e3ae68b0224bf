//! Enforcement documents (执法文书): the fields a document is filled with ([`fields`]), its
//! number ([`number`]), the sheet drawn from its template ([`sheet`]) and the PDF
//! ([`render`]). See `docs/documents.md`.

pub mod case_file;
pub mod fields;
pub mod number;
pub mod render;
pub mod sheet;
pub mod words;
