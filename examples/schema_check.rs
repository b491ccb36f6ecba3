//! Schema drift check: compare models with the live database and list every
//! mismatch in plain words. Exits non-zero when something differs, so it can
//! gate a deploy.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example schema_check
//! ```
//!
//! The gate: the repository's `migrations/` are applied to a scratch schema
//! (`strata_schema_check`, dropped at the start and at the end) and the
//! model is checked against the result; any drift there exits 1. Then, to
//! show what drift looks like, the table is altered the way a hand-made
//! change would (`age` becomes text, `name` is dropped) and the check must
//! name exactly those two mismatches (exit 1 if it does not).
//!
//! An application does the same with its own models (`db.check_models(&[..])`).

use strata::prelude::*;

/// The users table of `migrations/20240101000000_create_users`.
#[derive(Model, Debug, Clone)]
#[model(schema = "strata_schema_check", table = "users", soft_delete)]
#[allow(dead_code)] // the check reads the model's metadata, not its values
struct User {
    #[model(primary_key, generated)]
    id: i64,
    #[model(unique)]
    email: String,
    name: String,
    age: i32,
    active: bool,
    #[model(generated)]
    created_at: chrono::DateTime<chrono::Utc>,
    #[model(deleted_at)]
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The scratch schema (the migrations create `users` in it).
const SCHEMA: &str = "strata_schema_check";

#[tokio::main]
async fn main() -> strata::Result<()> {
    let base = Db::connect(Config::from_env()?).await?;
    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[])
        .await?;
    let db = Db::connect(base.config().clone().search_path(SCHEMA)).await?;
    let outcome = gate(&db).await;
    db.close().await;
    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.close().await;
    if !outcome? {
        std::process::exit(1);
    }
    Ok(())
}

/// Prints every drift; true when there is none.
fn report(drifts: &[strata::migrate::Drift]) -> bool {
    let mut clean = true;
    for drift in drifts {
        for line in drift.to_string().lines() {
            println!("  {line}");
        }
        clean &= drift.mismatches.is_empty();
    }
    clean
}

/// Runs the gate and the drift demonstration; false means exit 1.
async fn gate(db: &Db) -> strata::Result<bool> {
    // The deploy: migrate, then check the models against what is there.
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let applied = strata::migrate::Migrator::from_dir(migrations)?
        .up(db)
        .await?;
    println!("applied {} migration(s) from migrations/", applied.len());
    println!("checking the migrated schema:");
    let drifts = db.check_models(&[User::META]).await?;
    if !report(&drifts) {
        println!("drift after migrating: the models and migrations/ disagree");
        return Ok(false);
    }
    println!("  no drift: the gate passes");

    // What drift looks like: a change made by hand behind the migrations.
    db.execute("ALTER TABLE users DROP COLUMN name", &[])
        .await?;
    db.execute("ALTER TABLE users DROP CONSTRAINT users_age_check", &[])
        .await?;
    db.execute("ALTER TABLE users ALTER COLUMN age TYPE text", &[])
        .await?;
    println!("after `age` became text and `name` was dropped by hand:");
    let drifts = db.check_models(&[User::META]).await?;
    report(&drifts);
    let found: Vec<&strata::migrate::Mismatch> =
        drifts.iter().flat_map(|d| &d.mismatches).collect();
    let expected = found.len() == 2
        && found.iter().any(|m| {
            matches!(m, strata::migrate::Mismatch::MissingColumn { column } if *column == "name")
        })
        && found.iter().any(|m| {
            matches!(m, strata::migrate::Mismatch::WrongType { column, .. } if *column == "age")
        });
    if !expected {
        println!("the check did not report exactly the two changes: {found:?}");
    }
    Ok(expected)
}
