//! Folder layouts with the verdict [`scan`](crate::scan) gives them, for
//! the tests that hold `embed_migrations!` and `Migrator::from_dir` to
//! the same rules (feature `layouts`, tests only).

use std::path::Path;

/// One migrations folder: its files, and whether it is usable.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// What the layout shows, for test messages.
    pub name: &'static str,
    /// `(path relative to the folder, content)`; a path ending in `/` is
    /// an empty subfolder.
    pub files: &'static [(&'static str, &'static str)],
    /// Whether the folder is a valid migrations folder.
    pub ok: bool,
}

impl Layout {
    /// Writes the layout's files under `root`, which must exist.
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        for (path, content) in self.files {
            let path = root.join(path);
            if let Some(dir) = path.to_str().and_then(|p| p.strip_suffix('/')) {
                std::fs::create_dir_all(dir)?;
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, content)?;
        }
        Ok(())
    }
}

const UP: &str = "CREATE TABLE t (id int);";

/// Every layout, accepted and rejected.
pub const ALL: &[Layout] = &[
    Layout {
        name: "two migrations, one without down.sql",
        files: &[
            ("2_second/up.sql", UP),
            ("1_first/up.sql", UP),
            ("1_first/down.sql", "DROP TABLE t;"),
        ],
        ok: true,
    },
    Layout {
        name: "an empty folder",
        files: &[],
        ok: true,
    },
    Layout {
        name: "files beside the migrations are ignored",
        files: &[("README.md", "notes"), ("1_first/up.sql", UP)],
        ok: true,
    },
    Layout {
        name: "a no-transaction migration",
        files: &[(
            "1_index/up.sql",
            "-- strata:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);",
        )],
        ok: true,
    },
    Layout {
        name: "a folder without a version",
        files: &[("create_users/up.sql", UP)],
        ok: false,
    },
    Layout {
        name: "a folder without a name",
        files: &[("1_/up.sql", UP)],
        ok: false,
    },
    Layout {
        name: "a version that is not all digits",
        files: &[("1a_first/up.sql", UP)],
        ok: false,
    },
    Layout {
        name: "a version past i64",
        files: &[("99999999999999999999_first/up.sql", UP)],
        ok: false,
    },
    Layout {
        name: "a migration without up.sql",
        files: &[("1_first/down.sql", "DROP TABLE t;")],
        ok: false,
    },
    Layout {
        name: "an empty subfolder",
        files: &[("1_first/", "")],
        ok: false,
    },
    Layout {
        name: "two migrations with one version",
        files: &[("1_first/up.sql", UP), ("01_again/up.sql", UP)],
        ok: false,
    },
];
