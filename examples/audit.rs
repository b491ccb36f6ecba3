//! The audit log: `#[model(audit)]` records every write of the model in the
//! writing transaction (a row trigger), with the actor from `with_actor`,
//! the row before and after as JSON, redacted and excluded fields, and
//! history by row and by actor. A rollback leaves no record; a write with no
//! actor is refused by default, or recorded as a system actor when the
//! `Config` says so.
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example audit
//! ```
//!
//! It works in its own schema, `strata_example_audit` (the `search_path`
//! of its handles, so the `strata_audit` table lives there too), dropped
//! at the start and at the end, and exits non-zero if a write is missing
//! from the log, a rolled-back one is in it, or a redacted value shows.

use chrono::{DateTime, Utc};
use strata::audit::{AuditRecord, REDACTED, WithoutActor, with_actor};
use strata::prelude::*;

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_audit";

/// An audited customer.
#[derive(Model, Debug, Clone)]
#[model(table = "customers", audit, soft_delete)]
struct Customer {
    #[model(primary_key, generated)]
    id: i64,
    name: String,
    /// The change is recorded, the value masked.
    #[model(audit(redact))]
    ssn: String,
    /// Left out of the records.
    #[model(audit(exclude))]
    last_seen_page: String,
    #[model(deleted_at)]
    deleted_at: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    let base = Db::connect(Config::from_env()?).await?;
    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[])
        .await?;
    let config = base.config().clone().search_path(SCHEMA);
    let db = Db::connect(config.clone()).await?;
    // A second handle for jobs that run without a user: recorded as `cron`.
    let jobs = Db::connect(config.audit_without_actor(WithoutActor::System("cron".into()))).await?;
    let outcome = walk_through(&db, &jobs).await;
    db.close().await;
    jobs.close().await;
    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.close().await;
    outcome
}

async fn walk_through(db: &Db, jobs: &Db) -> strata::Result<()> {
    db.execute(
        "CREATE TABLE customers (
             id bigserial PRIMARY KEY, name text NOT NULL, ssn text NOT NULL,
             last_seen_page text NOT NULL, deleted_at timestamptz)",
        &[],
    )
    .await?;
    db.install_audit::<Customer>().await?; // or strata::audit::trigger_sql in a migration
    db.check_audit::<Customer>().await?; // what an application runs at start-up

    // Every write inside `with_actor` records the actor.
    let ann = with_actor("alice", async {
        let c = Customer::insert(
            db,
            NewCustomer {
                name: "Ann".into(),
                ssn: "123-45-6789".into(),
                last_seen_page: "/home".into(),
            },
        )
        .await?;
        Customer::patch(
            db,
            c.id,
            CustomerPatch {
                name: Some("Ann Smith".into()),
                ssn: Some("987-65-4321".into()),
                last_seen_page: Some("/settings".into()),
            },
        )
        .await?;
        Customer::delete(db, c.id).await?; // soft delete
        let back = Customer::restore(db, c.id).await?;
        assert!(back.deleted_at.is_none());
        // Raw SQL is audited too (the trigger sees every write); inside
        // `with_actor`, run it in a transaction so it carries the actor.
        db.transaction(TxOptions::new(), |tx| async move {
            tx.execute(
                "UPDATE customers SET name = 'Ann S.' WHERE id = $1",
                &[&c.id],
            )
            .await
        })
        .await?;
        Ok::<Customer, Error>(c)
    })
    .await?;

    // A rolled-back transaction leaves no record.
    let rolled_back: strata::Result<()> = with_actor(
        "mallory",
        db.transaction(TxOptions::new(), |tx| async move {
            Customer::patch(
                &tx,
                ann.id,
                CustomerPatch {
                    name: Some("rolled back".into()),
                    ..Default::default()
                },
            )
            .await?;
            Err(Error::InvalidInput {
                reason: "changed my mind".into(),
            })
        }),
    )
    .await;
    assert!(rolled_back.is_err());

    // No actor: refused by default, and nothing is written.
    let anonymous = Customer::patch(
        db,
        ann.id,
        CustomerPatch {
            name: Some("nobody".into()),
            ..Default::default()
        },
    )
    .await;
    match &anonymous {
        Err(e @ Error::NoActor { .. }) => println!("write without an actor: {e}"),
        other => panic!("expected Error::NoActor, got {other:?}"),
    }
    assert_eq!(Customer::get(db, ann.id).await?.name, "Ann S.");

    // A handle configured with a system actor records it instead.
    Customer::patch(
        jobs,
        ann.id,
        CustomerPatch {
            last_seen_page: Some("/nightly".into()),
            ..Default::default()
        },
    )
    .await?;

    // The row's history, oldest first.
    let history = AuditRecord::history::<Customer, _>(db, ann.id).await?;
    println!("history of customer {}:", ann.id);
    for r in &history {
        println!(
            "  {:<11} by {:<6} after {}",
            r.op,
            r.actor.as_deref().unwrap_or("-"),
            r.after
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        );
    }
    let ops: Vec<&str> = history.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "insert",
            "update",
            "soft_delete",
            "restore",
            "update",
            "update"
        ]
    );
    let actors: Vec<Option<&str>> = history.iter().map(|r| r.actor.as_deref()).collect();
    assert_eq!(
        actors[..5],
        [Some("alice"); 5],
        "every write inside with_actor names alice"
    );
    assert_eq!(actors[5], Some("cron"));
    assert!(
        history
            .iter()
            .all(|r| r.actor.as_deref() != Some("mallory")),
        "the rolled-back write left no record"
    );

    // `before` is the previous `after`; the redacted value never shows, the
    // excluded field is not there at all.
    for pair in history.windows(2) {
        assert_eq!(pair[1].before, pair[0].after);
    }
    let first = history[0].after.as_ref().expect("an insert has an after");
    assert_eq!(first["name"], "Ann");
    assert_eq!(first["ssn"], REDACTED);
    assert!(first.get("last_seen_page").is_none());
    let all_json: String = history
        .iter()
        .filter_map(|r| r.after.as_ref().map(ToString::to_string))
        .collect();
    assert!(!all_json.contains("123-45") && !all_json.contains("987-65"));

    // What one actor did, newest first.
    let by_alice = AuditRecord::by_actor(db, "alice", 50).await?;
    println!(
        "alice's records, newest first: {:?}",
        by_alice.iter().map(|r| r.op.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(by_alice.len(), 5);
    assert_eq!(by_alice[0].op, "update");
    Ok(())
}
