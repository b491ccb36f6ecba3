//! The `strata` binary end to end: exit codes and output, against a fresh
//! schema of the local PostgreSQL picked through `DATABASE_URL`'s options.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn base_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn admin(sql: &str) {
    let sql = sql.to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (client, conn) = tokio_postgres::connect(&base_url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        client.batch_execute(&sql).await.unwrap();
    });
}

/// A schema of its own, dropped at the end, and the URL that selects it.
struct Schema(String);

impl Schema {
    fn new() -> Schema {
        let name = format!(
            "strata_cli_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        admin(&format!("CREATE SCHEMA \"{name}\""));
        Schema(name)
    }

    fn url(&self) -> String {
        let sep = if base_url().contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", base_url(), self.0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        admin(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0));
    }
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn strata(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("DB_CONNECT_TIMEOUT_MS", "1000")
        .env("DB_RETRY_ATTEMPTS", "0")
        .output()
        .expect("run strata")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn migrate_up_status_verify_down() {
    let schema = Schema::new();
    let url = schema.url();
    let dir = repo("migrations");
    let dir = dir.to_str().unwrap();

    let up = strata(&url, &["migrate", "--dir", dir, "up"]);
    assert!(up.status.success(), "{}", stderr(&up));
    let out = stdout(&up);
    assert!(
        out.starts_with("applied  20240101000000 create_users ("),
        "{out}"
    );
    assert!(out.trim_end().ends_with(" ms)"), "{out}");

    let again = strata(&url, &["migrate", "--dir", dir, "up"]);
    assert_eq!(stdout(&again), "nothing to do\n");

    let status = strata(&url, &["migrate", "--dir", dir, "status"]);
    assert!(status.status.success());
    assert!(stdout(&status).contains("applied"), "{}", stdout(&status));

    let verify = strata(&url, &["migrate", "--dir", dir, "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));

    let redo = strata(&url, &["migrate", "--dir", dir, "redo"]);
    assert!(redo.status.success(), "{}", stderr(&redo));
    assert_eq!(stdout(&redo).lines().count(), 2);

    let down = strata(&url, &["migrate", "down", "--dir", dir]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(stdout(&down).starts_with("reverted 20240101000000 create_users"));
}

#[test]
fn a_failing_migration_exits_non_zero_with_one_line() {
    let schema = Schema::new();
    let dir = repo("tests/fixtures/migrations_broken");
    let out = strata(
        &schema.url(),
        &["migrate", "--dir", dir.to_str().unwrap(), "up"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("applied  20240101000000 first"));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: migration 20240102000000_second failed at line 4 of "),
        "{err}"
    );
    assert!(err.contains("no_such_table"), "{err}");

    let verify = strata(
        &schema.url(),
        &["migrate", "--dir", "/no/such/folder", "verify"],
    );
    assert_eq!(verify.status.code(), Some(1));
    assert!(stderr(&verify).starts_with("error: cannot read the migrations folder"));
}

#[test]
fn health_reports_ok_or_one_line() {
    let schema = Schema::new();
    let ok = strata(&schema.url(), &["health"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("ok ("), "{}", stdout(&ok));

    let down = strata("postgres://postgres@127.0.0.1:1/test", &["health"]);
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(stderr(&down).lines().count(), 1, "{}", stderr(&down));
    assert!(stderr(&down).starts_with("error: "));
}

/// The application's pool settings in the environment do not break the
/// CLI, which opens a small pool of its own.
#[test]
fn an_applications_pool_settings_do_not_break_commands() {
    let schema = Schema::new();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["health"])
        .env("DATABASE_URL", schema.url())
        .env("DB_POOL_MIN", "5")
        .env("DB_POOL_MAX", "10")
        .output()
        .expect("run strata");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "migrate",
            "--dir",
            repo("migrations").to_str().unwrap(),
            "status",
        ])
        .env("DATABASE_URL", schema.url())
        .env("DB_POOL_MIN", "5")
        .output()
        .expect("run strata");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn new_creates_a_folder_and_bad_usage_exits_2() {
    let dir = std::env::temp_dir().join(format!("strata_cli_new_{:08x}", rand::random::<u32>()));
    let out = strata(
        "",
        &[
            "migrate",
            "--dir",
            dir.to_str().unwrap(),
            "new",
            "add_things",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(created.len(), 1);
    assert!(created[0].to_str().unwrap().ends_with("_add_things"));
    assert!(created[0].join("up.sql").is_file() && created[0].join("down.sql").is_file());
    std::fs::remove_dir_all(&dir).unwrap();

    let bad = strata("", &["migrate", "sideways"]);
    assert_eq!(bad.status.code(), Some(2));
    for name in ["", "Has Space", "Weird-Name"] {
        let out = strata(
            "",
            &["migrate", "--dir", dir.to_str().unwrap(), "add", name],
        );
        assert_eq!(out.status.code(), Some(2), "{name:?}: the caller's to fix");
        assert!(stderr(&out).contains("is not valid"), "{}", stderr(&out));
        assert!(!dir.exists(), "nothing was created for {name:?}");
    }
}

#[test]
fn a_server_error_prints_once_without_the_drivers_wrapper() {
    let schema = Schema::new();
    let url = schema.url().replace("/test", "/strata_no_such_database");
    let out = strata(&url, &["health"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!err.contains("db error"), "{err}");
}

/// Copies a migrations folder into a temp dir of its own.
fn copy_dir(from: &Path) -> PathBuf {
    let to = std::env::temp_dir().join(format!("strata_cli_copy_{:08x}", rand::random::<u32>()));
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        std::fs::create_dir_all(&dest).unwrap();
        for file in std::fs::read_dir(entry.path()).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), dest.join(file.file_name())).unwrap();
        }
    }
    to
}

#[test]
fn status_exits_non_zero_when_an_applied_migration_changed() {
    let schema = Schema::new();
    let url = schema.url();
    let dir = copy_dir(&repo("migrations"));
    let dir_s = dir.to_str().unwrap();
    let up = strata(&url, &["migrate", "--dir", dir_s, "up"]);
    assert!(up.status.success(), "{}", stderr(&up));
    let clean = strata(&url, &["migrate", "--dir", dir_s, "status"]);
    assert!(clean.status.success(), "{}", stderr(&clean));

    let up_sql = dir.join("20240101000000_create_users").join("up.sql");
    let mut text = std::fs::read_to_string(&up_sql).unwrap();
    text.push_str("\n-- edited after it was applied\n");
    std::fs::write(&up_sql, text).unwrap();
    let status = strata(&url, &["migrate", "--dir", dir_s, "status"]);
    // The table is still printed, then one error line, exit 1: as verify.
    assert!(stdout(&status).contains("changed"), "{}", stdout(&status));
    assert_eq!(status.status.code(), Some(1), "{}", stdout(&status));
    let err = stderr(&status);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("20240101000000_create_users is changed"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A folder of its own under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("strata_cli_{what}_{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `strata` run in `cwd` with only `env` set (no DATABASE_URL inherited).
fn strata_in(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env("DB_CONNECT_TIMEOUT_MS", "1000")
        .env("DB_RETRY_ATTEMPTS", "0");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run strata")
}

/// The URL comes from `--database-url`, else the environment, else the
/// nearest `.env` (or `--env-file`, or none with `--no-dotenv`).
#[test]
fn the_url_comes_from_the_flag_the_environment_or_a_dotenv_file() {
    let schema = Schema::new();
    let project = TempDir::new("dotenv");
    let nested = project.0.join("src").join("deep");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(
        project.0.join(".env"),
        format!("# the app's settings\nDATABASE_URL={}\n", schema.url()),
    )
    .unwrap();
    let dead = "postgres://postgres@127.0.0.1:1/test";

    // The nearest parent's .env.
    let ok = strata_in(&nested, &[], &["health"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    // The environment wins over the file.
    let env = strata_in(&nested, &[("DATABASE_URL", dead)], &["health"]);
    assert_eq!(env.status.code(), Some(1), "{}", stdout(&env));
    // The flag wins over both.
    let flag = strata_in(
        &nested,
        &[("DATABASE_URL", dead)],
        &["--database-url", &schema.url(), "health"],
    );
    assert!(flag.status.success(), "{}", stderr(&flag));
    // --no-dotenv reads no file: with a dead URL in .env, the defaults
    // (the local server's `postgres` database) connect.
    let other = TempDir::new("no_dotenv");
    std::fs::write(other.0.join(".env"), format!("DATABASE_URL={dead}\n")).unwrap();
    assert_eq!(strata_in(&other.0, &[], &["health"]).status.code(), Some(1));
    let none = strata_in(&other.0, &[], &["--no-dotenv", "health"]);
    assert!(none.status.success(), "{}", stderr(&none));
    // A named file must exist, and a bad one names itself.
    let missing = strata_in(&nested, &[], &["--env-file", "no-such.env", "health"]);
    assert_eq!(missing.status.code(), Some(2), "the caller's to fix");
    assert!(
        stderr(&missing).contains("no-such.env"),
        "{}",
        stderr(&missing)
    );
    std::fs::write(project.0.join("bad.env"), "DATABASE_URL=x\nnot a line\n").unwrap();
    let bad = strata_in(&project.0, &[], &["--env-file", "bad.env", "health"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("bad.env line 2"), "{}", stderr(&bad));
}

/// `database create|drop|reset|setup` on a database of the test's own.
#[test]
fn database_create_drop_reset_setup() {
    let name = format!("strata_cli_db_{:08x}", rand::random::<u32>());
    let base = base_url();
    let (root, _) = base.rsplit_once('/').unwrap();
    let url = format!("{root}/{name}");
    let dir = repo("migrations");
    let dir = dir.to_str().unwrap();
    let users = |url: &str| strata(url, &["migrate", "--dir", dir, "list"]);

    let created = strata(&url, &["database", "create"]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created), format!("created database {name}\n"));
    let again = strata(&url, &["database", "create"]);
    assert_eq!(stdout(&again), format!("database {name} exists\n"));

    // Not confirmed (no terminal, no --yes): refused with exit 2, kept.
    let refused = strata(&url, &["database", "drop"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    assert!(strata(&url, &["health"]).status.success());

    let setup = strata(&url, &["database", "setup", "--dir", dir]);
    assert!(setup.status.success(), "{}", stderr(&setup));
    assert!(
        stdout(&setup).contains("applied  20240101000000 create_users"),
        "{}",
        stdout(&setup)
    );
    assert!(stdout(&users(&url)).contains("applied"));

    // A typo in --dir costs nothing: the folder is read before the drop.
    let typo = strata(
        &url,
        &["database", "reset", "--yes", "--dir", "/no/such/dir"],
    );
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stdout(&users(&url)).contains("applied"),
        "the database was kept"
    );

    let reset = strata(&url, &["database", "reset", "--yes", "--dir", dir]);
    assert!(reset.status.success(), "{}", stderr(&reset));
    let out = stdout(&reset);
    assert!(
        out.starts_with(&format!(
            "dropped database {name}\ncreated database {name}\napplied "
        )),
        "{out}"
    );

    let dropped = strata(&url, &["database", "drop", "-y", "--force"]);
    assert!(dropped.status.success(), "{}", stderr(&dropped));
    assert_eq!(stdout(&dropped), format!("dropped database {name}\n"));
    let gone = strata(&url, &["database", "drop", "-y"]);
    assert_eq!(stdout(&gone), format!("database {name} does not exist\n"));
    assert_eq!(strata(&url, &["health"]).status.code(), Some(1));
}

/// `--dry-run` says what would run, under the lock, and changes nothing.
#[test]
fn a_dry_run_lists_what_would_run_and_changes_nothing() {
    let schema = Schema::new();
    let url = schema.url();
    let dir = repo("migrations");
    let dir = dir.to_str().unwrap();
    let dry = strata(&url, &["migrate", "--dir", dir, "run", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert_eq!(
        stdout(&dry),
        "would apply  20240101000000 create_users\ndry run: nothing was changed\n"
    );
    let list = strata(&url, &["migrate", "--dir", dir, "list"]);
    assert!(stdout(&list).contains("pending"), "{}", stdout(&list));
    // Not even the history table was created.
    let tables = strata(&url, &["migrate", "--dir", dir, "revert", "--dry-run"]);
    assert_eq!(stdout(&tables), "nothing to do\n");

    assert!(
        strata(&url, &["migrate", "--dir", dir, "run"])
            .status
            .success()
    );
    let dry = strata(&url, &["migrate", "--dir", dir, "revert", "--dry-run"]);
    assert_eq!(
        stdout(&dry),
        "would revert 20240101000000 create_users\ndry run: nothing was changed\n"
    );
    let list = strata(&url, &["migrate", "--dir", dir, "list"]);
    assert!(stdout(&list).contains("applied"), "{}", stdout(&list));
}

/// A migration running longer than `--progress` says it is still running.
#[test]
fn a_long_migration_reports_progress() {
    let schema = Schema::new();
    let dir = TempDir::new("slow");
    let m = dir.0.join("20240101000000_slow");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("up.sql"), "SELECT pg_sleep(2.5);\n").unwrap();
    let out = strata(
        &schema.url(),
        &[
            "migrate",
            "--dir",
            dir.0.to_str().unwrap(),
            "run",
            "--progress",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  still applying 20240101000000 slow ("),
        "{text}"
    );
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("applied  20240101000000 slow ("),
        "{text}"
    );
}
