//! Multi-tenancy: every operation of a tenant model is confined to the
//! handle's tenant (checked from another tenant's side, with its ids), the
//! cache keeps tenants apart, and row-level security holds on its own.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use strata::prelude::*;
use strata::tenant::{TENANT_SETTING, TenancyProblem, check_statements, rls_policy_sql};
use strata::{Config, Model};
use strata_tests::TestDb;

/// A tenant model with every feature that has its own statement: soft
/// delete, a version, a unique column (per tenant) and the cache.
#[derive(Model, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[model(table = "deals", tenant = dealership_id, soft_delete, cache(ttl_secs = 60))]
pub(crate) struct Deal {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    #[model(unique)]
    pub number: i32,
    pub title: String,
    #[model(version)]
    pub version: i32,
    #[model(deleted_at)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

const DEALS: &str = "CREATE TABLE deals (
    id bigserial,
    dealership_id bigint NOT NULL,
    number int NOT NULL,
    title text NOT NULL,
    version int NOT NULL DEFAULT 1,
    deleted_at timestamptz,
    PRIMARY KEY (dealership_id, id),
    UNIQUE (dealership_id, number))";

/// The same table under row-level security.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "notes", tenant = tenant_id, rls)]
pub(crate) struct Note {
    #[model(primary_key, generated)]
    pub id: i64,
    pub tenant_id: i64,
    pub body: String,
}

const NOTES: &str = "CREATE TABLE notes (
    id bigserial,
    tenant_id bigint NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (tenant_id, id))";

fn new_deal(number: i32) -> NewDeal {
    NewDeal {
        number,
        title: format!("deal {number}"),
    }
}

#[test]
fn every_generated_statement_filters_on_the_tenant() {
    assert_eq!(check_statements::<Deal>(), Vec::<TenancyProblem>::new());
    assert_eq!(check_statements::<Note>(), Vec::<TenancyProblem>::new());
    let sql = &Deal::META.sql;
    assert_eq!(
        sql.get,
        "SELECT \"id\", \"dealership_id\", \"number\", \"title\", \"version\", \"deleted_at\" FROM \"deals\" WHERE \"id\" = $1 AND \"dealership_id\" = $2 AND \"deleted_at\" IS NULL"
    );
    assert!(
        sql.upsert
            .contains("ON CONFLICT (\"dealership_id\", \"number\")"),
        "{}",
        sql.upsert
    );
    assert!(
        sql.insert
            .contains("\"dealership_id\") VALUES ($1, $2, $3)")
    );
}

/// Rows of tenants 1 and 2; returns tenant 1's rows.
async fn two_tenants(t: &TestDb) -> Vec<Deal> {
    t.execute(DEALS, &[]).await.unwrap();
    let one = t.db().tenant(1_i64);
    let two = t.db().tenant(2_i64);
    let mut rows = Vec::new();
    for n in 0..3 {
        rows.push(Deal::insert(&one, new_deal(n)).await.unwrap());
        Deal::insert(&two, new_deal(n)).await.unwrap();
    }
    rows
}

/// Tenant 1's rows as they are stored, read around strata.
async fn stored(t: &TestDb, tenant: i64) -> Vec<(i64, i32, String, i32, bool)> {
    t.query_read(
        "SELECT id, number, title, version, deleted_at IS NULL FROM deals WHERE dealership_id = $1 ORDER BY id",
        &[&tenant],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

#[tokio::test]
async fn another_tenants_ids_find_and_touch_nothing() {
    let t = TestDb::new().await;
    let ones = two_tenants(&t).await;
    let before = stored(&t, 1).await;
    let two = t.db().tenant(2_i64);
    // Tenant 1's rows, cached from its own side first: the cache must not
    // hand them to tenant 2 either.
    let one = t.db().tenant(1_i64);
    for d in &ones {
        assert_eq!(&Deal::get_cached(&one, d.id).await.unwrap(), d);
    }
    for d in &ones {
        let id = d.id;
        let not_found = |r: strata::Result<()>, op: &str| {
            assert!(
                matches!(r, Err(Error::NotFound { .. })),
                "{op} of another tenant's row: {r:?}"
            );
        };
        not_found(Deal::get(&two, id).await.map(|_| ()), "get");
        not_found(Deal::get_cached(&two, id).await.map(|_| ()), "get_cached");
        assert_eq!(Deal::find(&two, id).await.unwrap(), None);
        assert!(!Deal::exists(&two, id).await.unwrap());
        let mut moved = d.clone();
        moved.title = "stolen".into();
        moved.dealership_id = 2;
        not_found(Deal::update(&two, &moved).await.map(|_| ()), "update");
        let patch = DealPatch {
            title: Some("stolen".into()),
            ..Default::default()
        };
        not_found(Deal::patch(&two, id, patch).await.map(|_| ()), "patch");
        not_found(Deal::delete(&two, id).await, "delete");
        not_found(Deal::restore(&two, id).await.map(|_| ()), "restore");
        not_found(Deal::hard_delete(&two, id).await, "hard_delete");
    }
    let ids: Vec<i64> = ones.iter().map(|d| d.id).collect();
    let mine: HashSet<i64> = Deal::find_many(&two, &ids)
        .await
        .unwrap()
        .iter()
        .map(|d| d.dealership_id)
        .collect();
    assert!(mine.iter().all(|t| *t == 2), "find_many: {mine:?}");
    for d in Deal::find_many_cached(&two, &ids).await.unwrap() {
        assert_eq!(d.dealership_id, 2);
    }
    // An upsert with a number both tenants have updates tenant 2's row.
    let up = Deal::upsert(&two, new_deal(0)).await.unwrap();
    assert_eq!(up.dealership_id, 2);
    assert!(ones.iter().all(|d| d.id != up.id));
    // The query builder, its bulk writes and cached lists.
    assert_eq!(Deal::count(&two).await.unwrap(), 3);
    let listed = Deal::query().all(&two).await.unwrap();
    assert!(listed.iter().all(|d| d.dealership_id == 2), "{listed:?}");
    assert_eq!(listed.len(), 3);
    assert_eq!(Deal::query().count(&two).await.unwrap(), 3);
    let one_list = Deal::query().cached().all(&one).await.unwrap();
    let two_list = Deal::query().cached().all(&two).await.unwrap();
    assert!(one_list.iter().all(|d| d.dealership_id == 1));
    assert!(two_list.iter().all(|d| d.dealership_id == 2));
    let by_id = Deal::query().filter(Deal::ID.eq(ones[0].id));
    assert_eq!(by_id.all(&two).await.unwrap(), vec![]);
    assert_eq!(
        by_id
            .update(&two, [Deal::TITLE.set("stolen".to_owned())])
            .await
            .unwrap(),
        0
    );
    assert_eq!(by_id.delete(&two).await.unwrap(), 0);
    assert_eq!(by_id.hard_delete(&two).await.unwrap(), 0);
    // Inside tenant 2's transaction, the same.
    two.transaction(TxOptions::new(), |tx| {
        let id = ones[0].id;
        async move {
            assert_eq!(Deal::find(&tx, id).await?, None);
            assert_eq!(Deal::query().filter(Deal::ID.eq(id)).delete(&tx).await?, 0);
            tx.savepoint(|sp| async move {
                assert!(!Deal::exists(&sp, id).await?);
                Ok(())
            })
            .await
        }
    })
    .await
    .unwrap();
    assert_eq!(stored(&t, 1).await, before, "tenant 1's rows are untouched");
    // The system jobs' escape hatch sees both.
    let all = Deal::query().all(&t.db().all_tenants()).await.unwrap();
    assert_eq!(all.len(), 6);
}

#[tokio::test]
async fn a_tenant_works_on_its_own_rows() {
    let t = TestDb::new().await;
    let ones = two_tenants(&t).await;
    let one = t.db().tenant(1_i64);
    let d = &ones[0];
    assert_eq!(d.dealership_id, 1, "insert takes the tenant from the scope");
    let patched = Deal::patch(
        &one,
        d.id,
        DealPatch {
            title: Some("mine".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((patched.title.as_str(), patched.version), ("mine", 2));
    assert_eq!(Deal::get_cached(&one, d.id).await.unwrap(), patched);
    Deal::delete(&one, d.id).await.unwrap();
    assert!(Deal::find(&one, d.id).await.unwrap().is_none());
    Deal::restore(&one, d.id).await.unwrap();
    let n = Deal::insert_many(&one, (10..300).map(new_deal).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(n, 290, "COPY sets the tenant of every row");
    assert_eq!(Deal::count(&one).await.unwrap(), 293);
    assert_eq!(Deal::count(&t.db().tenant(2_i64)).await.unwrap(), 3);
    assert_eq!(t.db().check_tenancy::<Deal>().await.unwrap(), vec![]);
}

#[tokio::test]
async fn keys_without_the_tenant_are_reported() {
    let t = TestDb::new().await;
    t.execute(
        "CREATE TABLE deals (id bigserial PRIMARY KEY, dealership_id bigint NOT NULL,
           number int NOT NULL UNIQUE, title text NOT NULL, version int NOT NULL DEFAULT 1,
           deleted_at timestamptz)",
        &[],
    )
    .await
    .unwrap();
    let problems = t.db().check_tenancy::<Deal>().await.unwrap();
    let what: Vec<&str> = problems.iter().map(|p| p.what.as_str()).collect();
    assert_eq!(
        what,
        vec![
            "unique constraint deals_number_key",
            "primary key deals_pkey"
        ],
        "{problems:#?}"
    );
}

/// A login role that row-level security applies to, with rights on the
/// test's schema, and a `Db` connected as it. Dropped by [`AppRole::drop`].
struct AppRole {
    name: String,
    db: Db,
}

impl AppRole {
    async fn new(t: &TestDb, pool_max: usize) -> AppRole {
        let name = format!("strata_app_{:08x}", rand::random::<u32>());
        let s = t.schema();
        let admin = strata_tests::admin().await;
        admin
            .batch_execute(&format!(
                "CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS;
                 GRANT USAGE ON SCHEMA \"{s}\" TO {name};
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{s}\" TO {name};
                 GRANT USAGE ON ALL SEQUENCES IN SCHEMA \"{s}\" TO {name};"
            ))
            .await
            .unwrap();
        let url = strata_tests::database_url().replacen("postgres@", &format!("{name}@"), 1);
        let config = Config::from_url(&url)
            .unwrap()
            .search_path(s.to_owned())
            .pool_max(pool_max);
        let db = Db::connect(config).await.unwrap();
        AppRole { name, db }
    }

    async fn drop(self) {
        self.db.close().await;
        let admin = strata_tests::admin().await;
        let _ = admin
            .batch_execute(&format!("DROP OWNED BY {0}; DROP ROLE {0};", self.name))
            .await;
    }
}

async fn notes_with_rls(t: &TestDb) {
    t.execute(NOTES, &[]).await.unwrap();
    for stmt in rls_policy_sql::<Note>().unwrap().lines() {
        t.execute(stmt, &[]).await.unwrap();
    }
}

#[tokio::test]
async fn rls_refuses_a_setup_that_would_not_hold() {
    let t = TestDb::new().await;
    t.execute(NOTES, &[]).await.unwrap();
    // A superuser bypasses every policy.
    let err = Note::count(&t.db().tenant(1_i64)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Config { reason, .. } if reason.contains("superuser")),
        "{err}"
    );
    let app = AppRole::new(&t, 2).await;
    let err = app.db.check_tenancy::<Note>().await.unwrap_err();
    assert!(err.to_string().contains("not enabled"), "{err}");
    t.execute("ALTER TABLE notes ENABLE ROW LEVEL SECURITY", &[])
        .await
        .unwrap();
    let err = app.db.check_tenancy::<Note>().await.unwrap_err();
    assert!(err.to_string().contains("FORCE"), "{err}");
    for stmt in rls_policy_sql::<Note>().unwrap().lines() {
        t.execute(stmt, &[]).await.unwrap();
    }
    assert_eq!(app.db.check_tenancy::<Note>().await.unwrap(), vec![]);
    app.drop().await;
}

#[tokio::test]
async fn rls_scopes_model_writes_and_never_leaks_the_setting() {
    let t = TestDb::new().await;
    notes_with_rls(&t).await;
    let app = AppRole::new(&t, 1).await;
    let one = app.db.tenant(1_i64);
    let two = app.db.tenant(2_i64);
    let n = Note::insert(&one, NewNote { body: "a".into() })
        .await
        .unwrap();
    // 600 rows: past the multi-row INSERT, where COPY is refused under RLS.
    let many: Vec<NewNote> = (0..600)
        .map(|i| NewNote {
            body: format!("n{i}"),
        })
        .collect();
    assert_eq!(Note::insert_many(&two, &many).await.unwrap(), 600);
    assert_eq!(Note::count(&one).await.unwrap(), 1);
    assert_eq!(Note::count(&two).await.unwrap(), 600);
    assert!(Note::find(&two, n.id).await.unwrap().is_none());
    // The one pooled connection carries no tenant to the next borrower.
    let setting: Option<String> = app
        .db
        .query_read_one(
            &format!("SELECT current_setting('{TENANT_SETTING}', true)"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(setting.unwrap_or_default().is_empty());
    // Unscoped raw SQL on the RLS table sees nothing at all.
    let seen: i64 = app
        .db
        .query_read_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
    // A write into another tenant fails the policy's check.
    let err = one
        .execute("INSERT INTO notes (tenant_id, body) VALUES (2, 'x')", &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    app.drop().await;
}

/// 10,000 requests of 8 tenants, interleaved over a pool of 2, as raw SQL
/// with no tenant filter, so row-level security alone protects it: every
/// row any request sees is its own tenant's.
async fn interleaved(db: &Db) -> usize {
    const TENANTS: i64 = 8;
    let mut tasks = Vec::new();
    for task in 0..16_i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            for i in 0..625_i64 {
                let tenant = (task * 7 + i) % TENANTS + 1;
                let scoped = db.tenant(tenant);
                let sql = if i % 2 == 0 {
                    "SELECT tenant_id FROM notes"
                } else {
                    "SELECT tenant_id FROM notes WHERE id % 3 = 0"
                };
                let tenants: Vec<i64> = if i % 5 == 0 {
                    scoped
                        .transaction(TxOptions::new(), |tx| async move {
                            Ok(tx.query(sql, &[]).await?.iter().map(|r| r.get(0)).collect())
                        })
                        .await
                        .unwrap()
                } else {
                    scoped
                        .query_read(sql, &[])
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r.get(0))
                        .collect()
                };
                assert!(!tenants.is_empty());
                assert!(
                    tenants.iter().all(|t| *t == tenant),
                    "tenant {tenant} saw {tenants:?}"
                );
                seen += tenants.len();
            }
            seen
        }));
    }
    let mut seen = 0;
    for task in tasks {
        seen += task.await.unwrap();
    }
    seen
}

async fn seed_notes(t: &TestDb) {
    t.execute(
        "INSERT INTO notes (tenant_id, body) SELECT 1 + g % 8, 'n' || g FROM generate_series(0, 31) g",
        &[],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn ten_thousand_interleaved_requests_see_only_their_tenant_rls_alone() {
    let t = TestDb::new().await;
    notes_with_rls(&t).await;
    seed_notes(&t).await;
    let app = AppRole::new(&t, 2).await;
    let seen = interleaved(&app.db).await;
    println!("rls alone: 10000 requests, {seen} rows seen, all their own tenant's");
    app.drop().await;
}

#[tokio::test]
async fn ten_thousand_interleaved_requests_see_only_their_tenant_filter_alone() {
    let t = TestDb::with(|c| c.pool_max(2)).await;
    t.execute(NOTES, &[]).await.unwrap();
    seed_notes(&t).await;
    // The model declares `rls`, which this table lacks: a twin without it.
    #[derive(Model, Debug, Clone)]
    #[model(table = "notes", tenant = tenant_id)]
    struct PlainNote {
        id: i64,
        tenant_id: i64,
        #[allow(dead_code)]
        body: String,
    }
    let db = t.db().clone();
    let mut tasks = Vec::new();
    for task in 0..16_i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            for i in 0..625_i64 {
                let tenant = (task * 7 + i) % 8 + 1;
                let scoped = db.tenant(tenant);
                let rows = if i % 2 == 0 {
                    PlainNote::query().all(&scoped).await.unwrap()
                } else {
                    let ids: Vec<i64> = (1..=32).collect();
                    PlainNote::find_many(&scoped, &ids).await.unwrap()
                };
                assert!(!rows.is_empty());
                for r in &rows {
                    assert_eq!(
                        r.tenant_id, tenant,
                        "row {} of tenant {}",
                        r.id, r.tenant_id
                    );
                }
                seen += rows.len();
            }
            seen
        }));
    }
    let mut seen = 0;
    for task in tasks {
        seen += task.await.unwrap();
    }
    println!("filter alone: 10000 requests, {seen} rows seen, all their own tenant's");
}
