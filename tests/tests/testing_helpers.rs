//! `strata::testing` and `#[strata::test]`, used as an application's own
//! tests would use them (strata with the `testing` feature, no tokio
//! attribute, no harness from this repository).

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use strata::migrate::Migrator;
use strata::prelude::*;
use strata::testing::TestDb;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "notes")]
struct Note {
    #[model(primary_key, generated)]
    id: i64,
    title: String,
}

const NOTES: &str = "CREATE TABLE notes (id bigserial PRIMARY KEY, title text NOT NULL)";

/// Whether `schema` exists, asked on a handle of its own.
async fn schema_exists(on: &Db, schema: &str) -> bool {
    on.query_read_one(
        "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
        &[&schema],
    )
    .await
    .unwrap()
    .get::<_, i64>(0)
        == 1
}

#[strata::test]
async fn a_model_round_trips(db: Db) {
    db.execute(NOTES, &[]).await.unwrap();
    let note = Note::insert(
        &db,
        NewNote {
            title: "first".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(Note::get(&db, note.id).await.unwrap(), note);
    assert_eq!(Note::count(&db).await.unwrap(), 1);
}

#[strata::test]
async fn the_body_may_return_a_result(db: Db) -> strata::Result<()> {
    db.execute(NOTES, &[]).await?;
    let note = Note::insert(&db, NewNote { title: "q".into() }).await?;
    assert_eq!(Note::find(&db, note.id).await?, Some(note));
    Ok(())
}

#[strata::test]
async fn a_test_db_knows_its_schema(db: TestDb) {
    let current: String = db
        .query_read_one("SELECT current_schema()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(current, db.schema());
    assert!(db.schema().starts_with("strata_test_"), "{}", db.schema());
    assert_eq!(db.config().get_search_path(), Some(db.schema()));
    // Model operations take the `Db` inside.
    db.execute(NOTES, &[]).await.unwrap();
    Note::insert(db.db(), NewNote { title: "x".into() })
        .await
        .unwrap();
    assert_eq!(Note::count(&*db).await.unwrap(), 1);
}

#[strata::test(migrations = "fixtures/testing_migrations")]
async fn migrations_run_into_the_test_schema(db: TestDb) -> strata::Result<()> {
    // Both migrations ran: the table, the column the second one added,
    // and its seed row.
    let seeded = Note::query().all(db.db()).await?;
    assert_eq!(seeded.len(), 1);
    assert_eq!(seeded[0].title, "seeded by a migration");
    let tags: Vec<String> = db
        .query_read_one("SELECT tags FROM notes", &[])
        .await?
        .get(0);
    assert_eq!(tags, ["fixture"]);
    // The history is in the schema too, so the migrator sees nothing pending.
    let history: i64 = db
        .query_read_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'strata_migrations'",
            &[&db.schema()],
        )
        .await?
        .get(0);
    assert_eq!(history, 1);
    let again = Migrator::from_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/testing_migrations"
    ))?
    .up(db.db())
    .await?;
    assert!(again.is_empty(), "{again:?}");
    Ok(())
}

#[strata::test]
async fn migrate_applies_a_folder_at_run_time(db: TestDb) -> strata::Result<()> {
    // `cargo test` runs in the package's folder: relative paths start there.
    let steps = db.migrate("fixtures/testing_migrations").await?;
    assert_eq!(steps.len(), 2);
    assert_eq!(Note::count(db.db()).await?, 1);
    Ok(())
}

#[strata::test]
async fn dropping_the_test_db_drops_its_schema(db: TestDb) {
    let schema = db.schema().to_owned();
    db.execute(NOTES, &[]).await.unwrap();
    // A second handle on the same server, which outlives the `TestDb`.
    let other = Db::connect(db.config()).await.unwrap();
    assert!(schema_exists(&other, &schema).await);
    let registered = "SELECT count(*) FROM public.strata_test_schemas WHERE name = $1";
    let rows: i64 = other
        .query_read_one(registered, &[&schema])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "the schema is in the registry while it lives");
    drop(db);
    assert!(
        !schema_exists(&other, &schema).await,
        "{schema} is still there"
    );
    let rows: i64 = other
        .query_read_one(registered, &[&schema])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "the registry row goes with the schema");
    other.close().await;
}

#[strata::test]
async fn a_leaked_transaction_does_not_hang_the_drop(db: TestDb) {
    let schema = db.schema().to_owned();
    db.execute(NOTES, &[]).await.unwrap();
    let other = Db::connect(db.config()).await.unwrap();
    // A transaction that holds a lock on the schema's table and never ends.
    let locked = std::sync::Arc::new(tokio::sync::Notify::new());
    let (holder, signal) = (other.clone(), locked.clone());
    let leak = tokio::spawn(async move {
        holder
            .transaction(TxOptions::new(), |tx| {
                let signal = signal.clone();
                async move {
                    tx.execute("LOCK TABLE notes IN ACCESS SHARE MODE", &[])
                        .await?;
                    signal.notify_one();
                    std::future::pending::<()>().await;
                    Ok(())
                }
            })
            .await
    });
    locked.notified().await;
    // Watches from a connection that is not the test's own.
    let observer = Db::connect(db.config().application_name("observer"))
        .await
        .unwrap();
    let started = Instant::now();
    drop(db);
    let waited = started.elapsed();
    println!("the drop took {waited:?} with a transaction holding a lock");
    assert!(
        !schema_exists(&observer, &schema).await,
        "the drop ended the test's own connections and dropped the schema"
    );
    // Its closure waits forever; the connection under it is gone.
    leak.abort();
    let _ = leak.await;
    other.close().await;
    observer.close().await;
}

/// The schema of a test that panicked inside a transaction.
static PANICKED_IN_TX: Mutex<String> = Mutex::new(String::new());

#[test]
fn a_test_that_panics_inside_a_transaction_drops_its_schema() {
    let setup = strata::__private::testing::Setup {
        migrations: None,
        redis: false,
    };
    let outcome = std::panic::catch_unwind(|| {
        strata::__private::testing::run(setup, |db: Db| async move {
            db.execute(NOTES, &[]).await.unwrap();
            let schema: String = db
                .query_read_one("SELECT current_schema()", &[])
                .await
                .unwrap()
                .get(0);
            *PANICKED_IN_TX.lock().unwrap() = schema;
            let _: strata::Result<()> = db
                .transaction(TxOptions::new(), |tx| async move {
                    tx.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE", &[])
                        .await?;
                    panic!("the body fails inside its transaction");
                })
                .await;
        })
    });
    assert!(outcome.is_err(), "the panic reaches the test harness");
    let schema = PANICKED_IN_TX.lock().unwrap().clone();
    assert!(!schema.is_empty());
    strata::__private::testing::run(setup, |probe: Db| async move {
        assert!(!schema_exists(&probe, &schema).await, "{schema} survived");
    });
}

/// The schema of a test whose body panicked, read after the test.
static PANICKED_IN: Mutex<String> = Mutex::new(String::new());

#[test]
fn a_panicking_test_drops_its_schema_too() {
    // What `#[strata::test]` runs, with a body that panics.
    let setup = strata::__private::testing::Setup {
        migrations: None,
        redis: false,
    };
    let outcome = std::panic::catch_unwind(|| {
        strata::__private::testing::run(setup, |db: TestDb| async move {
            *PANICKED_IN.lock().unwrap() = db.schema().to_owned();
            panic!("the body fails");
        })
    });
    assert!(outcome.is_err(), "the panic reaches the test harness");
    let schema = PANICKED_IN.lock().unwrap().clone();
    assert!(!schema.is_empty());
    strata::__private::testing::run(setup, |probe: Db| async move {
        assert!(!schema_exists(&probe, &schema).await, "{schema} survived");
    });
}

#[strata::test]
#[should_panic(expected = "a failing body fails the test")]
async fn attributes_below_apply_to_the_test(db: Db) {
    db.execute("SELECT 1", &[]).await.unwrap();
    panic!("a failing body fails the test");
}

#[strata::test(redis)]
async fn redis_gives_the_handle_the_cache_tier(db: Db) {
    let report = db.health().await;
    assert_eq!(report.redis.status, "up", "{report:?}");
}

/// Two tests that meet while both are running: the schemas that have
/// arrived, and whether the second has seen the first's.
static MEETING: Mutex<(Vec<String>, bool)> = Mutex::new((Vec::new(), false));
static SEEN: Condvar = Condvar::new();

/// Each of the two tests creates a table of the same name in its schema,
/// and sees only its own row. The second to arrive checks that the first's
/// schema exists meanwhile (the first waits for that, bounded, so a
/// `--test-threads=1` run does not hang): the two really overlapped.
async fn sees_only_its_own(db: TestDb, mine: &str) {
    db.execute("CREATE TABLE shared (who text NOT NULL)", &[])
        .await
        .unwrap();
    db.execute("INSERT INTO shared (who) VALUES ($1)", &[&mine])
        .await
        .unwrap();
    let first = {
        let mut meeting = MEETING.lock().unwrap();
        meeting.0.push(db.schema().to_owned());
        (meeting.0.len() == 2).then(|| meeting.0[0].clone())
    };
    match first {
        Some(first) => {
            assert!(schema_exists(&db, &first).await, "{first} is gone");
            MEETING.lock().unwrap().1 = true;
            SEEN.notify_all();
            eprintln!("isolation: the two tests overlapped");
        }
        None => {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut meeting = MEETING.lock().unwrap();
            while !meeting.1 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    // Run alone: the other test will not count this one.
                    meeting.0.clear();
                    eprintln!("isolation: the two tests did not overlap");
                    break;
                }
                meeting = SEEN.wait_timeout(meeting, left).unwrap().0;
            }
        }
    }
    let rows = db.query_read("SELECT who FROM shared", &[]).await.unwrap();
    let who: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(who, [mine]);
}

#[strata::test]
async fn parallel_tests_are_isolated_a(db: TestDb) {
    sees_only_its_own(db, "a").await;
}

#[strata::test]
async fn parallel_tests_are_isolated_b(db: TestDb) {
    sees_only_its_own(db, "b").await;
}
