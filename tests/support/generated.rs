//! Generated material (tables the book includes) is produced by the tests that own the
//! facts, checked in, and compared on every run: a difference fails with the command that
//! regenerates it (`cargo xtask regen`, which sets `UPDATE_GENERATED=1`).

use crate::repo;
use std::fs;

pub fn check(relative: &str, fresh: &str) {
    let path = repo::root().join(relative);
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        fs::create_dir_all(path.parent().expect("a file in a folder")).expect("create folder");
        fs::write(&path, fresh).unwrap_or_else(|e| panic!("cannot write {relative}: {e}"));
        return;
    }
    let current = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{relative} is out of date; run `cargo xtask regen` and commit the result.\n\
         --- checked in\n{current}\n--- generated\n{fresh}"
    );
}
