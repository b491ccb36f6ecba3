//! Text search filters against real PostgreSQL.

use chrono::{DateTime, Utc};
use strata::prelude::*;
use strata_tests::TestDb;

/// A list-page row: tenant scoped, soft-deleted, with a column full of ties
/// (`bucket`) and a nullable one (`rank`).
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "entries", soft_delete)]
struct Entry {
    #[model(primary_key, generated)]
    id: i64,
    tenant_id: i64,
    bucket: i32,
    rank: Option<i32>,
    title: String,
    #[model(generated)]
    created_at: DateTime<Utc>,
    #[model(deleted_at)]
    deleted_at: Option<DateTime<Utc>>,
}

const ENTRIES: &str = "CREATE TABLE entries (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    bucket int NOT NULL,
    rank int,
    title text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz)";

/// Titles that hold every `LIKE` metacharacter.
const TITLES: [&str; 8] = [
    "100% pure",
    "100 percent",
    "a_b",
    "axb",
    "back\\slash",
    "ends with \\",
    "plain",
    "PLAIN caps",
];

async fn titled(t: &TestDb) {
    t.execute(ENTRIES, &[]).await.unwrap();
    for (i, title) in TITLES.iter().enumerate() {
        t.execute(
            "INSERT INTO entries (tenant_id, bucket, title) VALUES (1, $1, $2)",
            &[&i32::try_from(i).unwrap(), title],
        )
        .await
        .unwrap();
    }
}

async fn titles(t: &TestDb, filter: strata::Filter<Entry>) -> Vec<String> {
    let mut found: Vec<String> = Entry::query()
        .filter(filter)
        .all(t.db())
        .await
        .unwrap_or_else(|e| panic!("search failed: {e:?}"))
        .into_iter()
        .map(|e| e.title)
        .collect();
    found.sort();
    found
}

fn sorted(titles: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = titles.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn text_search_treats_user_input_as_text() {
    let t = TestDb::new().await;
    titled(&t).await;
    let cases: [(&str, &[&str]); 6] = [
        ("%", &["100% pure"]),
        ("_", &["a_b"]),
        ("\\", &["back\\slash", "ends with \\"]),
        ("a_", &["a_b"]),
        ("0% p", &["100% pure"]),
        ("\\s", &["back\\slash"]),
    ];
    for (needle, expected) in cases {
        assert_eq!(
            titles(&t, Entry::TITLE.contains(needle)).await,
            sorted(expected),
            "contains({needle:?})"
        );
    }
    assert_eq!(
        titles(&t, Entry::TITLE.ends_with("\\")).await,
        sorted(&["ends with \\"])
    );
    assert_eq!(
        titles(&t, Entry::TITLE.starts_with("a_")).await,
        sorted(&["a_b"])
    );
    assert_eq!(
        titles(&t, Entry::TITLE.starts_with("100%")).await,
        sorted(&["100% pure"])
    );
    assert_eq!(titles(&t, Entry::TITLE.ends_with("%")).await, sorted(&[]));
    assert_eq!(
        titles(&t, Entry::TITLE.icontains("plain")).await,
        sorted(&["plain", "PLAIN caps"])
    );
    assert_eq!(
        titles(&t, Entry::TITLE.istarts_with("Plain")).await,
        sorted(&["plain", "PLAIN caps"])
    );
    assert_eq!(
        titles(&t, Entry::TITLE.iends_with("CAPS")).await,
        sorted(&["PLAIN caps"])
    );
    assert_eq!(
        titles(&t, Entry::TITLE.icontains("\\")).await,
        sorted(&["back\\slash", "ends with \\"])
    );
    // `like` still takes a pattern, which `escape_like` makes literal.
    assert_eq!(titles(&t, Entry::TITLE.like("%")).await.len(), TITLES.len());
    assert_eq!(
        titles(
            &t,
            Entry::TITLE.like(format!("%{}", strata::escape_like("\\")))
        )
        .await,
        sorted(&["ends with \\"])
    );
    assert_eq!(
        titles(
            &t,
            Entry::TITLE.ilike(format!("{}%", strata::escape_like("A_")))
        )
        .await,
        sorted(&["a_b"])
    );
    assert_eq!(strata::escape_like("50%_\\x"), "50\\%\\_\\\\x");
}
