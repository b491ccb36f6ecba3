//! A car dealership's critical workflows, each all-or-nothing in one
//! transaction: create a deal (the customer if new, a deal number from a
//! gap-free sequence, the deal and its default scenario, the vehicle
//! marked pending, all of it in the audit log), attach a co-buyer to a
//! deal, register a user with a unique username and email. Each one is
//! also shown failing half-way and leaving nothing behind.
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example dealership
//! ```
//!
//! Every dealership is a tenant (`db.tenant(id)`): its customers, vehicles,
//! deals and deal numbers are its own.

use strata::audit::{AuditRecord, with_actor};
use strata::prelude::*;
use strata::sequence::Sequence;

/// The schema the example owns (dropped and recreated by [`run`]).
pub(crate) const SCHEMA: &str = "strata_dealership";

#[derive(Model, Debug, Clone)]
#[allow(dead_code)] // every column is read back, not every field by this walk-through
#[model(tenant = dealership_id, audit)]
pub(crate) struct Customer {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    pub name: String,
    #[model(unique)]
    #[validate(email)]
    pub email: String,
}

#[derive(Model, Debug, Clone)]
#[allow(dead_code)] // every column is read back, not every field by this walk-through
#[model(tenant = dealership_id, audit)]
pub(crate) struct Vehicle {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    pub vin: String,
    /// `available`, `pending` (on a deal) or `sold`.
    pub status: String,
}

#[derive(Model, Debug, Clone)]
#[allow(dead_code)] // every column is read back, not every field by this walk-through
#[model(tenant = dealership_id, audit)]
pub(crate) struct Deal {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    /// From [`DEAL_NUMBERS`]: 1, 2, 3, .. per dealership, never reused or skipped.
    pub number: i64,
    pub customer_id: i64,
    pub vehicle_id: i64,
}

#[derive(Model, Debug, Clone)]
#[allow(dead_code)] // every column is read back, not every field by this walk-through
#[model(tenant = dealership_id, audit)]
pub(crate) struct Scenario {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    pub deal_id: i64,
    pub name: String,
    #[validate(range(min = 0))]
    pub down_payment: i64,
}

/// A co-buyer on a deal.
#[derive(Model, Debug, Clone)]
#[allow(dead_code)] // every column is read back, not every field by this walk-through
#[model(tenant = dealership_id, audit)]
pub(crate) struct DealCustomer {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    pub deal_id: i64,
    pub customer_id: i64,
}

/// A salesperson's login.
#[derive(Model, Debug, Clone)]
#[allow(dead_code)] // every column is read back, not every field by this walk-through
#[model(tenant = dealership_id, audit)]
pub(crate) struct User {
    #[model(primary_key, generated)]
    pub id: i64,
    pub dealership_id: i64,
    #[validate(length(min = 3, max = 32))]
    pub username: String,
    #[validate(email)]
    pub email: String,
    #[model(audit(redact))]
    pub password_hash: String,
}

/// Deal numbers, counted per dealership.
pub(crate) const DEAL_NUMBERS: Sequence = Sequence::new("deal_number");

const TABLES: &str = "
CREATE TABLE customers (
    id bigserial, dealership_id bigint NOT NULL, name text NOT NULL, email text NOT NULL,
    PRIMARY KEY (dealership_id, id), UNIQUE (dealership_id, email));
CREATE TABLE vehicles (
    id bigserial, dealership_id bigint NOT NULL, vin text NOT NULL,
    status text NOT NULL CHECK (status IN ('available', 'pending', 'sold')),
    PRIMARY KEY (dealership_id, id));
CREATE TABLE deals (
    id bigserial, dealership_id bigint NOT NULL, number bigint NOT NULL,
    customer_id bigint NOT NULL, vehicle_id bigint NOT NULL,
    PRIMARY KEY (dealership_id, id), UNIQUE (dealership_id, number),
    FOREIGN KEY (dealership_id, customer_id) REFERENCES customers,
    FOREIGN KEY (dealership_id, vehicle_id) REFERENCES vehicles);
CREATE TABLE scenarios (
    id bigserial, dealership_id bigint NOT NULL, deal_id bigint NOT NULL,
    name text NOT NULL, down_payment bigint NOT NULL,
    PRIMARY KEY (dealership_id, id),
    FOREIGN KEY (dealership_id, deal_id) REFERENCES deals);
CREATE TABLE deal_customers (
    id bigserial, dealership_id bigint NOT NULL, deal_id bigint NOT NULL, customer_id bigint NOT NULL,
    PRIMARY KEY (dealership_id, id), UNIQUE (dealership_id, deal_id, customer_id),
    FOREIGN KEY (dealership_id, deal_id) REFERENCES deals,
    FOREIGN KEY (dealership_id, customer_id) REFERENCES customers);
CREATE TABLE users (
    id bigserial, dealership_id bigint NOT NULL, username text NOT NULL, email text NOT NULL,
    password_hash text NOT NULL,
    PRIMARY KEY (dealership_id, id), UNIQUE (dealership_id, username), UNIQUE (dealership_id, email));
";

/// Who the customer on a new deal is.
#[derive(Debug, Clone)]
pub(crate) struct CustomerInput {
    pub name: String,
    pub email: String,
}

/// A new deal: the customer (found by email, or created), the vehicle,
/// and the default scenario's down payment.
#[derive(Debug, Clone)]
pub(crate) struct NewDealInput {
    pub customer: CustomerInput,
    pub vehicle_id: i64,
    pub down_payment: i64,
}

/// One field's error, as a form shows it.
fn field_error(field: &'static str, code: &'static str, message: &'static str) -> Error {
    Error::Validation(FieldError::new(field, code, message).into())
}

/// The customer with this email, or a new one.
async fn customer_for(tx: &TenantTx<i64>, input: &CustomerInput) -> strata::Result<Customer> {
    let found = Customer::query()
        .filter(Customer::EMAIL.eq(input.email.as_str()))
        .optional(tx)
        .await?;
    match found {
        Some(c) => Ok(c),
        None => {
            Customer::insert(
                tx,
                NewCustomer {
                    name: input.name.trim().to_owned(),
                    email: input.email.clone(),
                },
            )
            .await
        }
    }
}

/// Creates a deal, all or nothing: the customer if new, the next deal
/// number, the deal, its default scenario, and the vehicle marked pending.
/// `actor` is recorded on every row it writes.
pub(crate) async fn create_deal(
    db: &TenantDb<i64>,
    actor: &str,
    input: NewDealInput,
) -> strata::Result<Deal> {
    let run = db.transaction(TxOptions::default(), |tx| {
        let input = input.clone();
        async move {
            let customer = customer_for(&tx, &input.customer).await?;
            // Only an available vehicle goes pending: the filter and the
            // update are one statement, so two deals cannot take one car.
            let taken = Vehicle::query()
                .filter(Vehicle::ID.eq(input.vehicle_id))
                .filter(Vehicle::STATUS.eq("available"))
                .update(&tx, [Vehicle::STATUS.set("pending")])
                .await?;
            if taken == 0 {
                return Err(field_error("vehicle_id", "available", "is not available"));
            }
            let number = DEAL_NUMBERS.next(&tx).await?;
            let deal = Deal::insert(
                &tx,
                NewDeal {
                    number,
                    customer_id: customer.id,
                    vehicle_id: input.vehicle_id,
                },
            )
            .await?;
            Scenario::insert(
                &tx,
                NewScenario {
                    deal_id: deal.id,
                    name: "default".into(),
                    down_payment: input.down_payment,
                },
            )
            .await?;
            Ok(deal)
        }
    });
    with_actor(actor, run).await
}

/// Adds a co-buyer to a deal (created if new), all or nothing.
pub(crate) async fn attach_customer(
    db: &TenantDb<i64>,
    actor: &str,
    deal_id: i64,
    input: CustomerInput,
) -> strata::Result<DealCustomer> {
    let run = db.transaction(TxOptions::default(), |tx| {
        let input = input.clone();
        async move {
            let deal = Deal::get(&tx, deal_id).await?;
            let customer = customer_for(&tx, &input).await?;
            if customer.id == deal.customer_id {
                return Err(field_error(
                    "email",
                    "already_on_deal",
                    "is the deal's own customer",
                ));
            }
            let attached = DealCustomer::query()
                .filter(DealCustomer::DEAL_ID.eq(deal_id))
                .filter(DealCustomer::CUSTOMER_ID.eq(customer.id))
                .exists(&tx)
                .await?;
            if attached {
                return Err(field_error(
                    "email",
                    "already_on_deal",
                    "is on this deal already",
                ));
            }
            // The unique (deal, customer) pair holds it under races too.
            DealCustomer::insert(
                &tx,
                NewDealCustomer {
                    deal_id,
                    customer_id: customer.id,
                },
            )
            .await
        }
    });
    with_actor(actor, run).await
}

/// Registers a user; a taken username or email is a field error, checked
/// in the transaction (and held by the unique constraints under races).
pub(crate) async fn register_user(
    db: &TenantDb<i64>,
    actor: &str,
    username: &str,
    email: &str,
) -> strata::Result<User> {
    let new = NewUser {
        username: username.to_owned(),
        email: email.to_owned(),
        password_hash: format!("argon2:{}", username.len()), // a real app hashes
    };
    let run = db.transaction(TxOptions::default(), |tx| {
        let new = new.clone();
        async move {
            let mut errors = ValidationErrors::new();
            let name_taken = User::query()
                .filter(User::USERNAME.eq(new.username.as_str()))
                .exists(&tx)
                .await?;
            if name_taken {
                errors.push(FieldError::new("username", "unique", "is already taken"));
            }
            let email_taken = User::query()
                .filter(User::EMAIL.eq(new.email.as_str()))
                .exists(&tx)
                .await?;
            if email_taken {
                errors.push(FieldError::new("email", "unique", "is already taken"));
            }
            if !errors.is_empty() {
                return Err(Error::Validation(errors));
            }
            User::insert(&tx, new).await
        }
    });
    with_actor(actor, run).await
}

/// What [`run`] did, for the integration test to check.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Summary {
    /// The deal numbers given out, in order.
    pub numbers: Vec<i64>,
    /// Rows in each table after the failed attempts (they added none).
    pub rows: Vec<(&'static str, i64)>,
    /// Audit records per operation, e.g. `("insert", 9)`.
    pub audited: Vec<(String, i64)>,
    /// The actors the audit log names.
    pub actors: Vec<String>,
    /// The failed attempts' errors, as a user would see them.
    pub failures: Vec<String>,
}

/// Sets the schema up and walks through every workflow, including the
/// failing ones. Returns what the tables and the audit log hold.
pub(crate) async fn run(base: &Db) -> strata::Result<Summary> {
    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[])
        .await?;
    let db = Db::connect(base.config().clone().search_path(SCHEMA)).await?;
    let summary = walk_through(&db).await;
    db.close().await;
    summary
}

async fn walk_through(db: &Db) -> strata::Result<Summary> {
    // Setup, as a migration would run it (and recorded as the setup's actor).
    db.transaction(TxOptions::default(), |tx| async move {
        for statement in TABLES.split(';').filter(|s| !s.trim().is_empty()) {
            tx.execute(statement, &[]).await?;
        }
        Ok(())
    })
    .await?;
    db.install_sequences().await?;
    db.install_audit::<Customer>().await?;
    db.install_audit::<Vehicle>().await?;
    db.install_audit::<Deal>().await?;
    db.install_audit::<Scenario>().await?;
    db.install_audit::<DealCustomer>().await?;
    db.install_audit::<User>().await?;
    db.check_audit::<Deal>().await?; // what an app runs at start-up

    let lot = db.tenant(1_i64);
    let vehicles = with_actor("inventory", async {
        let mut ids = Vec::new();
        for vin in ["VIN-A", "VIN-B", "VIN-C"] {
            let v = Vehicle::insert(
                &lot,
                NewVehicle {
                    vin: vin.into(),
                    status: "available".into(),
                },
            )
            .await?;
            ids.push(v.id);
        }
        strata::Result::<Vec<i64>>::Ok(ids)
    })
    .await?;
    let mut summary = Summary::default();
    let ann = CustomerInput {
        name: "Ann Buyer".into(),
        email: "ann@example.com".into(),
    };
    let bob = CustomerInput {
        name: "Bob Cosigner".into(),
        email: "bob@example.com".into(),
    };

    // 1. Create a deal: Ann is new, VIN-A goes pending, deal number 1.
    let first = create_deal(
        &lot,
        "sales:maria",
        NewDealInput {
            customer: ann.clone(),
            vehicle_id: vehicles[0],
            down_payment: 2_000,
        },
    )
    .await?;
    summary.numbers.push(first.number);

    // 1b. Fails half-way: a new customer (Carl) is created and number 2
    // taken before the scenario's negative down payment is refused. Nothing
    // stays: no Carl, VIN-B still available, and number 2 is not used up.
    let failed = create_deal(
        &lot,
        "sales:maria",
        NewDealInput {
            customer: CustomerInput {
                name: "Carl New".into(),
                email: "carl@example.com".into(),
            },
            vehicle_id: vehicles[1],
            down_payment: -5,
        },
    )
    .await
    .expect_err("a negative down payment is refused");
    summary.failures.push(failed.to_string());
    // 1c. A vehicle already on a deal: refused after the customer was found.
    let taken = create_deal(
        &lot,
        "sales:maria",
        NewDealInput {
            customer: bob.clone(),
            vehicle_id: vehicles[0],
            down_payment: 0,
        },
    )
    .await
    .expect_err("VIN-A is pending");
    summary.failures.push(taken.to_string());
    // The next deal gets number 2: the failed ones left no gap.
    let second = create_deal(
        &lot,
        "sales:maria",
        NewDealInput {
            customer: ann.clone(),
            vehicle_id: vehicles[1],
            down_payment: 500,
        },
    )
    .await?;
    summary.numbers.push(second.number);

    // 2. Attach Bob to the first deal; attaching him again fails after
    // nothing new was created, and attaching a new customer to a deal that
    // does not exist leaves no customer behind.
    attach_customer(&lot, "sales:maria", first.id, bob.clone()).await?;
    let again = attach_customer(&lot, "sales:maria", first.id, bob.clone())
        .await
        .expect_err("Bob is on the deal already");
    summary.failures.push(again.to_string());
    let no_deal = attach_customer(
        &lot,
        "sales:maria",
        first.id + 1_000,
        CustomerInput {
            name: "Dana Ghost".into(),
            email: "dana@example.com".into(),
        },
    )
    .await
    .expect_err("no such deal");
    summary.failures.push(no_deal.to_string());

    // 3. Register users: the second reuses the email, the third both.
    register_user(&lot, "admin:root", "maria", "maria@example.com").await?;
    let dup_email = register_user(&lot, "admin:root", "maria2", "maria@example.com")
        .await
        .expect_err("the email is taken");
    summary.failures.push(dup_email.to_string());
    let dup_both = register_user(&lot, "admin:root", "maria", "maria@example.com")
        .await
        .expect_err("both are taken");
    summary.failures.push(dup_both.to_string());

    // Another dealership counts its own deal numbers from 1.
    let other = db.tenant(2_i64);
    let van = with_actor(
        "inventory",
        Vehicle::insert(
            &other,
            NewVehicle {
                vin: "VIN-Z".into(),
                status: "available".into(),
            },
        ),
    )
    .await?;
    let theirs = create_deal(
        &other,
        "sales:omar",
        NewDealInput {
            customer: ann,
            vehicle_id: van.id,
            down_payment: 0,
        },
    )
    .await?;
    summary.numbers.push(theirs.number);

    for table in [
        "customers",
        "vehicles",
        "deals",
        "scenarios",
        "deal_customers",
        "users",
    ] {
        let n: i64 = db
            .query_read_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await?
            .get(0);
        summary.rows.push((table, n));
    }
    let pending: i64 = db
        .query_read_one(
            "SELECT count(*) FROM vehicles WHERE status = 'pending'",
            &[],
        )
        .await?
        .get(0);
    summary.rows.push(("vehicles pending", pending));
    summary.audited = db
        .query_read(
            "SELECT op, count(*) FROM strata_audit GROUP BY op ORDER BY op",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    summary.actors = db
        .query_read(
            "SELECT DISTINCT actor FROM strata_audit ORDER BY actor",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The first deal's vehicle, as its history shows it.
    let history = AuditRecord::history::<Vehicle, _>(db, vehicles[0]).await?;
    let statuses: Vec<String> = history
        .iter()
        .filter_map(|r| r.after.as_ref()?.get("status")?.as_str().map(str::to_owned))
        .collect();
    assert_eq!(statuses, ["available", "pending"]);
    Ok(summary)
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    let db = Db::connect(Config::from_env()?).await?;
    let summary = run(&db).await?;
    println!("deal numbers given out: {:?}", summary.numbers);
    println!("failed half-way, leaving nothing behind:");
    for f in &summary.failures {
        println!("  - {f}");
    }
    println!("rows: {:?}", summary.rows);
    println!("audit records by operation: {:?}", summary.audited);
    println!("actors: {:?}", summary.actors);
    db.execute(&format!("DROP SCHEMA {SCHEMA} CASCADE"), &[])
        .await?;
    db.close().await;
    Ok(())
}
