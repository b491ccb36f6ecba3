//! Schema drift check: compare models with the live database and list every
//! mismatch in plain words. Exits non-zero when something differs, so it can
//! gate a deploy.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example schema_check
//! ```
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

#[tokio::main]
async fn main() -> strata::Result<()> {
    let db = Db::connect(Config::from_env()?).await?;
    db.execute("DROP SCHEMA IF EXISTS strata_schema_check CASCADE", &[])
        .await?;
    db.execute("CREATE SCHEMA strata_schema_check", &[]).await?;
    // A table that drifted: `age` became text and `name` was dropped.
    db.execute(
        "CREATE TABLE strata_schema_check.users (
             id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, age text NOT NULL,
             active bool NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
             deleted_at timestamptz)",
        &[],
    )
    .await?;
    let drifts = db.check_models(&[User::META]).await?;
    db.execute("DROP SCHEMA strata_schema_check CASCADE", &[])
        .await?;
    let mut drifted = false;
    for drift in drifts {
        println!("{drift}");
        drifted |= !drift.mismatches.is_empty();
    }
    db.close().await;
    if drifted {
        std::process::exit(1);
    }
    Ok(())
}
