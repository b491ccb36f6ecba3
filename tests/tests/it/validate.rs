//! `#[validate(..)]` and `#[model(validate_with)]`: every rule's edges, the
//! report's JSON, and that a failing write changes nothing in PostgreSQL.

use std::str::FromStr as _;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use strata::prelude::*;
use strata_tests::TestDb;

/// One rule per field (two on some), on plain and `Option` fields.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "accounts")]
struct Account {
    #[model(primary_key, generated)]
    id: i64,
    #[model(unique)]
    #[validate(email, length(max = 40))]
    email: String,
    #[validate(length(min = 2, max = 5))]
    handle: String,
    #[validate(range(min = 0, max = 150))]
    age: i32,
    #[validate(url)]
    homepage: Option<String>,
    #[validate(uuid)]
    external_ref: Option<String>,
    #[validate(pattern = "^[A-Z]{2}$")]
    country: String,
    #[validate(non_empty, length(max = 3))]
    tags: Vec<String>,
    #[validate(one_of("free", "pro"))]
    plan: String,
    #[validate(range(min = 0.0, max = 1.0))]
    score: f64,
    #[validate(range(min = 0, max = 99.99))]
    balance: Decimal,
    #[validate(custom = not_reserved)]
    nickname: Option<String>,
}

// A unique index with a name of its own: the field comes from PostgreSQL's
// detail, not from the constraint's default name.
const ACCOUNTS: &str = "CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    handle text NOT NULL,
    age int NOT NULL,
    homepage text,
    external_ref text,
    country text NOT NULL,
    tags text[] NOT NULL,
    plan text NOT NULL,
    score float8 NOT NULL,
    balance numeric NOT NULL,
    nickname text)";

const ACCOUNTS_EMAIL: &str = "CREATE UNIQUE INDEX accounts_email_unique ON accounts (email)";

fn not_reserved(name: &str) -> Result<(), ValidationError> {
    if ["admin", "root"].contains(&name) {
        return Err(ValidationError::new("reserved", "is a reserved name"));
    }
    Ok(())
}

fn valid() -> NewAccount {
    NewAccount {
        email: "jane@example.com".into(),
        handle: "jane".into(),
        age: 30,
        homepage: None,
        external_ref: None,
        country: "DE".into(),
        tags: vec!["a".into()],
        plan: "free".into(),
        score: 0.5,
        balance: Decimal::from(10),
        nickname: None,
    }
}

/// `(field, code)` of every failure, in order.
fn failures(new: &NewAccount) -> Vec<(String, String)> {
    match new.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .errors
            .into_iter()
            .map(|e| (e.field.into_owned(), e.code.into_owned()))
            .collect(),
    }
}

/// Asserts that `edit` passes for each value of `ok` and fails with exactly
/// `(field, code)` for each of `bad`.
fn edges<T: Clone + std::fmt::Debug>(
    field: &str,
    code: &str,
    ok: &[T],
    bad: &[T],
    edit: impl Fn(&mut NewAccount, T),
) {
    for v in ok {
        let mut new = valid();
        edit(&mut new, v.clone());
        assert_eq!(failures(&new), [], "{field} = {v:?} should pass");
    }
    for v in bad {
        let mut new = valid();
        edit(&mut new, v.clone());
        assert_eq!(
            failures(&new),
            [(field.to_owned(), code.to_owned())],
            "{field} = {v:?} should fail `{code}`"
        );
    }
}

#[test]
fn the_valid_account_passes() {
    assert_eq!(failures(&valid()), []);
}

#[test]
fn length_counts_characters_inclusively() {
    edges(
        "handle",
        "length",
        &[
            "ab",
            "abcde",
            "éé",
            "ééééé",
            "🦀🦀",
            "🦀🦀🦀🦀🦀",
            "e\u{301}é",
        ],
        &["a", "é", "🦀", "abcdef", "éééééé", "🦀🦀🦀🦀🦀🦀", ""],
        |n, v: &str| n.handle = v.into(),
    );
    // A `Vec` counts elements.
    edges(
        "tags",
        "length",
        &[vec!["a"; 1], vec!["a"; 3]],
        &[vec!["a"; 4]],
        |n, v: Vec<&str>| n.tags = v.into_iter().map(String::from).collect(),
    );
}

#[test]
fn integer_range_is_inclusive() {
    edges(
        "age",
        "range",
        &[0, 1, 149, 150],
        &[-1, 151, i32::MIN, i32::MAX],
        |n, v| n.age = v,
    );
}

#[test]
fn float_range_is_inclusive_and_rejects_nan() {
    edges(
        "score",
        "range",
        &[0.0, 1.0, 0.999_999, -0.0],
        &[-0.000_001, 1.000_001, f64::NAN, f64::INFINITY],
        |n, v| n.score = v,
    );
}

#[test]
fn decimal_range_is_exact() {
    edges(
        "balance",
        "range",
        &["0", "0.00", "99.99", "99.990", "50"],
        &["-0.01", "99.991", "100"],
        |n, v: &str| n.balance = Decimal::from_str(v).unwrap(),
    );
}

#[test]
fn email() {
    edges(
        "email",
        "email",
        &["a@b", "jane.doe+tag@example.co.uk"],
        &[
            "",
            "jane",
            "jane@",
            "@example.com",
            "ja ne@example.com",
            "a@b..c",
        ],
        |n, v: &str| n.email = v.into(),
    );
    // Both of the field's rules can fail at once.
    let mut new = valid();
    new.email = format!("{}@example.com", "x".repeat(65));
    assert_eq!(
        failures(&new),
        [
            ("email".into(), "email".into()),
            ("email".into(), "length".into())
        ]
    );
}

#[test]
fn url_and_uuid_skip_none() {
    edges(
        "homepage",
        "url",
        &[
            None,
            Some("https://example.com/a?b=c"),
            Some("http://localhost:8080"),
        ],
        &[Some("example.com"), Some("not a url"), Some("")],
        |n, v: Option<&str>| n.homepage = v.map(String::from),
    );
    edges(
        "external_ref",
        "uuid",
        &[
            None,
            Some("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            Some("67e5504410b1426f9247bb680e5fe0c8"),
        ],
        &[Some("67e55044-10b1-426f-9247"), Some("")],
        |n, v: Option<&str>| n.external_ref = v.map(String::from),
    );
}

#[test]
fn pattern_non_empty_one_of() {
    edges(
        "country",
        "pattern",
        &["DE", "FR"],
        &["de", "DEU", "D", ""],
        |n, v: &str| n.country = v.into(),
    );
    edges(
        "tags",
        "non_empty",
        &[vec!["x".to_owned()]],
        &[vec![]],
        |n, v| n.tags = v,
    );
    edges(
        "plan",
        "one_of",
        &["free", "pro"],
        &["Pro", "", "enterprise"],
        |n, v: &str| n.plan = v.into(),
    );
}

#[test]
fn custom_rule_gets_the_value_inside_some() {
    edges(
        "nickname",
        "reserved",
        &[None, Some("jane")],
        &[Some("admin"), Some("root")],
        |n, v: Option<&str>| n.nickname = v.map(String::from),
    );
}

/// Everything wrong at once, as an API would send it.
fn all_wrong() -> NewAccount {
    NewAccount {
        email: "not-an-email".into(),
        handle: "a".into(),
        age: 151,
        homepage: Some("nope".into()),
        external_ref: Some("123".into()),
        country: "deu".into(),
        tags: vec![],
        plan: "gold".into(),
        score: 1.5,
        balance: Decimal::from_str("-0.5").unwrap(),
        nickname: Some("admin".into()),
    }
}

#[test]
fn every_failing_field_is_reported_at_once() {
    let errors = all_wrong().validate().unwrap_err();
    assert_eq!(
        errors.fields(),
        [
            "email",
            "handle",
            "age",
            "homepage",
            "external_ref",
            "country",
            "tags",
            "plan",
            "score",
            "balance",
            "nickname"
        ]
    );
    insta::assert_snapshot!(serde_json::to_string_pretty(&errors).unwrap());
}

#[test]
fn patch_checks_only_present_fields() {
    let empty = AccountPatch::default();
    assert!(empty.validate().is_ok());
    let patch = AccountPatch {
        handle: Some("x".into()),
        homepage: Some(None), // writes NULL: nothing to check
        external_ref: Some(Some("bad".into())),
        ..Default::default()
    };
    let errors = patch.validate().unwrap_err();
    assert_eq!(errors.fields(), ["handle", "external_ref"]);
}

async fn accounts() -> (TestDb, Account) {
    let t = TestDb::new().await;
    t.execute(ACCOUNTS, &[]).await.unwrap();
    t.execute(ACCOUNTS_EMAIL, &[]).await.unwrap();
    let stored = Account::insert(&*t, valid()).await.unwrap();
    (t, stored)
}

async fn rows(t: &TestDb) -> Vec<Account> {
    Account::query()
        .order_by(Account::ID.asc())
        .all(&**t)
        .await
        .unwrap()
}

fn validation(err: Error) -> ValidationErrors {
    match err {
        Error::Validation(errors) => errors,
        other => panic!("expected Error::Validation, got {other:?}"),
    }
}

#[tokio::test]
async fn failing_writes_change_nothing() {
    let (t, stored) = accounts().await;
    let before = rows(&t).await;
    assert_eq!(before, std::slice::from_ref(&stored));

    let err = Account::insert(&*t, all_wrong()).await.unwrap_err();
    assert_eq!(validation(err).fields().len(), 11);

    let mut second = valid();
    second.email = "second@example.com".into();
    let mut bad = valid();
    bad.email = "bad".into();
    let err = Account::insert_many(&*t, vec![second.clone(), bad, valid()])
        .await
        .unwrap_err();
    assert_eq!(validation(err).fields(), ["[1].email"]);

    let mut changed = stored.clone();
    changed.age = -1;
    changed.handle = "renamed".into();
    let err = Account::update(&*t, &changed).await.unwrap_err();
    assert_eq!(validation(err).fields(), ["handle", "age"]);

    let err = Account::upsert(&*t, all_wrong()).await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");

    let patch = AccountPatch {
        plan: Some("gold".into()),
        age: Some(30),
        ..Default::default()
    };
    let err = Account::patch(&*t, stored.id, patch).await.unwrap_err();
    assert_eq!(validation(err).fields(), ["plan"]);

    assert_eq!(rows(&t).await, before, "no failing write touched the table");

    // The same writes, valid, go through.
    assert_eq!(Account::insert_many(&*t, vec![second]).await.unwrap(), 1);
    assert_eq!(Account::count(&*t).await.unwrap(), 2);
}

#[tokio::test]
async fn unique_violation_is_a_field_error() {
    let (t, stored) = accounts().await;
    let err = Account::insert(&*t, valid()).await.unwrap_err();
    match &err {
        Error::UniqueViolation {
            constraint, field, ..
        } => {
            assert_eq!(constraint.as_deref(), Some("accounts_email_unique"));
            assert_eq!(*field, Some("email"));
        }
        other => panic!("expected UniqueViolation, got {other:?}"),
    }
    let errors = err.field_errors().expect("a field error");
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(errors.errors[0].field, "email");
    assert_eq!(errors.errors[0].code, "unique");
    insta::assert_snapshot!(serde_json::to_string_pretty(&errors).unwrap());

    // Through `insert_many` (naming the row, as validation does), `patch`
    // and `update` as well.
    let err = Account::insert_many(&*t, vec![valid()]).await.unwrap_err();
    assert_eq!(err.field_errors().unwrap().fields(), ["[0].email"]);
    let mut other = valid();
    other.email = "other@example.com".into();
    let other = Account::insert(&*t, other).await.unwrap();
    let patch = AccountPatch {
        email: Some(stored.email.clone()),
        ..Default::default()
    };
    let err = Account::patch(&*t, other.id, patch).await.unwrap_err();
    assert_eq!(err.field_errors().unwrap().fields(), ["email"]);
    let mut taken = other.clone();
    taken.email = stored.email.clone();
    let err = Account::update(&*t, &taken).await.unwrap_err();
    assert_eq!(err.field_errors().unwrap().fields(), ["email"]);

    // Validation errors come through the same accessor; others give none.
    let err = Account::insert(&*t, all_wrong()).await.unwrap_err();
    assert_eq!(err.field_errors().unwrap().len(), 11);
    let err = Account::get(&*t, -1).await.unwrap_err();
    assert!(err.field_errors().is_none());
}

/// A cross-field rule: an event ends after it starts.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "events", validate_with = ends_after_start)]
struct Event {
    #[model(primary_key, generated)]
    id: i64,
    #[validate(length(min = 1))]
    title: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

const EVENTS: &str = "CREATE TABLE events (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL)";

fn ends_after_start(event: &EventView<'_>) -> Result<(), ValidationErrors> {
    if event.ends_at <= event.starts_at {
        return Err(FieldError::new("ends_at", "after_start", "must be after the start").into());
    }
    Ok(())
}

#[tokio::test]
async fn model_rule_runs_on_insert_update_upsert_and_validate() {
    let t = TestDb::new().await;
    t.execute(EVENTS, &[]).await.unwrap();
    let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let new = |title: &str, hours: i64| NewEvent {
        title: title.into(),
        starts_at: start,
        ends_at: start + Duration::hours(hours),
    };

    let event = Event::insert(&*t, new("launch", 2)).await.unwrap();

    // Field and model rules are reported together, field rules first.
    let err = Event::insert(&*t, new("", 0)).await.unwrap_err();
    let errors = validation(err);
    assert_eq!(errors.fields(), ["title", "ends_at"]);
    assert_eq!(errors.errors[1].code, "after_start");
    let err = Event::upsert(&*t, new("x", -1)).await.unwrap_err();
    assert_eq!(validation(err).fields(), ["ends_at"]);
    let err = Event::insert_many(&*t, vec![new("a", 1), new("b", -1)])
        .await
        .unwrap_err();
    assert_eq!(validation(err).fields(), ["[1].ends_at"]);

    let mut moved = event.clone();
    moved.ends_at = start - Duration::hours(1);
    assert_eq!(moved.validate().unwrap_err().fields(), ["ends_at"]);
    let err = Event::update(&*t, &moved).await.unwrap_err();
    assert_eq!(validation(err).fields(), ["ends_at"]);

    // A patch has only some fields: the model rule does not run on it.
    let patch = EventPatch {
        title: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(patch.validate().unwrap_err().fields(), ["title"]);

    assert_eq!(Event::query().all(&*t).await.unwrap(), [event]);
}
