//! Schema drift: a model against the live table.

use strata::migrate::Mismatch;
use strata::prelude::*;
use strata_tests::TestDb;

use super::models::{DOCS, Doc, USERS, User};

#[tokio::test]
async fn a_matching_table_has_no_drift() {
    let t = TestDb::new().await;
    t.execute(USERS, &[]).await.unwrap();
    t.execute(DOCS, &[]).await.unwrap();
    for drift in t.check_models(&[User::META, Doc::META]).await.unwrap() {
        assert!(drift.mismatches.is_empty(), "{drift}");
    }
}

#[tokio::test]
async fn every_kind_of_drift_is_listed_in_plain_words() {
    let t = TestDb::new().await;
    let drift = t.check_schema::<User>().await.unwrap();
    assert_eq!(drift.mismatches, [Mismatch::MissingTable]);
    assert_eq!(drift.to_string(), "User: table users does not exist");

    t.execute(
        "CREATE TABLE users (
            id bigserial PRIMARY KEY,
            email text,                      -- NULL allowed, field is String
            age text NOT NULL,               -- wrong type
            active bool NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz NOT NULL, -- field is Option
            tenant int NOT NULL)             -- not in the model, no default",
        &[],
    )
    .await
    .unwrap();
    let drift = t.check_schema::<User>().await.unwrap();
    let text = drift.to_string();
    println!("{text}");
    assert_eq!(
        drift.mismatches,
        [
            Mismatch::NullableColumn { column: "email" },
            Mismatch::MissingColumn { column: "name" },
            Mismatch::WrongType {
                column: "age",
                found: "text".into()
            },
            Mismatch::NotNullColumn {
                column: "deleted_at"
            },
            Mismatch::UnwrittenColumn {
                column: "tenant".into()
            },
        ]
    );
    assert!(
        text.contains("User: column users.age is text in the database"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 5);
}
