//! Multi-tenancy: a model with `#[model(tenant = org_id)]` whose operations
//! compile only on a handle scoped to one tenant (`db.tenant(id)`). Every
//! statement carries the tenant filter, inserts take the tenant from the
//! scope, another tenant's ids find nothing, `db.all_tenants()` is the
//! explicit cross-tenant view for system jobs, and the Citus-readiness
//! checks pass. Also: the row-level-security policy strata writes for an
//! `rls` model, and the start-up check that refuses to trust it for a
//! superuser connection.
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example tenancy
//! ```
//!
//! It works in its own schema, `strata_example_tenancy`, dropped at the
//! start and at the end, and exits non-zero if one tenant can see or change
//! another's rows.

use strata::prelude::*;

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_tenancy";

/// A note belonging to one organisation. `Note::get(&db, id)` on an
/// unscoped `Db` does not compile.
#[derive(Model, Debug, Clone)]
#[model(schema = "strata_example_tenancy", table = "notes", tenant = org_id)]
struct Note {
    #[model(primary_key, generated)]
    id: i64,
    org_id: i64,
    title: String,
}

/// The same kind of table with PostgreSQL row-level security as a second
/// layer under the tenant filter.
#[derive(Model, Debug, Clone)]
#[model(
    schema = "strata_example_tenancy",
    table = "secrets",
    tenant = org_id,
    rls
)]
#[allow(dead_code)] // only its metadata and policy are used
struct Secret {
    #[model(primary_key, generated)]
    id: i64,
    org_id: i64,
    body: String,
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    let db = Db::connect(Config::from_env()?).await?;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[]).await?;
    // The tenant leads every key, as a table distributed by tenant needs.
    db.execute(
        "CREATE TABLE strata_example_tenancy.notes (
             id bigserial, org_id bigint NOT NULL, title text NOT NULL,
             PRIMARY KEY (org_id, id))",
        &[],
    )
    .await?;
    db.execute(
        "CREATE TABLE strata_example_tenancy.secrets (
             id bigserial, org_id bigint NOT NULL, body text NOT NULL,
             PRIMARY KEY (org_id, id))",
        &[],
    )
    .await?;
    let outcome = walk_through(&db).await;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.close().await;
    outcome
}

fn titles(notes: &[Note]) -> Vec<&str> {
    notes.iter().map(|n| n.title.as_str()).collect()
}

async fn walk_through(db: &Db) -> strata::Result<()> {
    let acme = db.tenant(1_i64);
    let globex = db.tenant(2_i64);

    // Inserts take the tenant from the scope: `NewNote` has no `org_id`.
    let plan = Note::insert(
        &acme,
        NewNote {
            title: "acme plan".into(),
        },
    )
    .await?;
    Note::insert(
        &acme,
        NewNote {
            title: "acme budget".into(),
        },
    )
    .await?;
    let memo = Note::insert(
        &globex,
        NewNote {
            title: "globex memo".into(),
        },
    )
    .await?;
    println!(
        "acme's note {} has org_id {}, globex's note {} has org_id {}",
        plan.id, plan.org_id, memo.id, memo.org_id
    );
    assert_eq!((plan.org_id, memo.org_id), (1, 2));

    // Reads see the scope's rows only.
    let mine = Note::query().order_by(Note::ID.asc()).all(&acme).await?;
    let theirs = Note::query().all(&globex).await?;
    println!(
        "acme sees {:?}, globex sees {:?}",
        titles(&mine),
        titles(&theirs)
    );
    assert_eq!(titles(&mine), ["acme plan", "acme budget"]);
    assert_eq!(titles(&theirs), ["globex memo"]);

    // Another tenant's id: not found, and writes touch nothing.
    assert!(Note::find(&globex, plan.id).await?.is_none());
    let patched = Note::patch(
        &globex,
        plan.id,
        NotePatch {
            title: Some("hijacked".into()),
        },
    )
    .await;
    assert!(matches!(patched, Err(Error::NotFound { .. })));
    let bulk = Note::query()
        .filter(Note::TITLE.contains("acme"))
        .update(&globex, [Note::TITLE.set("hijacked")])
        .await?;
    let deleted = Note::hard_delete(&globex, plan.id).await;
    println!(
        "globex on acme's note: find None, patch {}, bulk update {bulk} rows, delete {}",
        patched.unwrap_err(),
        deleted
            .as_ref()
            .map_or_else(ToString::to_string, |()| "ok".into())
    );
    assert_eq!(bulk, 0);
    assert_eq!(Note::get(&acme, plan.id).await?.title, "acme plan");

    // A tenant transaction: every statement inside is scoped too.
    let renamed = acme
        .transaction(TxOptions::new(), |tx| async move {
            let n = Note::get(&tx, plan.id).await?;
            Note::patch(
                &tx,
                n.id,
                NotePatch {
                    title: Some(format!("{} (final)", n.title)),
                },
            )
            .await
        })
        .await?;
    println!("acme renamed its note: {}", renamed.title);
    assert_eq!(renamed.title, "acme plan (final)");

    // System jobs: the query builder across every tenant, on purpose
    // (logged at WARN with the caller's location).
    let everyone = Note::query().count(&db.all_tenants()).await?;
    println!("all tenants: {everyone} notes");
    assert_eq!(everyone, 3);

    // Ready for Citus: every statement filters on the tenant, every key
    // includes it.
    let statements = strata::tenant::check_statements::<Note>();
    let table = db.check_tenancy::<Note>().await?;
    println!(
        "tenancy checks: {} statement problems, {} table problems",
        statements.len(),
        table.len()
    );
    assert!(
        statements.is_empty() && table.is_empty(),
        "{statements:?} {table:?}"
    );

    // Row-level security: the policy for a migration, and the start-up
    // check, which refuses a role that would bypass it (this example
    // connects as the superuser `postgres`).
    let policy = strata::tenant::rls_policy_sql::<Secret>().expect("Secret is an rls model");
    println!("RLS policy for secrets:\n{policy}");
    for statement in policy.split(';').filter(|s| !s.trim().is_empty()) {
        db.execute(statement, &[]).await?;
    }
    match db.check_tenancy::<Secret>().await {
        Err(e @ Error::Config { .. }) => println!("RLS check: {e}"),
        Ok(problems) => {
            // A role without superuser or BYPASSRLS passes.
            println!("RLS check passed: {problems:?}");
            assert!(problems.is_empty());
        }
        Err(other) => return Err(other),
    }
    Ok(())
}
