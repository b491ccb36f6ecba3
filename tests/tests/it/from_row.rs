//! `#[derive(FromRow)]` and `query_as`: raw SQL decoded by column name,
//! whatever the column order, with errors that name the column, on every
//! kind of handle.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use strata::prelude::*;
use strata::{Json, MissingColumn, Model};
use strata_tests::TestDb;
use uuid::Uuid;

use super::models::{USERS, User, new_user};
use super::text_enum::Status;

/// Every attribute at once.
#[derive(FromRow, Debug, PartialEq)]
struct Author {
    id: i64,
    #[from_row(rename = "display_name")]
    name: String,
    bio: Option<String>,
    #[from_row(default)]
    posts: i64,
    #[from_row(skip)]
    note: String,
}

/// Every column type the Model derive supports that is easy to write.
#[derive(FromRow, Debug, PartialEq)]
struct Everything {
    small: i16,
    int: i32,
    big: i64,
    real: f32,
    double: f64,
    flag: bool,
    text: String,
    bytes: Vec<u8>,
    at: DateTime<Utc>,
    key: Uuid,
    doc: serde_json::Value,
    tags: Vec<String>,
    scores: Vec<i32>,
    maybe: Option<Vec<Option<i64>>>,
    day: NaiveDate,
    price: Decimal,
    status: Status,
    wrapped: Json<Vec<i32>>,
}

/// A nested struct read from the same row.
#[derive(FromRow, Debug, PartialEq)]
struct Address {
    city: String,
    #[from_row(rename = "zip_code")]
    zip: String,
}

#[derive(FromRow, Debug, PartialEq)]
struct Customer {
    id: i64,
    #[from_row(flatten)]
    address: Address,
}

/// Generic over the type of one column.
#[derive(FromRow, Debug, PartialEq)]
struct Labelled<T> {
    label: String,
    value: T,
}

/// A model decoded by name: its own `#[model(column)]`, `#[model(skip)]`.
#[derive(Model, FromRow, Debug, Clone, PartialEq)]
#[model(table = "tickets")]
struct Ticket {
    #[model(primary_key, generated)]
    id: i64,
    #[model(column = "ticket_title")]
    title: String,
    open: bool,
    #[model(skip)]
    seen: bool,
}

const TICKETS: &str = "CREATE TABLE tickets (
    id bigserial PRIMARY KEY, ticket_title text NOT NULL, open bool NOT NULL)";

/// Only `id`: for the error tests.
#[derive(FromRow, Debug)]
struct OnlyId {
    #[allow(dead_code)]
    id: i64,
}

fn author(id: i64, name: &str, bio: Option<&str>, posts: i64) -> Author {
    Author {
        id,
        name: name.into(),
        bio: bio.map(Into::into),
        posts,
        note: String::new(),
    }
}

/// The decode error's message, checking it names `column`.
fn decode_error(err: Error, column: &str) -> String {
    let shown = err.to_string();
    match &err {
        Error::Decode { column: c, .. } => assert_eq!(c, column, "{shown}"),
        other => panic!("expected Error::Decode for {column}, got {other:?}"),
    }
    shown
}

#[tokio::test]
async fn columns_are_read_by_name_in_any_order_with_extras_ignored() {
    let t = TestDb::new().await;
    let sql = "SELECT 'ignored' AS extra, NULL::text AS bio, 'Ada' AS display_name,
                      3::int8 AS posts, id, 'also ignored' AS note
               FROM generate_series(1::int8, 3) AS id ORDER BY id";
    let authors: Vec<Author> = t.db().query_as(sql, &[]).await.unwrap();
    assert_eq!(
        authors,
        (1..=3)
            .map(|i| author(i, "Ada", None, 3))
            .collect::<Vec<_>>(),
        "`note` is skipped even though a column of that name exists"
    );
    // Another order, `posts` absent (its default), `bio` set.
    let one: Author = t
        .db()
        .query_as_one(
            "SELECT 'Bo' AS display_name, 9::int8 AS id, 'hi' AS bio",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(one, author(9, "Bo", Some("hi"), 0));
    let none: Option<Author> = t
        .db()
        .query_as_opt(
            "SELECT 1::int8 AS id, 'x' AS display_name, NULL::text AS bio WHERE false",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(none, None);
    let empty: Vec<Author> = t
        .db()
        .query_as("SELECT 1 AS unrelated WHERE false", &[])
        .await
        .unwrap();
    assert!(
        empty.is_empty(),
        "no rows decode to none, whatever the columns"
    );
}

#[tokio::test]
async fn every_easy_column_type_decodes() {
    let t = TestDb::new().await;
    let key = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let at: DateTime<Utc> = "2024-05-06T07:08:09.123456Z".parse().unwrap();
    let row: Everything = t
        .db()
        .query_read_as_one(
            "SELECT $1::uuid AS key, $2::timestamptz AS at, 1::int2 AS small, 2::int4 AS int,
                    3::int8 AS big, 1.5::float4 AS real, 2.25::float8 AS double, true AS flag,
                    'txt' AS text, '\\x0102'::bytea AS bytes, '{\"a\": [1, null]}'::jsonb AS doc,
                    ARRAY['x', 'y'] AS tags, ARRAY[1, 2, 3] AS scores,
                    ARRAY[4, NULL]::int8[] AS maybe, '2024-02-29'::date AS day,
                    12.50::numeric AS price, 'paid_in_full' AS status,
                    '[1, 2]'::jsonb AS wrapped",
            &[&key, &at],
        )
        .await
        .unwrap();
    assert_eq!(
        row,
        Everything {
            small: 1,
            int: 2,
            big: 3,
            real: 1.5,
            double: 2.25,
            flag: true,
            text: "txt".into(),
            bytes: vec![1, 2],
            at,
            key,
            doc: serde_json::json!({"a": [1, null]}),
            tags: vec!["x".into(), "y".into()],
            scores: vec![1, 2, 3],
            maybe: Some(vec![Some(4), None]),
            day: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            price: Decimal::new(1250, 2),
            status: Status::PaidInFull,
            wrapped: Json(vec![1, 2]),
        }
    );
}

#[tokio::test]
async fn flatten_and_generic_fields_read_from_the_same_row() {
    let t = TestDb::new().await;
    let customers: Vec<Customer> = t
        .db()
        .query_read_as(
            "SELECT '75001' AS zip_code, 'Paris' AS city, 1::int8 AS id
             UNION ALL SELECT '10115', 'Berlin', 2",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        customers,
        vec![
            Customer {
                id: 1,
                address: Address {
                    city: "Paris".into(),
                    zip: "75001".into()
                }
            },
            Customer {
                id: 2,
                address: Address {
                    city: "Berlin".into(),
                    zip: "10115".into()
                }
            },
        ]
    );
    // A column the nested struct needs is missing: named as such.
    let err = t
        .db()
        .query_as::<Customer>("SELECT 1::int8 AS id, 'Paris' AS city", &[])
        .await
        .unwrap_err();
    let shown = decode_error(err, "zip_code");
    assert!(shown.contains("id, city"), "{shown}");

    let labelled: Vec<Labelled<Option<i32>>> = t
        .db()
        .query_as("SELECT NULL::int4 AS value, 'n' AS label", &[])
        .await
        .unwrap();
    assert_eq!(
        labelled,
        vec![Labelled {
            label: "n".into(),
            value: None
        }]
    );
    let texts: Labelled<String> = t
        .db()
        .query_as_one("SELECT 'v' AS value, 'l' AS label", &[])
        .await
        .unwrap();
    assert_eq!(texts.value, "v");
}

#[tokio::test]
async fn a_model_decodes_from_raw_sql_in_another_column_order() {
    let t = TestDb::new().await;
    t.execute(TICKETS, &[]).await.unwrap();
    let made = Ticket::insert(
        t.db(),
        NewTicket {
            title: "printer".into(),
            open: true,
        },
    )
    .await
    .unwrap();
    let read: Vec<Ticket> = t
        .db()
        .query_as(
            "SELECT open, ticket_title, id, true AS seen FROM tickets ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        read,
        vec![made.clone()],
        "`seen` is `#[model(skip)]`: not read"
    );
    assert!(!read[0].seen);
    // The model's own reads still use its fixed select list.
    assert_eq!(Ticket::get(t.db(), made.id).await.unwrap(), made);
}

#[tokio::test]
async fn a_missing_column_is_named_with_the_columns_returned() {
    let t = TestDb::new().await;
    let before = t.db().metrics().queries.failed_of("decode");
    let err = t
        .db()
        .query_as::<Author>("SELECT 1::int8 AS id, 'x' AS bio", &[])
        .await
        .unwrap_err();
    let source = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<MissingColumn>())
        .expect("the source is a MissingColumn")
        .clone();
    assert_eq!(source.returned(), ["id", "bio"]);
    let shown = decode_error(err, "display_name");
    println!("missing: {shown}");
    assert!(shown.contains("column display_name"), "{shown}");
    assert!(shown.contains("no column of that name"), "{shown}");
    assert!(shown.contains("its columns are id, bio"), "{shown}");
    assert_eq!(
        t.db().metrics().queries.failed_of("decode"),
        before + 1,
        "a row that does not decode counts as a failed statement"
    );
    // `query_as_one` reports it the same way; so does a statement with no columns.
    let err = t
        .db()
        .query_as_one::<OnlyId>("SELECT", &[])
        .await
        .unwrap_err();
    let shown = decode_error(err, "id");
    assert!(shown.contains("it returned no columns"), "{shown}");
}

#[tokio::test]
async fn a_wrong_type_names_both_types_and_null_says_null() {
    let t = TestDb::new().await;
    let err = t
        .db()
        .query_as::<OnlyId>("SELECT 'seven'::text AS id", &[])
        .await
        .unwrap_err();
    let shown = decode_error(err, "id");
    println!("wrong type: {shown}");
    assert!(shown.contains("PostgreSQL text"), "{shown}");
    assert!(shown.contains("as i64"), "{shown}");
    assert!(shown.contains("do not match"), "{shown}");
    // int4 is not i64 either: no silent widening.
    let err = t
        .db()
        .query_as::<OnlyId>("SELECT 7 AS id", &[])
        .await
        .unwrap_err();
    let shown = decode_error(err, "id");
    assert!(
        shown.contains("PostgreSQL int4") && shown.contains("i64"),
        "{shown}"
    );

    let err = t
        .db()
        .query_read_as_opt::<Author>(
            "SELECT 1::int8 AS id, NULL::text AS display_name, 'b' AS bio",
            &[],
        )
        .await
        .unwrap_err();
    let shown = decode_error(err, "display_name");
    println!("null: {shown}");
    assert!(shown.contains("as String"), "{shown}");
    assert!(shown.contains("the value is NULL"), "{shown}");
    // `default` is for a missing column, not for NULL; an `Option` field's
    // column must be there too (it may hold NULL).
    let err = t
        .db()
        .query_as::<Author>(
            "SELECT 1::int8 AS id, 'a' AS display_name, 'b' AS bio, NULL::int8 AS posts",
            &[],
        )
        .await
        .unwrap_err();
    assert!(decode_error(err, "posts").contains("NULL"));
    let err = t
        .db()
        .query_as::<Author>("SELECT 1::int8 AS id, 'a' AS display_name", &[])
        .await
        .unwrap_err();
    decode_error(err, "bio");
}

#[tokio::test]
async fn query_as_runs_in_a_transaction_and_on_a_tenant_handle() {
    let t = TestDb::new().await;
    t.execute(USERS, &[]).await.unwrap();
    #[derive(FromRow, Debug, PartialEq)]
    struct Summary {
        email: String,
        active: bool,
    }
    let seen = t
        .db()
        .transaction(TxOptions::new(), |tx| async move {
            User::insert(&tx, new_user(1)).await?;
            User::insert(&tx, new_user(2)).await?;
            // Raw SQL in the transaction sees its uncommitted rows.
            let all: Vec<Summary> = tx
                .query_as("SELECT active, email FROM users ORDER BY id", &[])
                .await?;
            let one: Option<Summary> = tx
                .query_read_as_opt("SELECT email, active FROM users WHERE id = 1", &[])
                .await?;
            Ok((all, one))
        })
        .await
        .unwrap();
    let summary = |i: i64| Summary {
        email: format!("user{i}@example.com"),
        active: i % 2 == 0,
    };
    assert_eq!(seen.0, vec![summary(1), summary(2)]);
    assert_eq!(seen.1, Some(summary(1)));

    // A tenant handle scopes raw SQL with the tenant setting.
    #[derive(FromRow, Debug, PartialEq)]
    struct Setting {
        tenant: Option<String>,
    }
    let scoped = t.db().tenant(7_i64);
    let setting: Setting = scoped
        .query_read_as_one(
            &format!(
                "SELECT current_setting('{}', true) AS tenant",
                strata::tenant::TENANT_SETTING
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(setting.tenant.as_deref(), Some("7"));
    let in_tx: Vec<Summary> = scoped
        .transaction(TxOptions::new(), |tx| async move {
            tx.query_as("SELECT email, active FROM users WHERE id = $1", &[&2_i64])
                .await
        })
        .await
        .unwrap();
    assert_eq!(in_tx, vec![summary(2)]);
}
