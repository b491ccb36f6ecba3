//! Pagination (offset pages, keyset batches, cursor tokens), text search
//! filters, and the plans PostgreSQL keeps for the query builder's
//! statements, against real PostgreSQL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use strata::prelude::*;
use strata::{Cursor, Keyset, Query};
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

/// Another model, for cursors that belong to a different query.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "others")]
struct Other {
    id: i64,
    bucket: i32,
}

/// `n` entries: `bucket` in 0..5 (200 ties each for 1,000 rows), `rank`
/// NULL for every third row and otherwise one of 0..10, created one
/// second apart, two tenants, none deleted.
async fn entries(t: &TestDb, n: i64) {
    t.execute(ENTRIES, &[]).await.unwrap();
    t.execute(
        "INSERT INTO entries (tenant_id, bucket, rank, title, created_at)
         SELECT g % 2, g % 5, CASE WHEN g % 3 = 0 THEN NULL ELSE g % 10 END,
                'entry ' || g, timestamptz '2024-01-01' + g * interval '1 second'
         FROM generate_series(1, $1::bigint) g",
        &[&n],
    )
    .await
    .unwrap();
}

/// Walks every offset page of `q` and returns the ids in page order.
async fn walk_pages(t: &TestDb, q: &Query<Entry>, per_page: u64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut page = 1;
    loop {
        let p = q
            .clone()
            .page(page, per_page)
            .fetch_page(t.db())
            .await
            .unwrap();
        ids.extend(p.items.iter().map(|e| e.id));
        if page >= p.total_pages {
            return ids;
        }
        page += 1;
    }
}

/// Each id of `ids` exactly once, and all `n` of them.
fn assert_each_once(ids: &[i64], n: usize, what: &str) {
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for id in ids {
        *seen.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(twice.is_empty(), "{what}: {} rows seen twice", twice.len());
    assert_eq!(seen.len(), n, "{what}: {} of {n} rows seen", seen.len());
}

#[tokio::test]
async fn offset_pages_over_a_column_with_ties_visit_every_row_once() {
    let t = TestDb::new().await;
    entries(&t, 1000).await;
    for order in [Entry::BUCKET.asc(), Entry::BUCKET.desc()] {
        let q = Entry::query().order_by(order);
        let ids = walk_pages(&t, &q, 37).await;
        assert_each_once(&ids, 1000, "pages ordered by bucket");
    }
    // No ordering at all is ordered by the key: pages are still a partition.
    let ids = walk_pages(&t, &Entry::query(), 64).await;
    assert_each_once(&ids, 1000, "pages with no order");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "by primary key");
}

/// The ids of `rows` sorted as PostgreSQL sorts `rank` (NULL above every
/// value: last ascending, first descending), ties by id.
fn expected_by_rank(rows: &[Entry], descending: bool) -> Vec<i64> {
    let mut rows: Vec<(Option<i32>, i64)> = rows.iter().map(|e| (e.rank, e.id)).collect();
    // `None` above every value, as PostgreSQL sorts NULL by default.
    let key = |r: Option<i32>| r.map_or((1, 0), |v| (0, v));
    rows.sort_by(|a, b| {
        let by_rank = key(a.0).cmp(&key(b.0));
        let by_rank = if descending {
            by_rank.reverse()
        } else {
            by_rank
        };
        by_rank.then(a.1.cmp(&b.1))
    });
    rows.into_iter().map(|(_, id)| id).collect()
}

/// Walks every keyset batch of `q` with in-process cursors.
async fn walk_keyset(t: &TestDb, q: &Query<Entry>, limit: u64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let mut batch = q.clone().limit(limit);
        if let Some(c) = cursor.take() {
            batch = batch.after(c);
        }
        let Keyset { items, next } = batch.fetch_keyset(t.db()).await.unwrap();
        ids.extend(items.iter().map(|e| e.id));
        match next {
            Some(c) => cursor = Some(c),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn keyset_over_a_nullable_column_visits_every_row_once_in_order() {
    let t = TestDb::new().await;
    entries(&t, 1000).await;
    let all = Entry::query().all(t.db()).await.unwrap();
    assert_eq!(all.iter().filter(|e| e.rank.is_none()).count(), 333);
    for descending in [false, true] {
        let order = if descending {
            Entry::RANK.desc()
        } else {
            Entry::RANK.asc()
        };
        let q = Entry::query().order_by(order);
        for limit in [7, 100, 333, 1000] {
            let ids = walk_keyset(&t, &q, limit).await;
            assert_each_once(&ids, 1000, &format!("keyset by rank, desc {descending}"));
            assert_eq!(ids, expected_by_rank(&all, descending), "limit {limit}");
        }
    }
    // A nullable key followed by another: the NULL group is split by the
    // second key, so a cursor inside it must compare the NULL as equal.
    let q = Entry::query()
        .order_by(Entry::RANK.desc())
        .order_by(Entry::BUCKET.asc());
    let ids = walk_keyset(&t, &q, 11).await;
    assert_each_once(&ids, 1000, "keyset by rank desc, bucket");
    let mut expected: Vec<&Entry> = all.iter().collect();
    expected.sort_by(|a, b| {
        let key = |r: Option<i32>| r.map_or((1, 0), |v| (0, v));
        key(b.rank)
            .cmp(&key(a.rank))
            .then(a.bucket.cmp(&b.bucket))
            .then(a.id.cmp(&b.id))
    });
    let expected: Vec<i64> = expected.iter().map(|e| e.id).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn page_zero_and_empty_pages_are_invalid_input() {
    let t = TestDb::new().await;
    entries(&t, 10).await;
    for (page, per_page) in [(0, 20), (3, 0), (0, 0)] {
        let err = Entry::query()
            .page(page, per_page)
            .fetch_page(t.db())
            .await
            .unwrap_err();
        match err {
            Error::InvalidInput { reason } => assert!(
                reason.contains(if page == 0 { "page 0" } else { "per_page 0" }),
                "{reason}"
            ),
            other => panic!("page({page}, {per_page}): {other:?}"),
        }
    }
    let p = Entry::query().page(1, 4).fetch_page(t.db()).await.unwrap();
    assert_eq!((p.items.len(), p.total, p.total_pages), (4, 10, 3));
}

/// `(statement, generic_plans, custom_plans)` of every `SELECT` on
/// `entries` prepared on the test's one connection.
async fn plans(t: &TestDb) -> Vec<(String, i64, i64)> {
    t.query(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
         WHERE statement LIKE 'SELECT %FROM \"entries\"%'
           AND statement NOT LIKE '%pg_prepared_statements%'
         ORDER BY statement",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}
/// The list page `WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY
/// created_at DESC LIMIT 20`, and every other statement the builder emits
/// for it, is planned generically after a few executions: PostgreSQL only
/// switches when the generic plan's estimate is as cheap as the custom
/// ones, and it estimates an unknown `LIMIT $n` as 10% of the table. A
/// server fact (pg_prepared_statements), not a timing.
#[tokio::test]
async fn list_page_statements_switch_to_generic_plans() {
    // One connection, so every statement below is prepared on the one
    // whose pg_prepared_statements we read.
    let t = TestDb::with(|c| c.pool_max(1)).await;
    entries(&t, 20_000).await;
    t.execute(
        "CREATE INDEX entries_list ON entries (tenant_id, created_at DESC, id)
         WHERE deleted_at IS NULL",
        &[],
    )
    .await
    .unwrap();
    t.execute("ANALYZE entries", &[]).await.unwrap();
    let list = |tenant: i64| {
        Entry::query()
            .filter(Entry::TENANT_ID.eq(tenant))
            .order_by(Entry::CREATED_AT.desc())
    };
    for i in 0..12 {
        let tenant = i % 2;
        assert_eq!(list(tenant).limit(20).all(t.db()).await.unwrap().len(), 20);
        for n in 1..=3 {
            let page = list(tenant).page(n, 20).fetch_page(t.db()).await.unwrap();
            assert_eq!((page.items.len(), page.total), (20, 10_000));
        }
        assert!(list(tenant).optional(t.db()).await.unwrap().is_some());
        assert!(list(tenant).exists(t.db()).await.unwrap());
    }
    let mut cursor = None;
    for _ in 0..12 {
        let mut q = list(1).limit(20);
        if let Some(c) = cursor.take() {
            q = q.after(c);
        }
        let batch = q.fetch_keyset(t.db()).await.unwrap();
        assert_eq!(batch.items.len(), 20);
        cursor = batch.next;
    }

    let plans = plans(&t).await;
    let (list_sql, _) = list(0).limit(20).to_sql();
    assert!(
        plans.iter().any(|(sql, ..)| *sql == list_sql),
        "the list statement was prepared on this connection: {plans:#?}"
    );
    // list, count, pages 1 (= first keyset batch), 2 and 3, later keyset
    // batches, optional and exists: one statement each, every number in
    // the text. (With them bound, optional would share the list's text.)
    assert_eq!(plans.len(), 8, "{plans:#?}");
    assert!(
        plans.iter().all(|(sql, ..)| !sql.contains("LIMIT $")),
        "{plans:#?}"
    );
    for (sql, generic, custom) in &plans {
        assert!(
            *generic > 0,
            "planned on every call ({custom} custom plans, no generic one): {sql}"
        );
    }
    let texts: Vec<&str> = plans.iter().map(|(sql, ..)| sql.as_str()).collect();
    insta::assert_snapshot!(texts.join("\n\n"));
}

/// The cursor after the first batch of `limit` rows of `q`.
async fn cursor_after(t: &TestDb, q: &Query<Entry>, limit: u64) -> Cursor {
    q.clone()
        .limit(limit)
        .fetch_keyset(t.db())
        .await
        .unwrap()
        .next
        .unwrap()
}

/// The SQL of the query shapes pagination and text search produce:
/// numbers written into the text where a generic plan needs them, bound
/// where they are many; keyset conditions around NULLs.
#[tokio::test]
async fn query_shape_sql() {
    let t = TestDb::new().await;
    entries(&t, 30).await;
    let list = || {
        Entry::query()
            .filter(Entry::TENANT_ID.eq(1))
            .order_by(Entry::CREATED_AT.desc())
    };
    let rank_asc = || Entry::query().order_by(Entry::RANK.asc());
    let rank_desc = || Entry::query().order_by(Entry::RANK.desc());
    let two_keys = || {
        Entry::query()
            .order_by(Entry::RANK.desc())
            .order_by(Entry::BUCKET.asc())
    };
    // 30 rows: 20 ranked, then 10 NULL ascending (the reverse descending).
    let shapes = [
        ("list page", list().limit(20)),
        ("list, page 3 by offset", list().limit(20).offset(40)),
        ("list, an offset between pages", list().limit(20).offset(45)),
        ("list, a deep page", list().limit(20).offset(2000)),
        ("list, offset only", list().offset(20)),
        (
            "a long IN list (rendered per call)",
            list().filter(Entry::BUCKET.is_in(0..17)).limit(20),
        ),
        (
            "contains",
            Entry::query().filter(Entry::TITLE.contains("5%_")),
        ),
        (
            "istarts_with",
            Entry::query().filter(Entry::TITLE.istarts_with("Entry\\")),
        ),
        (
            "after a value, ascending nullable",
            rank_asc().after(cursor_after(&t, &rank_asc(), 3).await),
        ),
        (
            "after a NULL, ascending nullable",
            rank_asc().after(cursor_after(&t, &rank_asc(), 25).await),
        ),
        (
            "after a NULL, descending nullable",
            rank_desc().after(cursor_after(&t, &rank_desc(), 3).await),
        ),
        (
            "after a value, descending nullable",
            rank_desc().after(cursor_after(&t, &rank_desc(), 15).await),
        ),
        (
            "after a NULL then a value",
            two_keys().after(cursor_after(&t, &two_keys(), 3).await),
        ),
    ];
    let mut out = String::new();
    for (label, q) in shapes {
        let (sql, values) = q.to_sql();
        out.push_str(&format!("{label}:\n  {sql}\n  {values:?}\n\n"));
    }
    insta::assert_snapshot!(out);
}

/// Walks every keyset batch of `q`, carrying only the token string from
/// one batch to the next, as an HTTP `?after=` parameter would.
async fn walk_tokens(t: &TestDb, q: &Query<Entry>, limit: u64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut batch = q.clone().limit(limit);
        if let Some(tok) = token.take() {
            assert!(
                tok.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "URL-safe token: {tok}"
            );
            batch = batch.after(Cursor::from_token(&tok).unwrap());
        }
        let Keyset { items, next } = batch.fetch_keyset(t.db()).await.unwrap();
        ids.extend(items.iter().map(|e| e.id));
        match next {
            Some(c) => token = Some(c.to_token()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn cursor_tokens_round_trip_and_continue_the_same_walk() {
    let t = TestDb::new().await;
    entries(&t, 500).await;
    let queries = [
        Entry::query().order_by(Entry::CREATED_AT.desc()),
        Entry::query().order_by(Entry::TITLE.asc()),
        Entry::query()
            .filter(Entry::TENANT_ID.eq(1))
            .order_by(Entry::RANK.asc())
            .order_by(Entry::BUCKET.desc()),
    ];
    for q in &queries {
        let by_cursor = walk_keyset(&t, q, 23).await;
        let by_token = walk_tokens(&t, q, 23).await;
        assert_eq!(by_token, by_cursor);
        assert!(!by_token.is_empty());
    }
    let first = queries[0]
        .clone()
        .limit(10)
        .fetch_keyset(t.db())
        .await
        .unwrap();
    let cursor = first.next.unwrap();
    assert_eq!(Cursor::from_token(&cursor.to_token()).unwrap(), cursor);
    assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
}

fn assert_invalid<T: std::fmt::Debug>(got: strata::Result<T>, what: &str, says: &str) {
    match got {
        Err(Error::InvalidInput { reason }) => assert!(reason.contains(says), "{what}: {reason}"),
        other => panic!("{what}: {other:?}"),
    }
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_token_is_invalid_input() {
    let t = TestDb::new().await;
    entries(&t, 50).await;
    t.execute(
        "CREATE TABLE others (id bigint PRIMARY KEY, bucket int NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    let by_bucket = || Entry::query().order_by(Entry::BUCKET.asc()).limit(10);
    let token = by_bucket()
        .fetch_keyset(t.db())
        .await
        .unwrap()
        .next
        .unwrap()
        .to_token();

    // Every one-character edit is refused before any query runs.
    for i in 0..token.len() {
        let mut bad = token.clone();
        let c = if &token[i..=i] == "A" { "B" } else { "A" };
        bad.replace_range(i..=i, c);
        assert_invalid(Cursor::from_token(&bad), &bad, "invalid cursor token");
    }
    assert_invalid(
        Cursor::from_token(&token[..token.len() - 1]),
        "cut",
        "invalid cursor token",
    );
    assert_invalid(Cursor::from_token("%%%"), "garbage", "invalid cursor token");
    assert_invalid(Cursor::from_token(""), "empty", "invalid cursor token");

    // A sound token from another shape is refused when the query runs.
    let cursor = Cursor::from_token(&token).unwrap();
    let foreign = [
        (
            "other direction",
            Entry::query().order_by(Entry::BUCKET.desc()),
        ),
        ("other column", Entry::query().order_by(Entry::RANK.asc())),
        (
            "one more key",
            Entry::query()
                .order_by(Entry::BUCKET.asc())
                .order_by(Entry::TITLE.asc()),
        ),
        ("no order", Entry::query()),
    ];
    for (what, q) in foreign {
        let q = q.after(cursor.clone());
        assert_invalid(
            q.fetch_keyset(t.db()).await,
            what,
            "belongs to another query",
        );
        assert_invalid(q.all(t.db()).await, what, "belongs to another query");
        assert_invalid(q.count(t.db()).await, what, "belongs to another query");
    }
    let other = Other::query()
        .order_by(Other::BUCKET.asc())
        .after(cursor.clone());
    assert_invalid(
        other.fetch_keyset(t.db()).await,
        "other model",
        "another query",
    );
    assert_invalid(
        other.delete(t.db()).await,
        "other model, delete",
        "another query",
    );
    // Filters are not part of the shape: they still apply to every batch.
    let same_shape = by_bucket().filter(Entry::TENANT_ID.eq(0)).after(cursor);
    let rest = same_shape.fetch_keyset(t.db()).await.unwrap();
    assert!(rest.items.iter().all(|e| e.tenant_id == 0 && e.bucket >= 0));
}
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

/// Limits taken from requests cannot grow the shape cache or the
/// statement caches without bound: past 32 literal tails of one shape,
/// the rest share one statement that binds them, and still return the
/// right rows.
#[tokio::test]
async fn many_limits_of_one_shape_share_a_bound_statement() {
    let t = TestDb::new().await;
    entries(&t, 120).await;
    // A shape no other test uses, so this test owns its cap.
    let q = || {
        Entry::query()
            .filter(Entry::BUCKET.ne(-1).and(Entry::TITLE.ne("")))
            .order_by(Entry::TITLE.desc())
    };
    let mut texts = std::collections::HashSet::new();
    for limit in 1..=100_u64 {
        let (sql, _) = q().limit(limit).to_sql();
        texts.insert(sql);
        let rows = q().limit(limit).all(t.db()).await.unwrap();
        assert_eq!(rows.len() as u64, limit);
    }
    assert_eq!(
        texts.len(),
        33,
        "32 literal limits and one bound: {texts:#?}"
    );
    assert!(texts.iter().any(|s| s.ends_with("LIMIT $3")));
    assert!(texts.iter().any(|s| s.ends_with("LIMIT 1")));
}
