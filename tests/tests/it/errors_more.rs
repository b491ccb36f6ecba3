//! Errors that must say what went wrong: the same table name from every
//! read, decode failures that name the column and both types, unique
//! violations in a batch that name the row, an upsert that meets a
//! soft-deleted row, and health reasons with their cause.

use strata::prelude::*;
use strata_tests::TestDb;
use strata_tests::proxy::FaultProxy;

use super::models::*;

#[tokio::test]
async fn not_found_names_the_table_alike_from_get_and_get_cached() {
    let t = TestDb::new().await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    let what = |err: Error| match err {
        Error::NotFound { what } => what,
        other => panic!("{other:?}"),
    };
    let plain = what(Product::get(t.db(), 7).await.unwrap_err());
    let cached = what(Product::get_cached(t.db(), 7).await.unwrap_err());
    assert_eq!(plain, "products");
    assert_eq!(cached, plain, "get_cached names the table as get does");
    assert_eq!(
        Product::get_cached(t.db(), 7)
            .await
            .unwrap_err()
            .to_string(),
        "no products found"
    );
}

#[tokio::test]
async fn decode_errors_say_column_rust_type_and_what_was_found() {
    let t = TestDb::new().await;
    // `age` is text here and `name` nullable, where the model says i32 and String.
    t.execute(
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text, name text, age text,
           active bool, created_at timestamptz DEFAULT now(), deleted_at timestamptz)",
        &[],
    )
    .await
    .unwrap();
    t.execute(
        "INSERT INTO users (id, email, name, age, active) VALUES (1, 'a', 'b', 'old', true)",
        &[],
    )
    .await
    .unwrap();
    let err = User::get(t.db(), 1).await.unwrap_err();
    assert!(
        matches!(&err, Error::Decode { column, .. } if column == "age"),
        "{err:?}"
    );
    let shown = err.to_string();
    println!("wrong type: {shown}");
    assert!(shown.contains("column age"), "{shown}");
    assert!(shown.contains("i32"), "names the Rust type: {shown}");
    assert!(shown.contains("text"), "names the PostgreSQL type: {shown}");

    // A fresh schema: the pooled connections have the old row type cached.
    let t = TestDb::new().await;
    t.execute(&USERS.replace("name text NOT NULL", "name text"), &[])
        .await
        .unwrap();
    t.execute(
        "INSERT INTO users (id, email, name, age, active) VALUES (1, 'a', NULL, 1, true)",
        &[],
    )
    .await
    .unwrap();
    let err = User::get(t.db(), 1).await.unwrap_err();
    let shown = err.to_string();
    println!("null: {shown}");
    assert!(shown.contains("column name"), "{shown}");
    assert!(shown.contains("String"), "names the Rust type: {shown}");
    assert!(shown.contains("NULL"), "says NULL was found: {shown}");
    assert!(std::error::Error::source(&err).is_some());
}

/// The field errors of a failed batch, as `(field, code)`.
fn fields(err: &Error) -> Vec<(String, String)> {
    err.field_errors()
        .unwrap_or_else(|| panic!("no field errors: {err:?}"))
        .errors
        .iter()
        .map(|e| (e.field.to_string(), e.code.to_string()))
        .collect()
}

#[tokio::test]
async fn a_unique_violation_in_insert_many_names_the_row() {
    let t = TestDb::new().await;
    t.execute(USERS, &[]).await.unwrap();
    User::insert(t.db(), new_user(5)).await.unwrap();

    // Multi-row INSERT: the third row collides with the stored one.
    let rows = vec![new_user(1), new_user(2), new_user(5), new_user(3)];
    let err = User::insert_many(t.db(), rows).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation { .. }), "{err:?}");
    assert_eq!(fields(&err), [("[2].email".into(), "unique".into())]);
    println!("batch: {err}");
    assert!(err.to_string().contains("row 2"), "{err}");

    // COPY (more rows than the multi-row INSERT takes): row 280 collides.
    let mut rows: Vec<NewUser> = (100..400).map(new_user).collect();
    assert!(rows.len() > strata::COPY_THRESHOLD);
    rows[280] = new_user(5);
    let err = User::insert_many(t.db(), rows).await.unwrap_err();
    assert_eq!(fields(&err), [("[280].email".into(), "unique".into())]);

    // A duplicate inside the batch: the later copy is the one that fails.
    let rows = vec![new_user(10), new_user(11), new_user(10)];
    let err = User::insert_many(t.db(), rows).await.unwrap_err();
    assert_eq!(fields(&err), [("[2].email".into(), "unique".into())]);
    assert_eq!(
        t.count("users").await,
        1,
        "nothing of the batches was stored"
    );

    // Quotes and backslashes in the key text still find their row.
    let mut odd = new_user(20);
    odd.email = "o'\"dd\\@example.com".into();
    User::insert(t.db(), odd.clone()).await.unwrap();
    let err = User::insert_many(t.db(), vec![new_user(21), odd])
        .await
        .unwrap_err();
    assert_eq!(fields(&err), [("[1].email".into(), "unique".into())]);
}

#[tokio::test]
async fn upsert_onto_a_soft_deleted_row_revives_it() {
    let t = TestDb::new().await;
    t.execute(USERS, &[]).await.unwrap();
    let u = User::insert(t.db(), new_user(1)).await.unwrap();
    User::delete(t.db(), u.id).await.unwrap();
    let mut again = new_user(1);
    again.name = "Back".into();
    let up = User::upsert(t.db(), again).await.unwrap();
    assert_eq!(up.id, u.id, "the conflicting row is updated, not a new one");
    assert_eq!(up.deleted_at, None, "the upsert revived the row");
    let seen = User::get(t.db(), u.id).await.unwrap();
    assert_eq!(seen.name, "Back");
    assert_eq!(User::count(t.db()).await.unwrap(), 1);
}

#[tokio::test]
async fn health_says_redis_authentication_failed() {
    let redis = PasswordRedis::start("right-password");
    let url = format!("redis://:wrong-password@127.0.0.1:{}", redis.port);
    let t = TestDb::with(move |c| c.redis_url(url)).await;
    let report = t.health().await;
    assert_eq!(report.redis.status, "down");
    let error = report.redis.error.clone().unwrap_or_default();
    println!("redis: {error}");
    assert!(
        error.contains("authentication failed"),
        "health names the cause: {report:?}"
    );
    assert!(!error.contains("wrong-password"), "{error}");
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains("authentication failed")),
        "{report:?}"
    );
}

/// A `redis-server --requirepass` of this test's own, killed on drop.
struct PasswordRedis {
    port: u16,
    child: std::process::Child,
}

impl PasswordRedis {
    fn start(password: &str) -> PasswordRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .args(["--requirepass", password])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = PasswordRedis { port, child };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("redis-server on port {port} did not come up");
    }
}

impl Drop for PasswordRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn health_gives_the_cause_behind_an_open_breaker() {
    let t = TestDb::new().await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let db = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(1)
            .retry_attempts(0)
            .breaker_threshold(1)
            .breaker_cooldown(std::time::Duration::from_secs(30)),
    )
    .await
    .unwrap();
    db.query_read("SELECT 1", &[]).await.unwrap();
    // Nothing listens on the port any more: connects are refused.
    drop(proxy);
    let mut opened = false;
    for _ in 0..10 {
        if let Err(Error::CircuitOpen) = db.query_read("SELECT 1", &[]).await {
            opened = true;
            break;
        }
    }
    assert!(opened, "the breaker never opened");
    let report = db.health().await;
    assert_eq!(report.postgres.status, "down");
    let error = report.postgres.error.clone().unwrap_or_default();
    println!("postgres: {error}");
    assert!(error.contains("circuit breaker open"), "{report:?}");
    assert!(
        error.to_lowercase().contains("refused"),
        "health gives the connect error behind the breaker: {report:?}"
    );
}

/// A migrations folder written by the test; removed on drop.
struct Folder(std::path::PathBuf);

impl Folder {
    fn new(migrations: &[(&str, &str)]) -> Folder {
        let dir = std::env::temp_dir().join(format!(
            "strata_cic_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        for (name, up) in migrations {
            let m = dir.join(name);
            std::fs::create_dir_all(&m).unwrap();
            std::fs::write(m.join("up.sql"), up).unwrap();
        }
        Folder(dir)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Invalid indexes of the test's schema.
async fn invalid_indexes(t: &TestDb) -> Vec<String> {
    t.query(
        "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test]
async fn a_failed_concurrent_index_is_named_and_the_rerun_works() {
    use strata::migrate::Migrator;
    let t = TestDb::new().await;
    let folder = Folder::new(&[
        (
            "20240101000000_emails",
            "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL);
             INSERT INTO people VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x');",
        ),
        (
            "20240102000000_unique_email",
            "-- strata:no-transaction\n\
             CREATE UNIQUE INDEX CONCURRENTLY people_email_idx ON people (email);\n",
        ),
    ]);
    let migrator = Migrator::from_dir(&folder.0).unwrap();
    let err = migrator.up(t.db()).await.unwrap_err();
    let shown = err.to_string();
    println!("cic: {shown}");
    assert!(
        shown.contains("people_email_idx"),
        "names the index: {shown}"
    );
    assert!(
        invalid_indexes(&t).await.is_empty(),
        "the INVALID index was dropped"
    );
    // Fix the data, run again: no "already exists".
    t.execute("DELETE FROM people WHERE id = 2", &[])
        .await
        .unwrap();
    migrator.up(t.db()).await.unwrap();
    assert!(invalid_indexes(&t).await.is_empty());

    // An INVALID index left by an earlier run (a lost connection, an
    // older strata) is dropped before the statement that builds it runs.
    let folder = Folder::new(&[
        (
            "20240101000000_emails",
            "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL);
             INSERT INTO people VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x');",
        ),
        (
            "20240102000000_unique_email",
            "-- strata:no-transaction\n\
             CREATE UNIQUE INDEX CONCURRENTLY people_email_idx ON people (email);\n",
        ),
    ]);
    let t = TestDb::new().await;
    let migrator = Migrator::from_dir(&folder.0).unwrap();
    migrator.up_to(t.db(), 20240101000000).await.unwrap();
    let _ = t
        .execute(
            "CREATE UNIQUE INDEX CONCURRENTLY people_email_idx ON people (email)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_indexes(&t).await, ["people_email_idx"]);
    t.execute("DELETE FROM people WHERE id = 2", &[])
        .await
        .unwrap();
    migrator.up(t.db()).await.unwrap();
    assert!(invalid_indexes(&t).await.is_empty());
}

/// `query_one` and `query_opt` (and the `query_read_*` twins) return
/// `TooManyRows` for a statement that returns more than one row, as
/// tokio-postgres does, on `Db` and in a transaction; one row and none
/// behave as before.
#[tokio::test]
async fn query_one_refuses_more_than_one_row() {
    let t = TestDb::new().await;
    let two = "SELECT n FROM generate_series(1, 2) AS g (n)";
    let rows = |err: Error| match err {
        Error::TooManyRows { rows } => rows,
        other => panic!("{other:?}"),
    };
    assert_eq!(rows(t.query_one(two, &[]).await.unwrap_err()), 2);
    assert_eq!(rows(t.query_opt(two, &[]).await.unwrap_err()), 2);
    assert_eq!(rows(t.query_read_one(two, &[]).await.unwrap_err()), 2);
    assert_eq!(rows(t.query_read_opt(two, &[]).await.unwrap_err()), 2);
    // Each is a failure the caller saw, so each is counted as one.
    let kind = strata::FAILURE_KINDS
        .iter()
        .position(|k| *k == "too_many_rows")
        .unwrap();
    let m = t.db().metrics();
    assert_eq!(m.queries.failed, 4, "{m:?}");
    assert_eq!(m.queries.failed_by_kind[kind], 4, "{m:?}");
    let err = t.query_one(two, &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the statement returned 2 rows where exactly one was expected"
    );
    t.transaction(TxOptions::new(), |tx| async move {
        let err = tx.query_one(two, &[]).await.unwrap_err();
        assert!(matches!(err, Error::TooManyRows { rows: 2 }), "{err:?}");
        Ok(())
    })
    .await
    .unwrap();
    let one: i32 = t.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    assert!(
        t.query_opt("SELECT 1 WHERE false", &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        t.query_one("SELECT 1 WHERE false", &[]).await.unwrap_err(),
        Error::NotFound { .. }
    ));
}
