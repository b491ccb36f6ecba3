//! Schema drift: does the live table still match the model?
//!
//! Each model's table, columns, types and nullability are compared with
//! `pg_catalog`. Types are checked with the field type's own
//! `FromSql::accepts` (recorded by the derive in `ColumnMeta::accepts`), so
//! "compatible" means exactly "strata can decode this column into that field".

use std::fmt;

use tokio_postgres::types::Type;

use crate::error::Result;
use crate::executor::Executor;
use crate::model::{Model, ModelMeta};
use crate::pool::Db;

/// One way a table differs from its model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The table does not exist.
    MissingTable,
    /// A model column is not in the table.
    MissingColumn {
        /// The column.
        column: &'static str,
    },
    /// The column's type cannot be decoded into the field's Rust type.
    WrongType {
        /// The column.
        column: &'static str,
        /// The column's type in the database.
        found: String,
    },
    /// The column allows NULL, but the field is not an `Option`: reading a
    /// NULL would fail.
    NullableColumn {
        /// The column.
        column: &'static str,
    },
    /// The field is an `Option`, but the column is `NOT NULL`: writing
    /// `None` would fail.
    NotNullColumn {
        /// The column.
        column: &'static str,
    },
    /// A column the model does not know is `NOT NULL` without a default, so
    /// every insert through the model would fail.
    UnwrittenColumn {
        /// The column.
        column: String,
    },
}

/// The mismatches of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The Rust struct.
    pub model: &'static str,
    /// The table, as the model names it.
    pub table: &'static str,
    /// What differs; empty when the table matches.
    pub mismatches: Vec<Mismatch>,
}

impl fmt::Display for Drift {
    /// One plain sentence per mismatch, e.g. "users.age is text in the
    /// database, which field User.age cannot hold".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, t) = (self.model, self.table);
        if self.mismatches.is_empty() {
            return write!(f, "{m}: table {t} matches");
        }
        for (i, mismatch) in self.mismatches.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match mismatch {
                Mismatch::MissingTable => write!(f, "{m}: table {t} does not exist"),
                Mismatch::MissingColumn { column } => {
                    write!(f, "{m}: column {t}.{column} does not exist")
                }
                Mismatch::WrongType { column, found } => write!(
                    f,
                    "{m}: column {t}.{column} is {found} in the database, which the model's field cannot hold"
                ),
                Mismatch::NullableColumn { column } => write!(
                    f,
                    "{m}: column {t}.{column} allows NULL, but the field is not an Option"
                ),
                Mismatch::NotNullColumn { column } => write!(
                    f,
                    "{m}: column {t}.{column} is NOT NULL, but the field is an Option"
                ),
                Mismatch::UnwrittenColumn { column } => write!(
                    f,
                    "{m}: column {t}.{column} is NOT NULL without a default, and the model never writes it"
                ),
            }?;
        }
        Ok(())
    }
}

const COLUMNS: &str = "SELECT a.attname::text, a.atttypid::oid, format_type(a.atttypid, a.atttypmod), \
     a.attnotnull, (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') \
     FROM pg_attribute a \
     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";

/// Compares one model's metadata with the live table.
pub async fn check_meta<E: Executor + ?Sized>(e: &E, meta: &'static ModelMeta) -> Result<Drift> {
    let mut drift = Drift {
        model: meta.name,
        table: meta.table,
        mismatches: Vec::new(),
    };
    let exists = e
        .query_read_one("SELECT to_regclass($1) IS NOT NULL", &[&meta.qualified])
        .await?
        .get::<_, bool>(0);
    if !exists {
        drift.mismatches.push(Mismatch::MissingTable);
        return Ok(drift);
    }
    let rows = e.query(COLUMNS, &[&meta.qualified]).await?;
    let live: Vec<(String, u32, String, bool, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    for column in meta.columns {
        let Some((_, oid, shown, not_null, _)) = live.iter().find(|c| c.0 == column.name) else {
            drift.mismatches.push(Mismatch::MissingColumn {
                column: column.name,
            });
            continue;
        };
        // Types strata has no decoder for (enums, domains) are not judged.
        if let Some(ty) = Type::from_oid(*oid)
            && !(column.accepts)(&ty)
        {
            drift.mismatches.push(Mismatch::WrongType {
                column: column.name,
                found: shown.clone(),
            });
        }
        if !*not_null && !column.nullable {
            drift.mismatches.push(Mismatch::NullableColumn {
                column: column.name,
            });
        }
        if *not_null && column.nullable {
            drift.mismatches.push(Mismatch::NotNullColumn {
                column: column.name,
            });
        }
    }
    for (name, _, _, not_null, has_default) in &live {
        if *not_null && !has_default && !meta.columns.iter().any(|c| c.name == name) {
            drift.mismatches.push(Mismatch::UnwrittenColumn {
                column: name.clone(),
            });
        }
    }
    Ok(drift)
}

impl Db {
    /// Compares `M`'s table, columns, types and nullability with the live
    /// database; see [`Drift`]'s `Display` for the wording.
    ///
    /// ```no_run
    /// # use strata::prelude::*;
    /// # #[derive(Model)] struct User { id: i64 }
    /// # async fn f(db: Db) -> strata::Result<()> {
    /// let drift = db.check_schema::<User>().await?;
    /// if !drift.mismatches.is_empty() {
    ///     eprintln!("{drift}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_schema<M: Model>(&self) -> Result<Drift> {
        check_meta(self, M::META).await
    }

    /// [`Db::check_schema`] for several models at once (pass `User::META`, ...).
    pub async fn check_models(&self, models: &[&'static ModelMeta]) -> Result<Vec<Drift>> {
        let mut out = Vec::with_capacity(models.len());
        for meta in models {
            out.push(check_meta(self, meta).await?);
        }
        Ok(out)
    }
}
