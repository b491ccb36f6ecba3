//! The typed query builder and typed raw SQL: filters whose operands have
//! the column's own type (`eq`, `ne`, `IS NULL`, `between`, `IN`, text
//! search, `or`), ordering, offset pages with a total, keyset pagination
//! with opaque cursor tokens, and `#[derive(FromRow)]` with `query_read_as`
//! for hand-written SQL.
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example query_builder
//! ```
//!
//! It works in its own schema, `strata_example_query_builder`, dropped at
//! the start and at the end, and exits non-zero if a query returns other
//! rows than the ones it promises.

use strata::prelude::*;

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_query_builder";

/// A product in a catalogue; `discontinued` is NULL for products on sale.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(schema = "strata_example_query_builder", table = "products")]
struct Product {
    #[model(primary_key, generated)]
    id: i64,
    name: String,
    category: String,
    price: i32,
    /// Why it is no longer sold, or NULL.
    discontinued: Option<String>,
}

/// A row of the hand-written report below: columns are found by name.
#[derive(FromRow, Debug, PartialEq)]
struct CategoryStats {
    #[from_row(rename = "category")]
    name: String,
    products: i64,
    cheapest: i32,
    /// Not selected by every statement: 0 when absent.
    #[from_row(default)]
    discontinued: i64,
}

/// The catalogue: (name, category, price, discontinued).
const CATALOGUE: &[(&str, &str, i32, Option<&str>)] = &[
    ("anvil", "tools", 120, None),
    ("hammer", "tools", 25, None),
    ("mallet", "tools", 25, Some("replaced by the hammer")),
    ("saw", "tools", 40, None),
    ("chisel", "tools", 18, None),
    ("apple", "food", 1, None),
    ("bread", "food", 3, None),
    ("cheese", "food", 9, Some("supplier closed")),
    ("lamp", "home", 40, None),
    ("rug", "home", 75, None),
];

#[tokio::main]
async fn main() -> strata::Result<()> {
    let db = Db::connect(Config::from_env()?).await?;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[]).await?;
    db.execute(
        "CREATE TABLE strata_example_query_builder.products (
             id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, category text NOT NULL,
             price int NOT NULL, discontinued text)",
        &[],
    )
    .await?;
    let outcome = walk_through(&db).await;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.close().await;
    outcome
}

/// The names of `products`, in order.
fn names(products: &[Product]) -> Vec<&str> {
    products.iter().map(|p| p.name.as_str()).collect()
}

async fn walk_through(db: &Db) -> strata::Result<()> {
    let rows: Vec<NewProduct> = CATALOGUE
        .iter()
        .map(|&(name, category, price, discontinued)| NewProduct {
            name: name.into(),
            category: category.into(),
            price,
            discontinued: discontinued.map(Into::into),
        })
        .collect();
    Product::insert_many(db, &rows).await?;

    // eq + IS NULL, ordered: tools on sale, cheapest first (ties by name).
    let tools = Product::query()
        .filter(Product::CATEGORY.eq("tools"))
        .filter(Product::DISCONTINUED.is_null())
        .order_by(Product::PRICE.asc())
        .order_by(Product::NAME.asc())
        .all(db)
        .await?;
    println!("tools on sale:      {:?}", names(&tools));
    assert_eq!(names(&tools), ["chisel", "hammer", "saw", "anvil"]);

    // IS NOT NULL, and the SQL strata renders (values are bound, never spliced).
    let gone = Product::query()
        .filter(Product::DISCONTINUED.is_not_null())
        .order_by(Product::NAME.asc());
    let (sql, values) = gone.to_sql();
    println!("discontinued SQL:   {sql}  ({} values)", values.len());
    let gone = gone.all(db).await?;
    println!("discontinued:       {:?}", names(&gone));
    assert_eq!(names(&gone), ["cheese", "mallet"]);

    // between, IN, ne, or, text search.
    let mid = Product::query()
        .filter(Product::PRICE.between(20, 50))
        .filter(Product::CATEGORY.is_in(["tools", "home"]))
        .filter(Product::NAME.ne("mallet"))
        .order_by(Product::NAME.asc())
        .all(db)
        .await?;
    println!("20..=50, not mallet: {:?}", names(&mid));
    assert_eq!(names(&mid), ["hammer", "lamp", "saw"]);
    let either = Product::query()
        .filter(Product::NAME.starts_with("ch").or(Product::PRICE.gt(100)))
        .order_by(Product::NAME.asc())
        .all(db)
        .await?;
    println!("ch* or price > 100: {:?}", names(&either));
    assert_eq!(names(&either), ["anvil", "cheese", "chisel"]);
    // Plain-text search: `%` in the input matches a literal `%`, not "anything".
    let literal = Product::query()
        .filter(Product::NAME.contains("%"))
        .count(db)
        .await?;
    assert_eq!(literal, 0);

    // Offset pages, counted from 1, with the total.
    let page = Product::query()
        .order_by(Product::PRICE.desc())
        .page(2, 4)
        .fetch_page(db)
        .await?;
    println!(
        "page {}/{} of {} ({} per page): {:?}",
        page.page,
        page.total_pages,
        page.total,
        page.per_page,
        names(&page.items)
    );
    assert_eq!((page.total, page.total_pages), (10, 3));
    assert_eq!(names(&page.items), ["hammer", "mallet", "chisel", "cheese"]);

    // Keyset pagination: batches of 3 by price (descending), no OFFSET.
    // Rows with the same price are ordered by the primary key, so none is
    // skipped or repeated across batches.
    let by_price = || Product::query().order_by(Product::PRICE.desc()).limit(3);
    let mut seen = Vec::new();
    let mut batch = by_price().fetch_keyset(db).await?;
    let mut first_token = None;
    loop {
        println!("keyset batch:       {:?}", names(&batch.items));
        seen.extend(batch.items.iter().map(|p| p.name.clone()));
        let Some(next) = batch.next else { break };
        // What a client sends back as `?after=<token>`.
        let token = next.to_token();
        first_token.get_or_insert_with(|| token.clone());
        let after = strata::Cursor::from_token(&token)?;
        batch = by_price().after(after).fetch_keyset(db).await?;
    }
    let everything = Product::query()
        .order_by(Product::PRICE.desc())
        .order_by(Product::ID.asc())
        .all(db)
        .await?;
    assert_eq!(seen, names(&everything));
    assert_eq!(seen.len(), CATALOGUE.len());

    // An altered token is refused when read; a sound one used with another
    // ordering is refused when the query runs.
    let token = first_token.expect("10 rows make more than one batch of 3");
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("base64url is ASCII");
    let refused = strata::Cursor::from_token(&altered);
    println!("altered token:      {:?}", refused.as_ref().map(|_| ()));
    assert!(matches!(refused, Err(Error::InvalidInput { .. })));
    let other_order = Product::query()
        .order_by(Product::NAME.asc())
        .limit(3)
        .after(strata::Cursor::from_token(&token)?)
        .fetch_keyset(db)
        .await;
    println!("token, other order: {:?}", other_order.as_ref().map(|_| ()));
    assert!(matches!(other_order, Err(Error::InvalidInput { .. })));

    // Typed raw SQL: `#[derive(FromRow)]` reads columns by name, in any order.
    let stats: Vec<CategoryStats> = db
        .query_read_as(
            "SELECT min(price) AS cheapest, count(*) AS products, category,
                    count(discontinued) AS discontinued
             FROM strata_example_query_builder.products
             GROUP BY category HAVING count(*) > $1 ORDER BY category",
            &[&1_i64],
        )
        .await?;
    for s in &stats {
        println!(
            "{:<6} {} products, cheapest {}, {} discontinued",
            s.name, s.products, s.cheapest, s.discontinued
        );
    }
    assert_eq!(
        stats,
        [
            CategoryStats {
                name: "food".into(),
                products: 3,
                cheapest: 1,
                discontinued: 1
            },
            CategoryStats {
                name: "home".into(),
                products: 2,
                cheapest: 40,
                discontinued: 0
            },
            CategoryStats {
                name: "tools".into(),
                products: 5,
                cheapest: 18,
                discontinued: 1
            },
        ]
    );
    // A statement without the `default` column still reads (as 0).
    let tools: CategoryStats = db
        .query_read_as_one(
            "SELECT category, count(*) AS products, min(price) AS cheapest
             FROM strata_example_query_builder.products WHERE category = $1 GROUP BY category",
            &[&"tools"],
        )
        .await?;
    assert_eq!((tools.products, tools.discontinued), (5, 0));
    // A column the struct needs but the statement lacks is a Decode error naming it.
    let missing = db
        .query_read_as_one::<CategoryStats>(
            "SELECT category, count(*) AS products FROM strata_example_query_builder.products
             GROUP BY category LIMIT 1",
            &[],
        )
        .await;
    match &missing {
        Err(e @ Error::Decode { column, .. }) => {
            println!("missing column:     {e}");
            assert_eq!(column, "cheapest");
        }
        other => panic!("expected a Decode error, got {other:?}"),
    }
    Ok(())
}
