//! `strata::Timestamp` against a real `timestamptz`: the values PostgreSQL
//! stores are the ones written (to the microsecond, before 1970 and 2000
//! too), the server's own clock reads back in order, soft delete and
//! `updated_at` work with it, it filters with the `chrono` feature, and a
//! value it cannot hold (`infinity`) is a typed decode error.

use std::time::Duration;

use strata::Timestamp;
use strata::prelude::*;
use strata_tests::TestDb;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "events", soft_delete)]
struct Event {
    #[model(primary_key, generated)]
    id: i64,
    at: Timestamp,
    #[model(generated)]
    created_at: Timestamp,
    #[model(updated_at)]
    updated_at: Timestamp,
    #[model(deleted_at)]
    deleted_at: Option<Timestamp>,
}

const EVENTS: &str = "CREATE TABLE events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz)";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[tokio::test]
async fn what_is_written_is_what_postgres_stores_and_reads_back() {
    let t = TestDb::new().await;
    t.execute(EVENTS, &[]).await.unwrap();
    let cases = [
        "2026-12-04T21:30:00.123456Z",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T00:00:00Z",
        "1969-12-31T23:59:59.000001Z",
        "1066-10-14T09:00:00Z",
        "9999-12-31T23:59:59.999999Z",
    ];
    for text in cases {
        let e = Event::insert(t.db(), NewEvent { at: ts(text) })
            .await
            .unwrap();
        assert_eq!(e.at, ts(text));
        // The server's own reading of the stored value, in UTC.
        let row = t
            .query_one(
                "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                 (extract(epoch FROM at) * 1000000)::numeric::text FROM events WHERE id = $1",
                &[&e.id],
            )
            .await
            .unwrap();
        let (server_text, server_micros): (String, String) = (row.get(0), row.get(1));
        assert_eq!(ts(&server_text), ts(text), "{text}");
        assert_eq!(
            server_micros
                .split('.')
                .next()
                .unwrap()
                .parse::<i64>()
                .unwrap(),
            ts(text).unix_micros(),
            "{text}"
        );
        let back = Event::get(t.db(), e.id).await.unwrap();
        assert_eq!(back.at, ts(text));
    }
    // A parameter compared on the server, and a `timestamp` (no zone) column
    // read as UTC.
    let n: i64 = t
        .query_one(
            "SELECT count(*) FROM events WHERE at < $1",
            &[&ts("2000-01-01T00:00:00Z")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
    let naive: Timestamp = t
        .query_one("SELECT '2026-12-04 21:30:00.5'::timestamp", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(naive, ts("2026-12-04T21:30:00.5Z"));
}

#[tokio::test]
async fn the_servers_clock_soft_delete_and_updated_at() {
    let t = TestDb::new().await;
    t.execute(EVENTS, &[]).await.unwrap();
    let before = Timestamp::now();
    let e = Event::insert(t.db(), NewEvent { at: before })
        .await
        .unwrap();
    let slack = Duration::from_secs(5); // the server's clock against ours
    assert!(e.created_at.checked_add(slack).unwrap() > before);
    assert!(e.created_at < Timestamp::now().checked_add(slack).unwrap());

    Event::delete(t.db(), e.id).await.unwrap();
    let gone = Event::query()
        .with_deleted()
        .filter(Event::ID.eq(e.id))
        .one(t.db())
        .await
        .unwrap();
    let deleted_at = gone.deleted_at.expect("soft-deleted");
    assert!(deleted_at >= e.updated_at);
    let restored = Event::restore(t.db(), e.id).await.unwrap();
    assert_eq!(restored.deleted_at, None);

    let mut changed = restored.clone();
    changed.at = ts("2030-01-01T00:00:00Z");
    let saved = Event::update(t.db(), &changed).await.unwrap();
    assert!(saved.updated_at >= restored.updated_at);
    assert_eq!(saved.at, ts("2030-01-01T00:00:00Z"));
}

#[tokio::test]
async fn filters_on_a_timestamp_with_chrono() {
    let t = TestDb::new().await;
    t.execute(EVENTS, &[]).await.unwrap();
    for day in 1..=9 {
        let at = ts(&format!("2026-12-0{day}T12:00:00Z"));
        Event::insert(t.db(), NewEvent { at }).await.unwrap();
    }
    let late = Event::query()
        .filter(Event::AT.ge(ts("2026-12-07T00:00:00Z")))
        .order_by(Event::AT.desc())
        .all(t.db())
        .await
        .unwrap();
    let days: Vec<String> = late.iter().map(|e| e.at.to_string()).collect();
    assert_eq!(
        days,
        [
            "2026-12-09T12:00:00Z",
            "2026-12-08T12:00:00Z",
            "2026-12-07T12:00:00Z"
        ]
    );
    let moved = Event::query()
        .filter(Event::AT.lt(ts("2026-12-02T00:00:00Z")))
        .update(t.db(), [Event::AT.set(ts("2027-01-01T00:00:00Z"))])
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let c: chrono::DateTime<chrono::Utc> = ts("2027-01-01T00:00:00Z").into();
    assert_eq!(Timestamp::from(c), ts("2027-01-01T00:00:00Z"));
}

#[tokio::test]
async fn infinity_is_a_decode_error_naming_the_column() {
    let t = TestDb::new().await;
    t.execute(EVENTS, &[]).await.unwrap();
    t.execute("INSERT INTO events (at) VALUES ('infinity')", &[])
        .await
        .unwrap();
    let err = Event::query().all(t.db()).await.unwrap_err();
    match &err {
        Error::Decode { column, .. } => assert_eq!(column, "at"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("infinity"), "{err}");
}
