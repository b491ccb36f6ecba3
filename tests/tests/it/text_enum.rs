//! Enums stored as text and as PostgreSQL enum types.

use strata::prelude::*;
use strata::{Model, TextEnum};
use strata_tests::TestDb;

#[derive(TextEnum, Debug, Clone, Copy, PartialEq)]
pub(crate) enum Status {
    Pending,
    PaidInFull,
    #[model(rename = "refunded")]
    Refund,
}

#[derive(TextEnum, Debug, Clone, Copy, PartialEq)]
#[model(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Priority {
    Low,
    High,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "orders")]
pub(crate) struct Order {
    pub id: i32,
    pub status: Status,
    pub priority: Priority,
    pub previous: Option<Status>,
}

#[tokio::test]
async fn enums_round_trip_filter_and_update() {
    let t = TestDb::new().await;
    t.execute(
        "CREATE TYPE priority AS ENUM ('LOW', 'HIGH');
         ",
        &[],
    )
    .await
    .unwrap();
    t.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, priority priority NOT NULL, previous text)",
        &[],
    )
    .await
    .unwrap();
    let rows = [
        (1, Status::Pending, Priority::Low, None),
        (2, Status::PaidInFull, Priority::High, Some(Status::Pending)),
        (3, Status::Refund, Priority::High, Some(Status::PaidInFull)),
    ];
    for (id, status, priority, previous) in rows {
        Order::insert(
            t.db(),
            NewOrder {
                id,
                status,
                priority,
                previous,
            },
        )
        .await
        .unwrap();
    }
    let stored: Vec<(String, String)> = t
        .query("SELECT status, priority::text FROM orders ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        stored,
        [
            ("pending".into(), "LOW".into()),
            ("paid_in_full".into(), "HIGH".into()),
            ("refunded".into(), "HIGH".into())
        ]
    );
    let o = Order::get(t.db(), 2).await.unwrap();
    assert_eq!(
        (o.status, o.priority, o.previous),
        (Status::PaidInFull, Priority::High, Some(Status::Pending))
    );
    let high = Order::query()
        .filter(Order::PRIORITY.eq(Priority::High))
        .filter(Order::STATUS.is_in([Status::Refund, Status::Pending]))
        .all(t.db())
        .await
        .unwrap();
    assert_eq!(high.iter().map(|o| o.id).collect::<Vec<_>>(), [3]);
    let n = Order::query()
        .filter(Order::PREVIOUS.eq(Status::Pending))
        .update(
            t.db(),
            [Order::STATUS.set(Status::Refund), Order::PREVIOUS.set(None)],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(Order::get(t.db(), 2).await.unwrap().status, Status::Refund);
    assert_eq!(Status::PaidInFull.to_string(), "paid_in_full");

    // Text that names no variant is a decode error naming the column.
    t.execute("UPDATE orders SET status = 'lost' WHERE id = 1", &[])
        .await
        .unwrap();
    match Order::get(t.db(), 1).await.unwrap_err() {
        Error::Decode { column, source } => {
            assert_eq!(column, "status");
            let chain = format!("{source:?}");
            assert!(chain.contains("`lost` is not a variant"), "{chain}");
        }
        other => panic!("{other:?}"),
    }
}

/// Stored names from before case conversion moved to heck: an acronym was
/// split letter by letter.
#[derive(TextEnum, Debug, Clone, Copy, PartialEq)]
pub(crate) enum Failure {
    HTTPError,
    DNSTimeout,
    Other,
}

#[derive(TextEnum, Debug, Clone, Copy, PartialEq)]
#[model(rename_all = "kebab-case")]
pub(crate) enum Kebab {
    HTTPError,
}

#[tokio::test]
async fn acronyms_are_stored_whole_and_the_old_spelling_still_reads() {
    let t = TestDb::new().await;
    let to_text = |v: &dyn strata::ToSql| {
        let mut out = bytes::BytesMut::new();
        v.to_sql_checked(&tokio_postgres::types::Type::TEXT, &mut out)
            .unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    };
    assert_eq!(to_text(&Failure::HTTPError), "http_error");
    assert_eq!(to_text(&Failure::DNSTimeout), "dns_timeout");
    assert_eq!(to_text(&Kebab::HTTPError), "http-error");
    assert_eq!(
        <Failure as strata::TextEnum>::VARIANTS,
        ["http_error", "dns_timeout", "other"]
    );
    for (sql, want) in [
        ("SELECT 'h_t_t_p_error'::text", Failure::HTTPError),
        ("SELECT 'http_error'::text", Failure::HTTPError),
        ("SELECT 'd_n_s_timeout'::text", Failure::DNSTimeout),
        ("SELECT 'other'::text", Failure::Other),
    ] {
        let row = t.db().query_one(sql, &[]).await.unwrap();
        assert_eq!(row.get::<_, Failure>(0), want, "{sql}");
    }
    let row = t
        .db()
        .query_one("SELECT 'h-t-t-p-error'::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Kebab>(0), Kebab::HTTPError);
    let bad = t
        .db()
        .query_one("SELECT 'h_t_t_p'::text", &[])
        .await
        .unwrap();
    assert!(bad.try_get::<_, Failure>(0).is_err());
}
