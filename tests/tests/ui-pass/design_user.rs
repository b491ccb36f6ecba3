// The `User` model of DESIGN.md compiles, and its generated items are
// nameable and typed as the design says.

use strata::prelude::*;
use strata::{Column, NewModel, PatchModel};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "users", soft_delete, cache(ttl_secs = 300))]
pub struct User {
    #[model(primary_key, generated)] // bigserial / identity
    pub id: i64,
    #[validate(email, length(max = 255))]
    pub email: String,
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[validate(range(min = 0, max = 150))]
    pub age: i32,
    pub active: bool,
    #[model(generated)] // filled by a DB default
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[model(deleted_at)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {
    let new = NewUser {
        email: "jane@example.com".into(),
        name: "Jane".into(),
        age: 30,
        active: true,
    };
    assert_eq!(new.insert_params().len(), 4);
    assert!(NewModel::validate(&new).is_ok());

    let patch = UserPatch {
        name: Some("Jane".into()),
        ..Default::default()
    };
    assert_eq!(patch.patch_params().len(), 8);

    let email: Column<User, String> = User::EMAIL;
    let _ = email.eq("jane@example.com");
    let _ = User::AGE.gt(30);
    let _ = User::CREATED_AT.desc();
    let _: Column<User, Option<chrono::DateTime<chrono::Utc>>> = User::DELETED_AT;

    let meta = <User as Model>::META;
    assert_eq!(meta.table, "users");
    assert_eq!(meta.deleted_at, Some("deleted_at"));
    assert_eq!(meta.cache_ttl_secs, Some(300));
    assert_eq!(meta.insert_columns, ["email", "name", "age", "active"]);
}
