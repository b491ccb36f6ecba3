//! CRUD through `#[derive(Model)]`: insert, get and find, a partial update
//! with a patch, a whole-row update, an upsert, soft delete and restore,
//! hard delete, and lists with filters, ordering and a limit.
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example crud
//! ```
//!
//! It works in its own schema, `strata_example_crud`, dropped at the start
//! and at the end, and exits non-zero if any step does not do what it says.

use chrono::{DateTime, Utc};
use strata::prelude::*;

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_crud";

/// A user; `delete` only sets `deleted_at` (soft delete), and reads hide
/// such rows until they are restored.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(schema = "strata_example_crud", table = "users", soft_delete)]
struct User {
    #[model(primary_key, generated)] // bigserial: the database fills it
    id: i64,
    #[model(unique)] // the conflict target of `upsert`
    email: String,
    name: String,
    age: i32,
    active: bool,
    #[model(generated)] // DEFAULT now()
    created_at: DateTime<Utc>,
    #[model(deleted_at)]
    deleted_at: Option<DateTime<Utc>>,
}

/// Shorthand for the insert input the derive generated.
fn new_user(email: &str, name: &str, age: i32) -> NewUser {
    NewUser {
        email: email.into(),
        name: name.into(),
        age,
        active: true,
    }
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    let db = Db::connect(Config::from_env()?).await?;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[]).await?;
    db.execute(
        "CREATE TABLE strata_example_crud.users (
             id         bigserial   PRIMARY KEY,
             email      text        NOT NULL UNIQUE,
             name       text        NOT NULL,
             age        int         NOT NULL CHECK (age >= 0),
             active     bool        NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now(),
             deleted_at timestamptz)",
        &[],
    )
    .await?;
    let outcome = walk_through(&db).await;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.close().await;
    outcome
}

async fn walk_through(db: &Db) -> strata::Result<()> {
    // Create: `insert` returns the stored row, generated columns filled in.
    let ada = User::insert(db, new_user("ada@example.com", "Ada", 36)).await?;
    println!("inserted  {} {} (id {})", ada.name, ada.email, ada.id);
    assert!(ada.id > 0 && ada.deleted_at.is_none());

    // Many at once: one statement, all or nothing.
    let batch = vec![
        new_user("grace@example.com", "Grace", 45),
        new_user("alan@example.com", "Alan", 41),
        new_user("linus@example.com", "Linus", 28),
        new_user("barbara@example.com", "Barbara", 17),
    ];
    let inserted = User::insert_many(db, &batch).await?;
    println!("inserted  {inserted} more in one statement");
    assert_eq!(inserted, 4);
    let found = User::query()
        .filter(User::EMAIL.is_in(["grace@example.com", "linus@example.com"]))
        .order_by(User::EMAIL.asc())
        .all(db)
        .await?;
    let [grace, linus] = &found[..] else {
        panic!("expected grace and linus, got {found:?}");
    };
    let (grace, linus) = (grace.clone(), linus.id);

    // Read: `get` is Err(NotFound) when absent, `find` is an Option.
    let got = User::get(db, ada.id).await?;
    assert_eq!(got, ada);
    assert!(User::find(db, 999_999).await?.is_none());
    match User::get(db, 999_999).await {
        Err(Error::NotFound { what }) => println!("get 999999: not found ({what})"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // Patch: only the fields given are written (`UPDATE .. SET "name" = $2`).
    let ada = User::patch(
        db,
        ada.id,
        UserPatch {
            name: Some("Ada Lovelace".into()),
            ..Default::default()
        },
    )
    .await?;
    println!("patched   name -> {}", ada.name);
    assert_eq!((ada.name.as_str(), ada.age), ("Ada Lovelace", 36));

    // Update: the whole row.
    let ada = User::update(db, &User { age: 37, ..ada }).await?;
    println!("updated   age -> {}", ada.age);
    assert_eq!(User::get(db, ada.id).await?.age, 37);

    // Upsert on the unique email: the existing row takes the new values.
    let upserted = User::upsert(db, new_user("grace@example.com", "Grace Hopper", 46)).await?;
    println!(
        "upserted  {} (id {}, age {})",
        upserted.name, upserted.id, upserted.age
    );
    assert_eq!(upserted.id, grace.id);
    assert_eq!(User::query().count(db).await?, 5);

    // A unique violation is typed and names the field.
    let dup = User::insert(db, new_user("ada@example.com", "Other Ada", 20)).await;
    match &dup {
        Err(e @ Error::UniqueViolation { field, .. }) => {
            println!("duplicate email refused: {e}");
            assert_eq!(*field, Some("email"));
        }
        other => panic!("expected UniqueViolation, got {other:?}"),
    }

    // List: filters, ordering, a limit.
    let adults = User::query()
        .filter(User::ACTIVE.eq(true))
        .filter(User::AGE.ge(18))
        .order_by(User::AGE.desc())
        .limit(3)
        .all(db)
        .await?;
    let names: Vec<&str> = adults.iter().map(|u| u.name.as_str()).collect();
    println!("oldest 3 adults: {names:?}");
    assert_eq!(names, ["Grace Hopper", "Alan", "Ada Lovelace"]);

    let a_names = User::query()
        .filter(User::NAME.istarts_with("a"))
        .order_by(User::NAME.asc())
        .all(db)
        .await?;
    let a_names: Vec<&str> = a_names.iter().map(|u| u.name.as_str()).collect();
    println!("names starting with a: {a_names:?}");
    assert_eq!(a_names, ["Ada Lovelace", "Alan"]);

    // Soft delete: the row stays, reads hide it.
    User::delete(db, linus).await?;
    assert!(User::find(db, linus).await?.is_none());
    assert!(matches!(
        User::get(db, linus).await,
        Err(Error::NotFound { .. })
    ));
    let deleted = User::query().only_deleted().all(db).await?;
    println!(
        "soft-deleted: {:?} (count now {}, {} with deleted)",
        deleted.iter().map(|u| &u.name).collect::<Vec<_>>(),
        User::query().count(db).await?,
        User::query().with_deleted().count(db).await?
    );
    assert_eq!(deleted.len(), 1);
    assert!(deleted[0].deleted_at.is_some());
    assert_eq!(User::query().count(db).await?, 4);
    assert_eq!(User::query().with_deleted().count(db).await?, 5);

    // Restore: visible again.
    User::restore(db, linus).await?;
    let back = User::get(db, linus).await?;
    println!("restored  {}", back.name);
    assert!(back.deleted_at.is_none());

    // Bulk update and bulk (soft) delete through the query builder.
    let minors = User::query()
        .filter(User::AGE.lt(18))
        .update(db, [User::ACTIVE.set(false)])
        .await?;
    let removed = User::query()
        .filter(User::ACTIVE.eq(false))
        .delete(db)
        .await?;
    println!("deactivated {minors} minor(s), soft-deleted {removed} inactive");
    assert_eq!((minors, removed), (1, 1));

    // Hard delete: the row is gone, even for `with_deleted`.
    User::hard_delete(db, ada.id).await?;
    let left = User::query().with_deleted().count(db).await?;
    println!("hard-deleted Ada; {left} rows left in the table");
    assert_eq!(left, 4);
    assert!(!User::exists(db, ada.id).await?);
    Ok(())
}
