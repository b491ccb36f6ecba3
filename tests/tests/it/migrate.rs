//! Migrations against real PostgreSQL: round trips, failures, checksums,
//! concurrent migrators, `CREATE INDEX CONCURRENTLY` under the lock, and the
//! embedded set.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strata::migrate::{Direction, EmbeddedMigration, Migrator, State};
use strata::{Db, Error, Executor};
use strata_tests::TestDb;

const ROUNDTRIP: &str = "fixtures/migrations_roundtrip";
const BROKEN: &str = "fixtures/migrations_broken";
const CIC: &str = "fixtures/migrations_cic";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A copy of a fixture folder that a test may edit; removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn copy_of(rel: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "strata_migrate_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        copy_dir(&fixture(rel), &dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Tables, columns, types, indexes, constraints, functions, triggers and
/// user types of the test schema, minus the history table: one sorted line each.
async fn catalog(db: &TestDb) -> Vec<String> {
    let rows = db
        .query(
            "WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $1)
             SELECT 'rel ' || relname || ' ' || relkind::text FROM pg_class
               WHERE relnamespace = (SELECT oid FROM ns) AND relname NOT LIKE 'strata_migrations%'
             UNION ALL
             SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' '
                    || udt_name || ' ' || is_nullable || ' ' || coalesce(column_default, '-')
               FROM information_schema.columns
               WHERE table_schema = $1 AND table_name <> 'strata_migrations'
             UNION ALL
             SELECT 'idx ' || indexdef FROM pg_indexes
               WHERE schemaname = $1 AND tablename <> 'strata_migrations'
             UNION ALL
             SELECT 'con ' || conname || ' ' || contype::text || ' ' || pg_get_constraintdef(oid)
               FROM pg_constraint
               WHERE connamespace = (SELECT oid FROM ns) AND conname NOT LIKE 'strata_migrations%'
             UNION ALL
             SELECT 'type ' || typname || ' ' || typtype::text FROM pg_type
               WHERE typnamespace = (SELECT oid FROM ns) AND typtype IN ('e', 'd')
             UNION ALL
             SELECT 'fn ' || proname || '(' || pg_get_function_identity_arguments(oid) || ')'
               FROM pg_proc WHERE pronamespace = (SELECT oid FROM ns)
             UNION ALL
             SELECT 'trigger ' || tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
               WHERE c.relnamespace = (SELECT oid FROM ns) AND NOT t.tgisinternal
             ORDER BY 1",
            &[&db.schema()],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn history(db: &Db) -> Vec<(i64, String)> {
    db.query(
        "SELECT version, name FROM strata_migrations ORDER BY version",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

async fn table_exists(db: &Db, name: &str) -> bool {
    db.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn up_and_down_restore_the_schema_exactly() {
    let db = TestDb::new().await;
    let m = Migrator::from_dir(fixture(ROUNDTRIP)).unwrap();
    let empty = catalog(&db).await;

    let steps = m.up_to(&db, 20240101000000).await.unwrap();
    assert_eq!(steps.len(), 1);
    let first = catalog(&db).await;
    assert!(first.iter().any(|l| l == "rel posts r"), "{first:#?}");

    let steps = m.up(&db).await.unwrap();
    let versions: Vec<i64> = steps.iter().map(|s| s.version).collect();
    assert_eq!(versions, [20240102000000, 20240103000000]);
    assert!(steps.iter().all(|s| s.direction == Direction::Up));
    let all = catalog(&db).await;
    assert!(all.iter().any(|l| l.contains("authors_lower_email_idx")));
    assert!(all.iter().any(|l| l == "trigger posts_touch"));
    assert!(m.up(&db).await.unwrap().is_empty(), "nothing left to apply");

    // One step down reverts only the newest.
    let steps = m.down(&db).await.unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(
        (steps[0].version, steps[0].direction),
        (20240103000000, Direction::Down)
    );

    let redo = m.redo(&db).await.unwrap();
    assert_eq!(redo.len(), 2);
    assert_eq!(history(&db).await.len(), 2);

    m.down_to(&db, 20240101000000).await.unwrap();
    assert_eq!(catalog(&db).await, first);
    m.down_to(&db, 0).await.unwrap();
    assert_eq!(catalog(&db).await, empty);
    assert!(history(&db).await.is_empty());

    m.up(&db).await.unwrap();
    assert_eq!(catalog(&db).await, all);
    let status = m.status(&db).await.unwrap();
    assert!(status.iter().all(|s| s.state == State::Applied));
    assert!(status.iter().all(|s| s.applied_at.is_some()));
}

/// A dry run returns the steps the real run then takes, and changes
/// nothing: no migration, no history table; `on_start` and `on_step`
/// bracket each real step.
#[tokio::test]
async fn a_dry_run_plans_exactly_what_the_run_does() {
    let db = TestDb::new().await;
    let empty = catalog(&db).await;
    let m = Migrator::from_dir(fixture(ROUNDTRIP)).unwrap();
    let plan = m.clone().dry_run(true).up(&db).await.unwrap();
    assert_eq!(catalog(&db).await, empty, "a dry run changed the schema");
    assert!(!table_exists(&db, "strata_migrations").await);
    assert!(plan.iter().all(|s| s.elapsed.is_zero()));

    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (started, ended) = (events.clone(), events.clone());
    let ran = m
        .clone()
        .on_start(move |s| started.lock().unwrap().push(format!("start {}", s.version)))
        .on_step(move |s| ended.lock().unwrap().push(format!("end {}", s.version)))
        .up(&db)
        .await
        .unwrap();
    let key = |s: &strata::migrate::Step| (s.version, s.name.clone(), s.direction);
    assert_eq!(
        plan.iter().map(key).collect::<Vec<_>>(),
        ran.iter().map(key).collect::<Vec<_>>()
    );
    let expected: Vec<String> = ran
        .iter()
        .flat_map(|s| [format!("start {}", s.version), format!("end {}", s.version)])
        .collect();
    assert_eq!(*events.lock().unwrap(), expected);

    let back = m.clone().dry_run(true).down_to(&db, 0).await.unwrap();
    assert_eq!(back.len(), ran.len());
    assert!(back.iter().all(|s| s.direction == Direction::Down));
    assert_eq!(
        history(&db).await.len(),
        ran.len(),
        "a dry down reverted something"
    );
}

/// `Migrator::schema` keeps the history table out of the application's
/// schema, creating its own if missing.
#[tokio::test]
async fn the_history_table_lives_in_the_schema_named() {
    let db = TestDb::new().await;
    let ops = format!("{}_ops", db.schema());
    let m = Migrator::from_dir(fixture(ROUNDTRIP))
        .unwrap()
        .schema(ops.clone());
    m.up(&db).await.unwrap();
    assert!(!table_exists(&db, "strata_migrations").await);
    assert!(table_exists(&db, &format!("\"{ops}\".strata_migrations")).await);
    assert!(
        m.status(&db)
            .await
            .unwrap()
            .iter()
            .all(|s| s.state == State::Applied)
    );
    assert!(
        m.up(&db).await.unwrap().is_empty(),
        "the history was read back"
    );
    db.execute(&format!("DROP SCHEMA \"{ops}\" CASCADE"), &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_migration_rolls_back_alone_and_names_its_line() {
    let db = TestDb::new().await;
    let m = Migrator::from_dir(fixture(BROKEN)).unwrap();
    let err = m.up(&db).await.unwrap_err();
    let Error::Migration {
        version,
        file,
        line,
        ..
    } = &err
    else {
        panic!("expected a migration error, got {err:?}");
    };
    assert_eq!(*version, Some(20240102000000));
    let file = file.as_deref().unwrap();
    assert!(file.ends_with("20240102000000_second/up.sql"), "{file}");
    assert_eq!(*line, Some(4));
    let shown = err.to_string();
    assert!(shown.contains("line 4"), "{shown}");
    assert!(shown.contains("20240102000000_second/up.sql"), "{shown}");
    let cause = err.source().expect("the database error").to_string();
    assert!(
        cause.contains("relation \"no_such_table\" does not exist"),
        "{cause}"
    );

    assert_eq!(history(&db).await, [(20240101000000, "first".to_owned())]);
    assert!(table_exists(&db, "first_table").await);
    for never in ["second_table", "never_table", "third_table"] {
        assert!(!table_exists(&db, never).await, "{never} must not exist");
    }
    let states: Vec<State> = m
        .status(&db)
        .await
        .unwrap()
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, [State::Applied, State::Pending, State::Pending]);
}

#[tokio::test]
async fn a_changed_checksum_blocks_up_and_shows_in_status() {
    let db = TestDb::new().await;
    let dir = TempDir::copy_of(BROKEN);
    std::fs::remove_dir_all(dir.0.join("20240102000000_second")).unwrap();
    Migrator::from_dir(&dir.0).unwrap().up(&db).await.unwrap();
    Migrator::from_dir(&dir.0)
        .unwrap()
        .verify(&db)
        .await
        .unwrap();

    let first = dir.0.join("20240101000000_first/up.sql");
    let original = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, format!("{original}-- edited after it ran\n")).unwrap();
    let edited = Migrator::from_dir(&dir.0).unwrap();
    let states: Vec<State> = edited
        .status(&db)
        .await
        .unwrap()
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, [State::Changed, State::Applied]);

    let err = edited.up(&db).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Migration {
                version: Some(20240101000000),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("20240101000000"), "{err}");
    assert!(edited.verify(&db).await.is_err());

    // A folder that vanished after it ran shows as missing.
    std::fs::write(&first, original).unwrap();
    std::fs::remove_dir_all(dir.0.join("20240103000000_third")).unwrap();
    let pruned = Migrator::from_dir(&dir.0).unwrap();
    let states: Vec<State> = pruned
        .status(&db)
        .await
        .unwrap()
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, [State::Applied, State::Missing]);
    let err = pruned.verify(&db).await.unwrap_err();
    assert!(err.to_string().contains("20240103000000"), "{err}");
}

#[tokio::test]
async fn four_concurrent_migrators_apply_each_migration_once() {
    let db = TestDb::new().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let own = Db::connect(db.config()).await.unwrap();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let m = Migrator::from_dir(fixture(ROUNDTRIP)).unwrap();
            barrier.wait().await;
            let steps = m.up(&own).await;
            own.close().await;
            steps
        }));
    }
    let mut applied = 0;
    for task in tasks {
        // Every migration's DDL would fail if run twice.
        applied += task.await.unwrap().unwrap().len();
    }
    assert_eq!(applied, 3);
    let versions: Vec<i64> = history(&db).await.into_iter().map(|(v, _)| v).collect();
    assert_eq!(versions, [20240101000000, 20240102000000, 20240103000000]);
}

/// The Flyway #1654 case: A holds the lock and runs `CREATE INDEX
/// CONCURRENTLY`, which waits for every transaction that could see the
/// table; B arrives meanwhile. A B waiting inside a transaction would
/// deadlock A. Both must finish.
#[tokio::test]
async fn a_waiting_migrator_does_not_block_create_index_concurrently() {
    let db = TestDb::new().await;
    let app = format!("cic_{}", db.schema());
    let a_db = Db::connect(db.config().application_name(app.clone()))
        .await
        .unwrap();
    let b_db = Db::connect(db.config()).await.unwrap();
    let a = tokio::spawn(async move { Migrator::from_dir(fixture(CIC)).unwrap().up(&a_db).await });

    // Start B only once A is inside the index build.
    let admin = strata_tests::admin().await;
    let mut seen = false;
    for _ in 0..200 {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND state = 'active'
                   AND query ILIKE 'CREATE INDEX CONCURRENTLY%'",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen, "migrator A never reached CREATE INDEX CONCURRENTLY");
    let b = tokio::spawn(async move { Migrator::from_dir(fixture(CIC)).unwrap().up(&b_db).await });

    let (a, b) = tokio::time::timeout(Duration::from_secs(15), async {
        (a.await.unwrap(), b.await.unwrap())
    })
    .await
    .expect("the migrators deadlocked");
    assert_eq!(a.unwrap().len(), 2, "A applied both");
    assert!(b.unwrap().is_empty(), "B found nothing left to do");
    assert_eq!(history(&db).await.len(), 2);
    let valid: bool = db
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_slow_idx'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(valid);
}

static EMBEDDED: &[EmbeddedMigration] = strata::embed_migrations!("../migrations");
static EMBEDDED_CIC: &[EmbeddedMigration] = strata::embed_migrations!("fixtures/migrations_cic");

#[tokio::test]
async fn the_embedded_set_equals_the_folder() {
    for (embedded, dir) in [
        (EMBEDDED, fixture("../migrations")),
        (EMBEDDED_CIC, fixture(CIC)),
    ] {
        let from_disk = Migrator::from_dir(&dir).unwrap();
        let compiled = Migrator::embedded(embedded).unwrap();
        assert!(!compiled.migrations().is_empty());
        assert_eq!(compiled.migrations(), from_disk.migrations());
    }
    assert!(EMBEDDED_CIC[1].no_transaction && !EMBEDDED_CIC[0].no_transaction);

    // The repository's own migrations apply and revert from the binary alone.
    let db = TestDb::new().await;
    let m = Migrator::embedded(EMBEDDED).unwrap();
    m.up(&db).await.unwrap();
    db.execute(
        "INSERT INTO users (email, name, age, active) VALUES ('a@example.com', 'A', 30, true)",
        &[],
    )
    .await
    .unwrap();
    m.down_to(&db, 0).await.unwrap();
    assert!(!table_exists(&db, "users").await);
}

#[test]
fn new_creates_empty_files_with_increasing_versions() {
    let dir = TempDir::copy_of(BROKEN);
    let a = Migrator::create(&dir.0, "add_things").unwrap();
    let b = Migrator::create(&dir.0, "add_more").unwrap();
    for p in [&a, &b] {
        assert_eq!(std::fs::read_to_string(p.join("up.sql")).unwrap(), "");
        assert_eq!(std::fs::read_to_string(p.join("down.sql")).unwrap(), "");
    }
    let m = Migrator::from_dir(&dir.0).unwrap();
    let names: Vec<&str> = m.migrations().iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        ["first", "second", "third", "add_things", "add_more"]
    );
    assert!(Migrator::create(&dir.0, "Bad Name").is_err());
}

/// `Migrator::from_dir` accepts and rejects each folder layout as
/// `embed_migrations!` does: both read folders with
/// `strata_migrations_fs::scan`, and the macro's unit test
/// (`migrate-macros/src/lib.rs`) holds it to this same table.
#[test]
fn from_dir_and_embed_migrations_agree_on_every_layout() {
    for layout in strata_migrations_fs::layouts::ALL {
        let dir = TempDir(std::env::temp_dir().join(format!(
            "strata_layout_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )));
        std::fs::create_dir_all(&dir.0).unwrap();
        layout.write(&dir.0).unwrap();
        let loaded = Migrator::from_dir(&dir.0);
        assert_eq!(
            loaded.is_ok(),
            layout.ok,
            "{}: {:?}",
            layout.name,
            loaded.err()
        );
        if let Ok(m) = loaded {
            let versions: Vec<i64> = m.migrations().iter().map(|m| m.version()).collect();
            assert!(versions.is_sorted(), "{}: {versions:?}", layout.name);
        }
    }
}
