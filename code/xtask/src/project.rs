//! Where things live: the repository, its tool folders and its build outputs.

use std::env;
use std::path::{Path, PathBuf};

pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// The workspace root, two levels above this crate's manifest.
    pub fn locate() -> Self {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest
            .ancestors()
            .nth(2)
            .expect("code/xtask sits two levels below the root");
        Project {
            root: root.to_path_buf(),
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The Python venv holding the pip-installed tools (ignored by git).
    pub fn venv(&self) -> PathBuf {
        self.path(".tools/venv")
    }

    pub fn node_bin(&self) -> PathBuf {
        self.path("tools/node_modules/.bin")
    }

    pub fn cargo_bin(&self) -> PathBuf {
        let home = env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_else(|| PathBuf::from(".cargo"));
        home.join("bin")
    }

    /// PATH with the project's tool folders first, so every stage finds the pinned tools.
    pub fn tool_path(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.venv().join("bin"), self.node_bin(), self.cargo_bin()];
        if let Some(path) = env::var_os("PATH") {
            dirs.extend(env::split_paths(&path));
        }
        env::join_paths(dirs).expect("tool folders contain no path separator")
    }

    /// Where generated, ignored build output goes.
    pub fn target(&self, relative: &str) -> PathBuf {
        self.path("target").join(relative)
    }
}
