//! Relations: `belongs_to` and `has_many` included without N+1. Every test
//! counts the statements an include runs from `db.metrics()` (parents'
//! statement plus one per relation and level) and checks the nested rows
//! and their order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata::prelude::*;
use strata_tests::TestDb;

/// request → analyses → tasks → steps: a chain of depth 3.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "requests", has_many(Analysis, key = request_id, name = "ANALYSES"))]
pub(crate) struct Request {
    pub id: i64,
    pub title: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(
    table = "analyses",
    soft_delete,
    belongs_to(Request, key = request_id),
    has_many(Task, key = analysis_id)
)]
pub(crate) struct Analysis {
    pub id: i64,
    pub request_id: i64,
    pub kind: String,
    #[model(deleted_at)]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(
    table = "tasks",
    belongs_to(Analysis, key = analysis_id),
    has_many(Step, key = task_id)
)]
pub(crate) struct Task {
    pub id: i64,
    pub analysis_id: i64,
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "steps")]
pub(crate) struct Step {
    pub id: i64,
    pub task_id: i64,
    pub n: i32,
}

/// user → sessions, and a session's optional device (a cached model).
#[derive(Model, Debug, Clone, PartialEq)]
#[model(
    table = "accounts",
    has_many(Session, key = account_id),
    has_many(Note, key = account_id)
)]
pub(crate) struct Account {
    pub id: i64,
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(
    table = "sessions",
    belongs_to(Account, key = account_id),
    belongs_to(Device, key = device_id)
)]
pub(crate) struct Session {
    pub id: i64,
    pub account_id: i64,
    pub device_id: Option<i64>,
}

#[derive(Model, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[model(table = "devices", cache(ttl_secs = 60))]
pub(crate) struct Device {
    pub id: i64,
    pub label: String,
}

/// A cached `has_many` target: its levels are cached lists.
#[derive(Model, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[model(table = "notes", cache(ttl_secs = 60))]
pub(crate) struct Note {
    pub id: i64,
    pub account_id: i64,
    pub text: String,
}

/// Tenant models: an order has lines, both confined to a shop; a line
/// points at a catalogue item every shop shares.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "orders", tenant = shop_id, has_many(Line, key = order_id))]
pub(crate) struct Order {
    pub id: i64,
    pub shop_id: i64,
    pub note: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(
    table = "lines",
    tenant = shop_id,
    belongs_to(Order, key = order_id),
    belongs_to(Item, key = item_id)
)]
pub(crate) struct Line {
    pub id: i64,
    pub shop_id: i64,
    pub order_id: i64,
    pub item_id: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "items", has_many(Line, key = item_id))]
pub(crate) struct Item {
    pub id: i64,
    pub sku: String,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE requests (id bigint PRIMARY KEY, title text NOT NULL)",
    "CREATE TABLE analyses (id bigint PRIMARY KEY, request_id bigint NOT NULL,
        kind text NOT NULL, deleted_at timestamptz)",
    "CREATE TABLE tasks (id bigint PRIMARY KEY, analysis_id bigint NOT NULL, name text NOT NULL)",
    "CREATE TABLE steps (id bigint PRIMARY KEY, task_id bigint NOT NULL, n int NOT NULL)",
    "CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE sessions (id bigint PRIMARY KEY, account_id bigint NOT NULL, device_id bigint)",
    "CREATE TABLE devices (id bigint PRIMARY KEY, label text NOT NULL)",
    "CREATE TABLE notes (id bigint PRIMARY KEY, account_id bigint NOT NULL, text text NOT NULL)",
    "CREATE TABLE orders (id bigint, shop_id bigint NOT NULL, note text NOT NULL,
        PRIMARY KEY (shop_id, id))",
    "CREATE TABLE lines (id bigint, shop_id bigint NOT NULL, order_id bigint NOT NULL,
        item_id bigint NOT NULL, PRIMARY KEY (shop_id, id))",
    "CREATE TABLE items (id bigint PRIMARY KEY, sku text NOT NULL)",
];

async fn schema(t: &TestDb) {
    for ddl in SCHEMA {
        t.execute(ddl, &[]).await.unwrap();
    }
}

async fn setup() -> TestDb {
    let t = TestDb::new().await;
    schema(&t).await;
    t
}

/// Statements run so far on `db`, from its counters.
fn statements(db: &Db) -> u64 {
    db.metrics().queries.total
}

/// What `f` returns and how many statements it ran.
async fn counted<T>(db: &Db, f: impl Future<Output = T>) -> (T, u64) {
    let before = statements(db);
    let out = f.await;
    (out, statements(db) - before)
}

/// Requests 1..=3: request 1 has analyses 10 (tasks 100, 101) and 11 (no
/// tasks), request 2 has analysis 20 (task 200), request 3 has none. Task
/// 100 has steps 1000 and 1001, task 200 step 2000.
async fn chain(t: &TestDb) {
    let db = t.db();
    for (id, title) in [(1, "one"), (2, "two"), (3, "three")] {
        let title = title.to_owned();
        Request::insert(db, NewRequest { id, title }).await.unwrap();
    }
    for (id, request_id) in [(10, 1), (11, 1), (20, 2)] {
        let kind = format!("kind {id}");
        let new = NewAnalysis {
            id,
            request_id,
            kind,
        };
        Analysis::insert(db, new).await.unwrap();
    }
    for (id, analysis_id) in [(101, 10), (100, 10), (200, 20)] {
        let name = format!("task {id}");
        let new = NewTask {
            id,
            analysis_id,
            name,
        };
        Task::insert(db, new).await.unwrap();
    }
    for (id, task_id, n) in [(1000, 100, 1), (1001, 100, 2), (2000, 200, 1)] {
        Step::insert(db, NewStep { id, task_id, n }).await.unwrap();
    }
}

/// Request ids, each with its analyses' ids, each with its tasks' ids.
type IdTree = Vec<(i64, Vec<(i64, Vec<i64>)>)>;

fn ids<M: Model<Key = i64>>(rows: &[M]) -> Vec<i64> {
    rows.iter().map(|r| *r.key()).collect()
}

#[tokio::test]
async fn depth_one_has_many_runs_two_statements_in_parent_order() {
    let t = setup().await;
    chain(&t).await;
    let db = t.db();
    let query = Request::query()
        .order_by(Request::ID.desc())
        .include(Request::ANALYSES);
    let (rows, n) = counted(db, query.all(db)).await;
    let rows = rows.unwrap();
    assert_eq!(n, 2, "the requests, then every analysis in one statement");
    let got: Vec<(i64, Vec<i64>)> = rows.iter().map(|(r, a)| (r.id, ids(a))).collect();
    assert_eq!(got, [(3, vec![]), (2, vec![20]), (1, vec![10, 11])]);
    assert_eq!(rows[1].1[0].kind, "kind 20");

    // The children's statement binds the keys as one array.
    let recent = db.recent_queries();
    let children = &recent[recent.len() - 1];
    assert!(
        children.sql.contains(r#""request_id" = ANY($1)"#) && !children.sql.contains("$2"),
        "{}",
        children.sql
    );
}

#[tokio::test]
async fn depth_one_belongs_to_pairs_each_row_with_its_target() {
    let t = setup().await;
    chain(&t).await;
    let db = t.db();
    let query = Task::query()
        .order_by(Task::ID.asc())
        .include(Task::ANALYSIS);
    let (rows, n) = counted(db, query.all(db)).await;
    let rows = rows.unwrap();
    assert_eq!(n, 2);
    let got: Vec<(i64, Option<i64>)> = rows
        .iter()
        .map(|(task, a)| (task.id, a.as_ref().map(|a| a.id)))
        .collect();
    assert_eq!(got, [(100, Some(10)), (101, Some(10)), (200, Some(20))]);
    // Two tasks share analysis 10: it was read once (two rows for three
    // tasks) and handed to both.
    let recent = db.recent_queries();
    let targets = &recent[recent.len() - 1];
    assert!(targets.sql.contains("= ANY($1)"), "{}", targets.sql);
    assert_eq!(targets.rows, 2, "distinct keys only");
    assert_eq!(rows[0].1, rows[1].1);
}

#[tokio::test]
async fn depth_two_and_three_run_one_statement_per_level() {
    let t = setup().await;
    chain(&t).await;
    let db = t.db();

    let depth2 = Request::query()
        .order_by(Request::ID.asc())
        .include(Request::ANALYSES.include(Analysis::TASKS));
    let (rows, n) = counted(db, depth2.all(db)).await;
    assert_eq!(n, 3, "d + 1 statements for depth 2");
    let got: IdTree = rows
        .unwrap()
        .iter()
        .map(|(r, analyses)| {
            let a = analyses.iter().map(|(a, tasks)| (a.id, ids(tasks)));
            (r.id, a.collect())
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, vec![(10, vec![100, 101]), (11, vec![])]),
            (2, vec![(20, vec![200])]),
            (3, vec![]),
        ]
    );

    let depth3 = Request::query()
        .order_by(Request::ID.asc())
        .include(Request::ANALYSES.include(Analysis::TASKS.include(Task::STEPS)));
    let (rows, n) = counted(db, depth3.all(db)).await;
    assert_eq!(n, 4, "d + 1 statements for depth 3");
    let rows = rows.unwrap();
    let (_, analyses) = &rows[0];
    let (_, tasks) = &analyses[0];
    let steps: Vec<(i64, Vec<i64>)> = tasks.iter().map(|(t, s)| (t.id, ids(s))).collect();
    assert_eq!(steps, [(100, vec![1000, 1001]), (101, vec![])]);
    assert_eq!(ids(&rows[1].1[0].1[0].1), [2000]);

    // Upwards: step → task → analysis → request, belongs_to all the way.
    let up = Task::query()
        .filter(Task::ID.eq(200))
        .include(Task::ANALYSIS.include(Analysis::REQUEST));
    let (rows, n) = counted(db, up.all(db)).await;
    assert_eq!(n, 3);
    let (task, analysis) = &rows.unwrap()[0];
    let (analysis, request) = analysis.as_ref().unwrap();
    assert_eq!((task.id, analysis.id), (200, 20));
    assert_eq!(request.as_ref().map(|r| r.title.as_str()), Some("two"));
}

async fn sessions(t: &TestDb) {
    let db = t.db();
    for (id, name) in [(1, "ann"), (2, "bob")] {
        let name = name.to_owned();
        Account::insert(db, NewAccount { id, name }).await.unwrap();
    }
    for id in [7, 8] {
        let label = format!("device {id}");
        Device::insert(db, NewDevice { id, label }).await.unwrap();
    }
    // Session 3 has no device, session 4 one that does not exist.
    for (id, account_id, device_id) in [
        (1, 1, Some(7)),
        (2, 1, Some(7)),
        (3, 2, None),
        (4, 2, Some(99)),
        (5, 1, Some(8)),
    ] {
        let new = NewSession {
            id,
            account_id,
            device_id,
        };
        Session::insert(db, new).await.unwrap();
    }
}

#[tokio::test]
async fn belongs_to_null_or_missing_target_is_none() {
    let t = setup().await;
    sessions(&t).await;
    let db = t.db();
    let q = Session::query()
        .order_by(Session::ID.asc())
        .include(Session::DEVICE);
    let (rows, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 2);
    let got: Vec<(i64, Option<String>)> = rows
        .unwrap()
        .into_iter()
        .map(|(s, d)| (s.id, d.map(|d| d.label)))
        .collect();
    let label = |s: &str| Some(s.to_owned());
    assert_eq!(
        got,
        [
            (1, label("device 7")),
            (2, label("device 7")),
            (3, None),
            (4, None),
            (5, label("device 8")),
        ]
    );

    // Only NULL keys: nothing to load, no second statement.
    let q = Session::query()
        .filter(Session::DEVICE_ID.is_null())
        .include(Session::DEVICE);
    let (rows, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 1);
    assert_eq!(rows.unwrap()[0].1, None);
}

#[tokio::test]
async fn empty_parents_run_no_child_statement() {
    let t = setup().await;
    chain(&t).await;
    let db = t.db();
    let q = Request::query()
        .filter(Request::ID.gt(1000))
        .include(Request::ANALYSES.include(Analysis::TASKS.include(Task::STEPS)));
    let (rows, n) = counted(db, q.all(db)).await;
    assert!(rows.unwrap().is_empty());
    assert_eq!(n, 1, "only the parents' statement");

    // Parents without children: the nested levels below them run nothing.
    let q = Request::query()
        .filter(Request::ID.eq(3))
        .include(Request::ANALYSES.include(Analysis::TASKS));
    let (rows, n) = counted(db, q.all(db)).await;
    assert_eq!(rows.unwrap()[0].1, vec![]);
    assert_eq!(n, 2, "parents and analyses; no tasks statement");
}

#[tokio::test]
async fn soft_deleted_children_are_hidden() {
    let t = setup().await;
    chain(&t).await;
    let db = t.db();
    Analysis::delete(db, 10).await.unwrap();
    let q = Request::query()
        .filter(Request::ID.eq(1))
        .include(Request::ANALYSES);
    let rows = q.all(db).await.unwrap();
    assert_eq!(ids(&rows[0].1), [11]);
    // And a belongs_to to a soft-deleted row finds none.
    let q = Task::query()
        .filter(Task::ID.eq(100))
        .include(Task::ANALYSIS);
    assert_eq!(q.all(db).await.unwrap()[0].1, None);
}

#[tokio::test]
async fn several_relations_at_one_level_with_a_tuple() {
    let t = setup().await;
    sessions(&t).await;
    let db = t.db();
    let q = Session::query()
        .order_by(Session::ID.asc())
        .include((Session::ACCOUNT, Session::DEVICE));
    let (rows, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 3, "parents, accounts, devices");
    let got: Vec<(i64, Option<&str>, Option<i64>)> = rows
        .as_ref()
        .unwrap()
        .iter()
        .map(|(s, (a, d))| {
            let account = a.as_ref().map(|a| a.name.as_str());
            (s.id, account, d.as_ref().map(|d| d.id))
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, Some("ann"), Some(7)),
            (2, Some("ann"), Some(7)),
            (3, Some("bob"), None),
            (4, Some("bob"), None),
            (5, Some("ann"), Some(8)),
        ]
    );

    // A tuple below a has_many: each account's sessions with their account and device.
    let q = Account::query()
        .order_by(Account::ID.asc())
        .include(Account::SESSIONS.include((Session::DEVICE, Session::ACCOUNT)));
    let (rows, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 4);
    let rows = rows.unwrap();
    let bob: Vec<(i64, Option<i64>, i64)> = rows[1]
        .1
        .iter()
        .map(|(s, (d, a))| (s.id, d.as_ref().map(|d| d.id), a.as_ref().unwrap().id))
        .collect();
    assert_eq!(bob, [(3, None, 2), (4, None, 2)]);
}

#[tokio::test]
async fn a_cached_target_is_served_from_the_cache() {
    let t = TestDb::with(strata_tests::with_redis).await;
    schema(&t).await;
    sessions(&t).await;
    let db = t.db();
    // Sessions with a device that exists: a missing row (device 99) is
    // not cached, so it would be looked up again.
    let q = Session::query()
        .filter(Session::DEVICE_ID.is_in([7, 8]))
        .order_by(Session::ID.asc())
        .include(Session::DEVICE);
    let (first, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 2, "devices loaded from PostgreSQL");
    let loads = db.metrics().cache.loads;
    assert!(loads >= 1, "{:?}", db.metrics().cache);

    let hits = db.metrics().cache.l1_hits;
    let (again, n) = counted(db, q.all(db)).await;
    assert_eq!(
        n, 1,
        "only the sessions: devices 7 and 8 come from the cache"
    );
    assert_eq!(
        db.metrics().cache.l1_hits,
        hits + 2,
        "one hit per distinct key"
    );
    assert_eq!(db.metrics().cache.loads, loads);
    assert_eq!(first.unwrap(), again.unwrap());

    // A transaction may see its own writes, so it reads PostgreSQL: the
    // cache sees neither a hit nor a load.
    let before = db.metrics().cache;
    let q = &q;
    let rows = db
        .transaction(TxOptions::new(), move |tx| async move { q.all(&tx).await })
        .await
        .unwrap();
    let devices: Vec<Option<i64>> = rows.iter().map(|(_, d)| d.as_ref().map(|d| d.id)).collect();
    assert_eq!(devices, [Some(7), Some(7), Some(8)]);
    let after = db.metrics().cache;
    assert_eq!((after.l1_hits, after.loads), (before.l1_hits, before.loads));
}

/// A cached `has_many` target: the level is a cached list keyed by its
/// SQL and the parents' keys, and a write of the target retires it.
#[tokio::test]
async fn a_cached_has_many_level_is_a_cached_list_retired_by_writes() {
    let t = TestDb::with(strata_tests::with_redis).await;
    schema(&t).await;
    sessions(&t).await;
    let db = t.db();
    for (id, account_id) in [(1, 1), (2, 1), (3, 2)] {
        let text = format!("note {id}");
        let new = NewNote {
            id,
            account_id,
            text,
        };
        Note::insert(db, new).await.unwrap();
    }
    let q = Account::query()
        .order_by(Account::ID.asc())
        .include(Account::NOTES);
    let notes = |rows: &[(Account, Vec<Note>)]| -> Vec<Vec<i64>> {
        rows.iter()
            .map(|(_, n)| n.iter().map(|n| n.id).collect())
            .collect()
    };
    let (first, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 2);
    assert_eq!(notes(&first.unwrap()), [vec![1, 2], vec![3]]);
    let (again, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 1, "only the accounts: their notes come from the cache");
    assert_eq!(notes(&again.unwrap()), [vec![1, 2], vec![3]]);

    // A note written through the model retires the cached lists of notes.
    let new = NewNote {
        id: 4,
        account_id: 2,
        text: "late".into(),
    };
    Note::insert(db, new).await.unwrap();
    let (after, n) = counted(db, q.all(db)).await;
    assert_eq!(n, 2);
    assert_eq!(notes(&after.unwrap()), [vec![1, 2], vec![3, 4]]);

    // Another set of parents is another list.
    let one = Account::query()
        .filter(Account::ID.eq(1))
        .include(Account::NOTES);
    let (rows, n) = counted(db, one.all(db)).await;
    assert_eq!(n, 2);
    assert_eq!(notes(&rows.unwrap()), [vec![1, 2]]);
}

#[tokio::test]
async fn tenant_includes_never_see_another_tenants_rows() {
    let t = setup().await;
    let db = t.db();
    for id in [1, 2] {
        let sku = format!("sku {id}");
        Item::insert(db, NewItem { id, sku }).await.unwrap();
    }
    // Both shops have order 1 and lines pointing at order 1 and item 1.
    for shop in [10_i64, 20] {
        let scoped = db.tenant(shop);
        let note = format!("shop {shop}");
        Order::insert(&scoped, NewOrder { id: 1, note })
            .await
            .unwrap();
        let lines = [(1, 1), (2, 2), (3, 1)];
        for (id, item_id) in lines.into_iter().take(if shop == 10 { 3 } else { 1 }) {
            let new = NewLine {
                id: id + shop * 100,
                order_id: 1,
                item_id,
            };
            Line::insert(&scoped, new).await.unwrap();
        }
    }
    let ten = db.tenant(10_i64);
    let twenty = db.tenant(20_i64);

    let q = Order::query().include(Order::LINES.include(Line::ITEM));
    let rows = q.all(&ten).await.unwrap();
    assert_eq!(rows.len(), 1);
    let lines: Vec<(i64, i64)> = rows[0]
        .1
        .iter()
        .map(|(l, item)| (l.id, item.as_ref().unwrap().id))
        .collect();
    assert_eq!(lines, [(1001, 1), (1002, 2), (1003, 1)]);
    let rows = q.all(&twenty).await.unwrap();
    assert_eq!(rows[0].0.note, "shop 20");
    assert_eq!(
        ids(&rows[0].1.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>()),
        [2001]
    );

    // From the shared side: item 1's lines on shop 20's handle are shop
    // 20's only, though shop 10's lines point at the same item.
    let q = Item::query()
        .filter(Item::ID.eq(1))
        .include(Item::LINES.include(Line::ORDER));
    let (rows, n) = counted(db, q.all(&twenty)).await;
    assert_eq!(n, 3);
    let rows = rows.unwrap();
    let got: Vec<(i64, i64, Option<String>)> = rows[0]
        .1
        .iter()
        .map(|(l, o)| (l.id, l.shop_id, o.as_ref().map(|o| o.note.clone())))
        .collect();
    assert_eq!(got, [(2001, 20, Some("shop 20".to_owned()))]);
    let rows = Item::query()
        .filter(Item::ID.eq(1))
        .include(Item::LINES)
        .all(&ten)
        .await
        .unwrap();
    assert_eq!(ids(&rows[0].1), [1001, 1003]);
}

#[tokio::test]
async fn a_large_parent_set_binds_one_array() {
    let t = setup().await;
    let db = t.db();
    let n: i64 = 100_000;
    let accounts: Vec<NewAccount> = (1..=n)
        .map(|id| NewAccount {
            id,
            name: format!("a{id}"),
        })
        .collect();
    Account::insert_many(db, &accounts).await.unwrap();
    let sessions: Vec<NewSession> = (1..=n)
        .step_by(1000)
        .map(|i| NewSession {
            id: i,
            account_id: i,
            device_id: None,
        })
        .collect();
    Session::insert_many(db, &sessions).await.unwrap();

    // 100k keys: past PostgreSQL's 65535 parameters if each were one.
    let (rows, statements) = counted(db, Account::query().include(Account::SESSIONS).all(db)).await;
    let rows = rows.unwrap();
    assert_eq!(statements, 2);
    assert_eq!(rows.len(), 100_000);
    let with: Vec<i64> = rows
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(a, _)| a.id)
        .collect();
    assert_eq!(with, (1..=n).step_by(1000).collect::<Vec<_>>());

    let (rows, statements) = counted(db, Session::query().include(Session::ACCOUNT).all(db)).await;
    assert_eq!(statements, 2);
    assert!(
        rows.unwrap()
            .iter()
            .all(|(s, a)| a.as_ref().unwrap().id == s.account_id)
    );
}
