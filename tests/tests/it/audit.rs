//! The audit log (`#[model(audit)]`): every write path records who changed
//! what in the writing transaction, checked from the audit table's side: a
//! rollback leaves nothing, a bulk statement one record per row, concurrent
//! writers a history whose every `before` is the previous `after`, and
//! the actor is the writing task's, never another's.

use std::collections::HashMap;

use serde_json::json;
use strata::Model;
use strata::audit::{AuditRecord, WithoutActor, with_actor};
use strata::prelude::*;
use strata_tests::TestDb;

/// Every feature that changes what a record holds: a soft-delete column
/// (`soft_delete`/`restore`), a redacted and an excluded field.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "accounts", audit, soft_delete)]
pub(crate) struct Account {
    #[model(primary_key, generated)]
    pub id: i64,
    #[model(unique)]
    pub owner: String,
    pub balance: i64,
    #[model(audit(redact))]
    pub secret: String,
    #[model(audit(exclude))]
    pub seen: i32,
    #[model(deleted_at)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

const ACCOUNTS: &str = "CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    owner text NOT NULL UNIQUE,
    balance bigint NOT NULL,
    secret text NOT NULL,
    seen int NOT NULL DEFAULT 0,
    deleted_at timestamptz)";

/// A tenant model: its records carry the tenant.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "stock", tenant = dealership_id, audit)]
pub(crate) struct Stock {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    pub vin: String,
}

fn account(owner: &str, balance: i64) -> NewAccount {
    NewAccount {
        owner: owner.into(),
        balance,
        secret: format!("pw-{owner}"),
        seen: 7,
    }
}

async fn audited(t: &TestDb) {
    t.execute(ACCOUNTS, &[]).await.unwrap();
    t.install_audit::<Account>().await.unwrap();
}

async fn records(t: &TestDb) -> i64 {
    t.count("strata_audit").await
}

fn ops(history: &[AuditRecord]) -> Vec<&str> {
    history.iter().map(|r| r.op.as_str()).collect()
}

#[tokio::test]
async fn every_write_path_is_recorded_with_its_actor_and_the_fields_as_configured() {
    let t = TestDb::new().await;
    audited(&t).await;
    let db = t.db().clone();
    let id = with_actor("alice", async {
        // Autocommit on `Db`: each write runs with the actor set around it.
        let a = Account::insert(&db, account("a", 10)).await?;
        let a = Account::patch(
            &db,
            a.id,
            AccountPatch {
                balance: Some(20),
                ..Default::default()
            },
        )
        .await?;
        let a = Account::update(
            &db,
            &Account {
                secret: "pw-new".into(),
                ..a
            },
        )
        .await?;
        Account::upsert(&db, account("a", 30)).await?;
        Account::delete(&db, a.id).await?;
        Account::restore(&db, a.id).await?;
        Account::query()
            .filter(Account::OWNER.eq("a"))
            .update(&db, [Account::BALANCE.set(40)])
            .await?;
        Account::query()
            .filter(Account::OWNER.eq("a"))
            .delete(&db)
            .await?;
        Account::query()
            .with_deleted()
            .filter(Account::OWNER.eq("a"))
            .hard_delete(&db)
            .await?;
        // Both bulk insert paths: a multi-row INSERT and a binary COPY.
        Account::insert_many(&db, &[account("b", 1), account("c", 2)]).await?;
        let many: Vec<NewAccount> = (0..300).map(|i| account(&format!("m{i}"), i)).collect();
        Account::insert_many(&db, &many).await?;
        let b = Account::query()
            .filter(Account::OWNER.eq("b"))
            .one(&db)
            .await?;
        Account::hard_delete(&db, b.id).await?;
        Ok::<i64, Error>(a.id)
    })
    .await
    .unwrap();
    {
        let history = AuditRecord::history::<Account, _>(&db, id).await.unwrap();
        assert_eq!(
            ops(&history),
            [
                "insert",
                "update",
                "update",
                "update",
                "soft_delete",
                "restore",
                "update",
                "soft_delete",
                "delete"
            ]
        );
        for r in &history {
            assert_eq!(r.actor.as_deref(), Some("alice"), "{r:?}");
            assert_eq!(r.row_key, id.to_string());
            assert!(r.table_name.ends_with(".accounts"), "{}", r.table_name);
            for side in [&r.before, &r.after].into_iter().flatten() {
                assert_eq!(side["secret"], json!("[redacted]"), "{r:?}");
                assert!(side.get("seen").is_none(), "excluded: {r:?}");
            }
        }
        let (first, last) = (&history[0], &history[history.len() - 1]);
        assert_eq!(first.before, None);
        assert_eq!(first.after.as_ref().unwrap()["balance"], json!(10));
        assert_eq!(history[1].after.as_ref().unwrap()["balance"], json!(20));
        assert_eq!(last.after, None);
        assert_eq!(last.before.as_ref().unwrap()["balance"], json!(40));
    }
    // 9 for `a`, 302 inserts, `b`'s delete.
    assert_eq!(records(&t).await, 9 + 302 + 1);
    let mine = AuditRecord::by_actor(t.db(), "alice", 1_000).await.unwrap();
    assert_eq!(mine.len(), 312);
    assert!(mine.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(mine[0].op, "delete");
}

/// Outside a transaction, a single-row write carries the actor in its own
/// statement (one prepared statement, no `BEGIN` .. `COMMIT` around it).
/// Watched from the connection's side: on a one-connection pool, the next
/// borrower finds no actor set, and a write without one is still refused.
#[tokio::test]
async fn a_single_row_write_carries_its_actor_in_the_statement_and_leaves_none_behind() {
    let t = TestDb::new().await;
    audited(&t).await;
    let db = Db::connect(t.config().pool_min(0).pool_max(1))
        .await
        .unwrap();
    let leftover = async || -> String {
        let rows = db
            .query_read(
                "SELECT coalesce(current_setting('strata.actor', true), '')",
                &[],
            )
            .await
            .unwrap();
        rows[0].get(0)
    };
    let a = with_actor("dave", Account::insert(&db, account("d", 1)))
        .await
        .unwrap();
    assert_eq!(leftover().await, "");
    let patch = AccountPatch {
        balance: Some(2),
        ..Default::default()
    };
    with_actor("erin", Account::patch(&db, a.id, patch))
        .await
        .unwrap();
    assert_eq!(leftover().await, "");
    let refused = Account::restore(&db, a.id).await.unwrap_err();
    assert!(matches!(refused, Error::NoActor { .. }), "{refused:?}");
    with_actor("frank", Account::delete(&db, a.id))
        .await
        .unwrap();
    assert_eq!(leftover().await, "");
    with_actor("gina", Account::hard_delete(&db, a.id))
        .await
        .unwrap();
    assert_eq!(leftover().await, "");
    let history = AuditRecord::history::<Account, _>(&db, a.id).await.unwrap();
    let who: Vec<_> = history
        .iter()
        .map(|r| (r.op.as_str(), r.actor.as_deref().unwrap()))
        .collect();
    assert_eq!(
        who,
        [
            ("insert", "dave"),
            ("update", "erin"),
            ("soft_delete", "frank"),
            ("delete", "gina")
        ]
    );
    // The four writes were prepared with the actor's placeholder in them.
    let rows = db
        .query_read(
            "SELECT count(*) FROM pg_prepared_statements \
             WHERE statement LIKE '%set_config(''strata.actor'', $%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 4);
}

#[tokio::test]
async fn a_rollback_leaves_no_record_and_a_commit_one_per_row_in_its_transaction() {
    let t = TestDb::new().await;
    audited(&t).await;
    let out = with_actor(
        "bob",
        t.transaction(TxOptions::default(), |tx| async move {
            let a = Account::insert(&tx, account("a", 1)).await?;
            Account::patch(
                &tx,
                a.id,
                AccountPatch {
                    balance: Some(2),
                    ..Default::default()
                },
            )
            .await?;
            Account::insert_many(&tx, &[account("b", 1), account("c", 1)]).await?;
            strata::Result::<()>::Err(Error::NotFound { what: "half-way" })
        }),
    )
    .await;
    assert!(matches!(out, Err(Error::NotFound { what: "half-way" })));
    assert_eq!(t.count("accounts").await, 0);
    assert_eq!(records(&t).await, 0, "a rollback leaves no audit record");

    with_actor(
        "bob",
        t.transaction(TxOptions::default(), |tx| async move {
            let a = Account::insert(&tx, account("a", 1)).await?;
            Account::delete(&tx, a.id).await?;
            Ok(())
        }),
    )
    .await
    .unwrap();
    let rows = t
        .query_read(
            "SELECT count(*), count(DISTINCT txid), min(actor) FROM strata_audit",
            &[],
        )
        .await
        .unwrap();
    let (n, txids, actor): (i64, i64, Option<String>) =
        (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!((n, txids, actor.as_deref()), (2, 1, Some("bob")));
}

#[tokio::test]
async fn a_1000_row_bulk_update_writes_1000_records() {
    let t = TestDb::new().await;
    audited(&t).await;
    let rows: Vec<NewAccount> = (0..1_000).map(|i| account(&format!("u{i}"), i)).collect();
    let db = t.db().clone();
    with_actor("batch", async {
        Account::insert_many(&db, &rows).await.unwrap();
        let changed = Account::query()
            .filter(Account::BALANCE.ge(0))
            .update(&db, [Account::BALANCE.set(-1)])
            .await
            .unwrap();
        assert_eq!(changed, 1_000);
    })
    .await;
    let rows = t
        .query_read(
            "SELECT count(*), count(DISTINCT row_key), count(DISTINCT txid) FROM strata_audit \
             WHERE op = 'update' AND (before->>'balance')::bigint >= 0 \
             AND (after->>'balance')::bigint = -1",
            &[],
        )
        .await
        .unwrap();
    let (n, keys, txids): (i64, i64, i64) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!(
        (n, keys, txids),
        (1_000, 1_000, 1),
        "one statement, a record per row"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_is_the_previous_after_under_8x1000_concurrent_patches() {
    let t = TestDb::with(|c| c.pool_max(8)).await;
    audited(&t).await;
    const ROWS: i64 = 4;
    let db = t.db().clone();
    let ids: Vec<i64> = with_actor("setup", async {
        let mut ids = Vec::new();
        for i in 0..ROWS {
            ids.push(
                Account::insert(&db, account(&format!("r{i}"), 0))
                    .await
                    .unwrap()
                    .id,
            );
        }
        ids
    })
    .await;
    let mut tasks = Vec::new();
    for task in 0..8_i64 {
        let db = db.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(with_actor(
            format!("writer-{task}"),
            async move {
                for call in 0..1_000_i64 {
                    let id = ids[usize::try_from((task + call) % ROWS).unwrap()];
                    let patch = AccountPatch {
                        balance: Some(task * 10_000 + call),
                        ..Default::default()
                    };
                    // Half autocommit, half inside a transaction.
                    if call % 2 == 0 {
                        Account::patch(&db, id, patch).await.unwrap();
                    } else {
                        db.transaction(TxOptions::default(), |tx| {
                            let patch = patch.clone();
                            async move { Account::patch(&tx, id, patch).await }
                        })
                        .await
                        .unwrap();
                    }
                }
            },
        )));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut total = 0;
    for id in ids {
        let history = AuditRecord::history::<Account, _>(t.db(), id)
            .await
            .unwrap();
        total += history.len() - 1;
        assert_eq!(history[0].op, "insert");
        for pair in history.windows(2) {
            assert_eq!(
                pair[1].before, pair[0].after,
                "row {id}: record {} does not start where {} ended",
                pair[1].id, pair[0].id
            );
            // Each writer's balance says who wrote it: the record's actor.
            let balance = pair[1].after.as_ref().unwrap()["balance"].as_i64().unwrap();
            assert_eq!(
                pair[1].actor.as_deref(),
                Some(format!("writer-{}", balance / 10_000).as_str())
            );
        }
        let now = Account::get(t.db(), id).await.unwrap();
        assert_eq!(
            history.last().unwrap().after.as_ref().unwrap()["balance"],
            json!(now.balance)
        );
    }
    assert_eq!(total, 8_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_is_the_writing_tasks_and_a_write_without_one_follows_the_policy() {
    let t = TestDb::new().await;
    audited(&t).await;

    // Default policy: refused, by the trigger, on every path; nothing written.
    let refused = Account::insert(t.db(), account("x", 1)).await.unwrap_err();
    assert!(
        matches!(&refused, Error::NoActor { table, .. } if table.ends_with(".accounts")),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("with_actor"), "{refused}");
    let raw = t
        .execute(
            "INSERT INTO accounts (owner, balance, secret) VALUES ('x', 1, 's')",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(raw, Error::NoActor { .. }), "{raw:?}");
    let in_tx = t
        .transaction(TxOptions::default(), |tx| async move {
            Account::insert(&tx, account("x", 1)).await
        })
        .await
        .unwrap_err();
    assert!(matches!(in_tx, Error::NoActor { .. }), "{in_tx:?}");
    // A spawned task does not inherit the actor (it is task-local).
    let db = t.db().clone();
    let spawned = with_actor("parent", async move {
        tokio::spawn(async move { Account::insert(&db, account("x", 1)).await })
            .await
            .unwrap()
    })
    .await;
    assert!(matches!(spawned, Err(Error::NoActor { .. })), "{spawned:?}");
    assert_eq!(t.count("accounts").await, 0);
    assert_eq!(records(&t).await, 0);

    // 200 concurrent tasks on 2 worker threads, each its own actor: every
    // record names the task that wrote it.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let db = t.db().clone();
        tasks.push(tokio::spawn(with_actor(format!("user-{i}"), async move {
            tokio::task::yield_now().await;
            Account::insert(&db, account(&format!("o{i}"), i))
                .await
                .unwrap();
        })));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rows = t
        .query_read("SELECT actor, after->>'owner' FROM strata_audit", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 200);
    for r in rows {
        let (actor, owner): (String, String) = (r.get(0), r.get(1));
        assert_eq!(actor.strip_prefix("user-"), owner.strip_prefix('o'));
    }

    // A named system actor instead, on a second handle; `with_actor` still wins.
    let system = Db::connect(
        t.config()
            .audit_without_actor(WithoutActor::System("cron job".into())),
    )
    .await
    .unwrap();
    let a = Account::insert(&system, account("s", 1)).await.unwrap();
    system
        .execute("UPDATE accounts SET balance = 2 WHERE owner = 's'", &[])
        .await
        .unwrap();
    with_actor("carol", Account::delete(&system, a.id))
        .await
        .unwrap();
    let history = AuditRecord::history::<Account, _>(&system, a.id)
        .await
        .unwrap();
    let actors: Vec<_> = history.iter().map(|r| r.actor.as_deref()).collect();
    assert_eq!(actors, [Some("cron job"), Some("cron job"), Some("carol")]);

    // Bad actors are refused before anything is sent.
    let nul = with_actor("a\0b", Account::insert(t.db(), account("n", 1))).await;
    assert!(matches!(nul, Err(Error::InvalidInput { .. })), "{nul:?}");
    let quoted = with_actor("o'brien; --", Account::insert(t.db(), account("q", 1)))
        .await
        .unwrap();
    let h = AuditRecord::history::<Account, _>(t.db(), quoted.id)
        .await
        .unwrap();
    assert_eq!(h[0].actor.as_deref(), Some("o'brien; --"));
    let bad = Db::connect(
        t.config()
            .audit_without_actor(WithoutActor::System(String::new())),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            bad,
            Error::Config {
                var: "AUDIT_WITHOUT_ACTOR",
                ..
            }
        ),
        "{bad:?}"
    );
}

#[tokio::test]
async fn records_carry_the_tenant_and_a_missing_table_or_trigger_is_a_startup_error() {
    let t = TestDb::new().await;
    t.execute(
        "CREATE TABLE stock (id bigserial, dealership_id bigint NOT NULL, vin text NOT NULL, \
         PRIMARY KEY (dealership_id, id))",
        &[],
    )
    .await
    .unwrap();
    let missing = t.check_audit::<Stock>().await.unwrap_err();
    assert!(
        matches!(&missing, Error::Config { var: "audit", reason } if reason.contains("audit table") && reason.contains("install_audit")),
        "{missing}"
    );
    t.install_audit::<Account>().await.unwrap_err(); // no `accounts` table
    for s in strata::audit::install_statements() {
        t.execute(&s, &[]).await.unwrap();
    }
    let untriggered = t.check_audit::<Stock>().await.unwrap_err();
    assert!(
        untriggered.to_string().contains("no enabled audit trigger"),
        "{untriggered}"
    );
    // Installing twice, concurrently, is fine.
    let (a, b) = tokio::join!(t.install_audit::<Stock>(), t.install_audit::<Stock>());
    a.unwrap();
    b.unwrap();
    t.check_audit::<Stock>().await.unwrap();

    let tenant = t.tenant(42_i64);
    let s = with_actor(
        "dealer",
        Stock::insert(&tenant, NewStock { vin: "V1".into() }),
    )
    .await
    .unwrap();
    let h = AuditRecord::history::<Stock, _>(t.db(), s.id)
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].tenant.as_deref(), Some("42"));

    t.uninstall_audit::<Stock>().await.unwrap();
    assert!(t.check_audit::<Stock>().await.is_err());
    Stock::insert(&tenant, NewStock { vin: "V2".into() })
        .await
        .unwrap();
    assert_eq!(records(&t).await, 1, "not audited once the trigger is gone");
    let not_audited = strata::audit::trigger_sql::<strata_tests_models::Plain>().unwrap_err();
    assert!(
        not_audited.to_string().contains("#[model(audit)]"),
        "{not_audited}"
    );
}

/// A model without `audit`, for `trigger_sql`'s refusal.
mod strata_tests_models {
    #[derive(strata::Model, Debug, Clone)]
    #[model(table = "plain")]
    pub(super) struct Plain {
        #[model(primary_key)]
        pub id: i64,
    }
}

#[tokio::test]
async fn a_migration_is_the_actor_of_the_rows_it_changes() {
    let t = TestDb::new().await;
    audited(&t).await;
    with_actor("app", Account::insert(t.db(), account("m", 1)))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("strata_audit_{}", t.schema()));
    std::fs::create_dir_all(dir.join("1_raise")).unwrap();
    std::fs::write(
        dir.join("1_raise/up.sql"),
        "UPDATE accounts SET balance = balance + 1;",
    )
    .unwrap();
    let ran = strata::migrate::Migrator::from_dir(&dir)
        .unwrap()
        .up(t.db())
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    ran.unwrap();
    let by: HashMap<String, i64> = t
        .query_read(
            "SELECT actor, count(*) FROM strata_audit GROUP BY actor",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(by.get("migration:1_raise"), Some(&1), "{by:?}");
}

#[tokio::test]
async fn the_trigger_writes_to_its_schemas_table_whatever_the_writers_search_path() {
    let t = TestDb::new().await;
    audited(&t).await;
    let schema = t.schema().to_owned();
    with_actor(
        "dba",
        t.transaction(TxOptions::default(), |tx| {
            let schema = schema.clone();
            async move {
                // `public` has no `strata_audit` of this test: the record must
                // still reach the one installed next to `accounts`.
                tx.execute("SET LOCAL search_path = pg_catalog", &[]).await?;
                tx.execute(
                    &format!(
                        "INSERT INTO \"{schema}\".accounts (owner, balance, secret) VALUES ('p', 1, 's')"
                    ),
                    &[],
                )
                .await?;
                Ok(())
            }
        }),
    )
    .await
    .unwrap();
    let rows = t
        .query_read("SELECT actor, op FROM strata_audit", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (actor, op): (String, String) = (rows[0].get(0), rows[0].get(1));
    assert_eq!((actor.as_str(), op.as_str()), ("dba", "insert"));
}
