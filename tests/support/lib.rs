//! Support for the repository-level tests in `tests/`: the book-drift scanner, the
//! template reader and the time-budget analysis. Kept as a library so each checker is
//! unit-tested against fixtures that must fail, not only against the real files.

pub mod anchors;
pub mod bench;
pub mod budget;
pub mod capacity;
pub mod control_tower;
pub mod drift;
pub mod generated;
pub mod limits;
pub mod load;
pub mod mutants;
pub mod policy;
pub mod repo;
pub mod template;
