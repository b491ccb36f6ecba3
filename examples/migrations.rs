//! Migrations from code: a `Migrator` over a folder of
//! `<version>_<name>/{up,down}.sql` (written at runtime into a temporary
//! directory), its history table in a schema of its own
//! (`Migrator::schema`), a dry run, `up`, `status`, `verify`, `down` and
//! `down_to`, `redo`, a migration outside a transaction
//! (`-- strata:no-transaction`, for `CREATE INDEX CONCURRENTLY`), a changed
//! file that `up` refuses, and a failing migration that is rolled back with
//! its file and line named.
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example migrations
//! ```
//!
//! The migrations create their tables in `strata_example_migrations`; the
//! history lives in `strata_example_migrations_history`. Both schemas are
//! dropped at the start and at the end, and the temporary folder is
//! removed. It exits non-zero if the database does not end up in the state
//! each step promises.

use std::path::{Path, PathBuf};

use strata::migrate::{Direction, Migrator, State, Step};
use strata::prelude::*;

/// The schema the migrations write into.
const SCHEMA: &str = "strata_example_migrations";
/// The schema of the history table.
const HISTORY: &str = "strata_example_migrations_history";

/// (folder, up.sql, down.sql)
const MIGRATIONS: &[(&str, &str, &str)] = &[
    (
        "20240101000000_create_authors",
        "CREATE TABLE strata_example_migrations.authors (
    id   bigserial PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO strata_example_migrations.authors (name) VALUES ('Ada');
",
        "DROP TABLE strata_example_migrations.authors;\n",
    ),
    (
        "20240102000000_create_posts",
        "CREATE TABLE strata_example_migrations.posts (
    id        bigserial PRIMARY KEY,
    author_id bigint NOT NULL REFERENCES strata_example_migrations.authors,
    title     text   NOT NULL
);
",
        "DROP TABLE strata_example_migrations.posts;\n",
    ),
    (
        "20240103000000_index_posts_by_author",
        "-- strata:no-transaction
CREATE INDEX CONCURRENTLY posts_author_idx ON strata_example_migrations.posts (author_id);
",
        "-- strata:no-transaction
DROP INDEX CONCURRENTLY strata_example_migrations.posts_author_idx;
",
    ),
];

/// Writes `migrations` into `dir`, one folder each.
fn write_migrations(dir: &Path, migrations: &[(&str, &str, &str)]) -> std::io::Result<()> {
    for (folder, up, down) in migrations {
        let path = dir.join(folder);
        std::fs::create_dir_all(&path)?;
        std::fs::write(path.join("up.sql"), up)?;
        std::fs::write(path.join("down.sql"), down)?;
    }
    Ok(())
}

/// The migrator this example uses: the folder, the history's schema, and
/// a line per step.
fn migrator(dir: &Path) -> strata::Result<Migrator> {
    Ok(Migrator::from_dir(dir)?
        .schema(HISTORY)
        .on_step(|s: &Step| {
            let verb = match s.direction {
                Direction::Up => "applied ",
                Direction::Down => "reverted",
            };
            println!(
                "  {verb} {} {} ({} ms)",
                s.version,
                s.name,
                s.elapsed.as_millis()
            );
        }))
}

/// Prints `status` and returns each migration's state.
async fn status(m: &Migrator, db: &Db) -> strata::Result<Vec<State>> {
    let rows = m.status(db).await?;
    for s in &rows {
        println!("  {:<8} {} {}", s.state, s.version, s.name);
    }
    Ok(rows.into_iter().map(|s| s.state).collect())
}

/// Whether `schema.name` is a relation (table or index).
async fn relation_exists(db: &Db, name: &str) -> strata::Result<bool> {
    let row = db
        .query_read_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await?;
    Ok(row.get(0))
}

/// The versions recorded in the history table.
async fn history(db: &Db) -> strata::Result<Vec<i64>> {
    Ok(db
        .query_read(
            "SELECT version FROM strata_example_migrations_history.strata_migrations ORDER BY version",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

async fn drop_schemas(db: &Db) -> strata::Result<()> {
    for schema in [SCHEMA, HISTORY] {
        db.execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), &[])
            .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect(Config::from_env()?).await?;
    drop_schemas(&db).await?;
    db.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[]).await?;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("strata_example_migrations_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let outcome = walk_through(&db, &dir).await;
    std::fs::remove_dir_all(&dir)?;
    drop_schemas(&db).await?;
    db.close().await;
    outcome
}

async fn walk_through(db: &Db, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    write_migrations(dir, MIGRATIONS)?;
    let m = migrator(dir)?;
    println!("{} migrations in {}", m.migrations().len(), dir.display());

    println!("status before anything ran:");
    assert_eq!(status(&m, db).await?, [State::Pending; 3]);

    // A dry run plans the steps with the real run's code and runs nothing.
    println!("dry run of up:");
    let plan = m.clone().dry_run(true).up(db).await?;
    assert_eq!(plan.len(), 3);
    assert!(!relation_exists(db, "strata_example_migrations.authors").await?);
    assert!(
        !relation_exists(db, "strata_example_migrations_history.strata_migrations").await?,
        "a dry run does not even create the history table"
    );

    println!("up:");
    let applied = m.up(db).await?;
    assert_eq!(applied.len(), 3);
    assert!(relation_exists(db, "strata_example_migrations.posts_author_idx").await?);
    assert_eq!(
        history(db).await?,
        [20240101000000, 20240102000000, 20240103000000]
    );
    println!("status:");
    assert_eq!(status(&m, db).await?, [State::Applied; 3]);
    m.verify(db).await?;
    println!("verify: the history matches the files");
    assert!(m.up(db).await?.is_empty(), "a second up has nothing to do");

    // down reverts the newest; redo reverts it and applies it again.
    println!("down:");
    let reverted = m.down(db).await?;
    assert_eq!(reverted.len(), 1);
    assert!(!relation_exists(db, "strata_example_migrations.posts_author_idx").await?);
    assert_eq!(
        status(&m, db).await?,
        [State::Applied, State::Applied, State::Pending]
    );
    println!("up again, then redo:");
    m.up(db).await?;
    let redone = m.redo(db).await?;
    assert_eq!(
        redone.iter().map(|s| s.direction).collect::<Vec<_>>(),
        [Direction::Down, Direction::Up]
    );

    // An applied migration whose up.sql changed: status says so, up and
    // verify refuse until the file is restored.
    let first = dir.join(MIGRATIONS[0].0).join("up.sql");
    std::fs::write(&first, format!("{}-- edited\n", MIGRATIONS[0].1))?;
    let edited = migrator(dir)?;
    println!("status after editing an applied migration:");
    assert_eq!(
        status(&edited, db).await?,
        [State::Changed, State::Applied, State::Applied]
    );
    let refused = edited.up(db).await.expect_err("up refuses a changed file");
    println!("  up: {refused}");
    assert!(matches!(refused, Error::Migration { .. }));
    assert!(edited.verify(db).await.is_err());
    std::fs::write(&first, MIGRATIONS[0].1)?;

    // A failing migration rolls back whole, and the error names the file
    // and the line.
    write_migrations(
        dir,
        &[(
            "20240104000000_add_tags",
            "CREATE TABLE strata_example_migrations.tags (id bigserial PRIMARY KEY);
INSERT INTO strata_example_migrations.tags (nope) VALUES (1);
",
            "DROP TABLE strata_example_migrations.tags;\n",
        )],
    )?;
    let with_bad = migrator(dir)?;
    let failed = with_bad
        .up(db)
        .await
        .expect_err("the INSERT names no column");
    println!("up with a broken migration: {failed}");
    match &failed {
        Error::Migration {
            version,
            file,
            line,
            ..
        } => {
            assert_eq!(*version, Some(20240104000000));
            assert!(file.as_deref().is_some_and(|f| f.ends_with("up.sql")));
            assert_eq!(*line, Some(2));
        }
        other => panic!("expected Error::Migration, got {other:?}"),
    }
    assert!(
        !relation_exists(db, "strata_example_migrations.tags").await?,
        "the failed migration's first statement was rolled back too"
    );
    assert_eq!(history(db).await?.len(), 3);
    std::fs::remove_dir_all(dir.join("20240104000000_add_tags"))?;

    // down_to(v) reverts every migration above v, newest first; 0 reverts all.
    println!("down_to(20240101000000):");
    assert_eq!(m.down_to(db, 20240101000000).await?.len(), 2);
    assert_eq!(history(db).await?, [20240101000000]);
    println!("down_to(0):");
    m.down_to(db, 0).await?;
    assert!(history(db).await?.is_empty());
    assert!(!relation_exists(db, "strata_example_migrations.authors").await?);
    Ok(())
}
