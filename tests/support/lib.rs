//! Support for the repository-level tests in `tests/`: the book-drift scanner and the
//! helpers the template and policy tests share. Kept as a library so each checker is
//! unit-tested against fixtures that must fail, not only against the real book.

pub mod anchors;
pub mod drift;
pub mod repo;
