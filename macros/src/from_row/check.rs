//! What a `FromRow` struct must be, one rule each: a struct with named
//! fields, borrowing nothing, whose keys agree with each other and whose
//! fields read distinct columns. Field types are checked by trait bounds in
//! the expansion, at each field's type.

use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

use super::{Field, FromRow, Read};
use crate::ctxt::Ctxt;
use crate::model::Shape;

/// Runs every rule.
pub(crate) fn check(cx: &Ctxt, s: &FromRow<'_>) {
    if !shape(cx, s) {
        return;
    }
    lifetimes(cx, s);
    for field in &s.fields {
        keys_agree(cx, field);
    }
    distinct_columns(cx, s);
}

/// Columns are read by field name, so only a struct with named fields can
/// be read. Returns whether it is one.
fn shape(cx: &Ctxt, s: &FromRow<'_>) -> bool {
    let (span, message) = match s.shape {
        Shape::Named => return true,
        Shape::Tuple(span) => (
            span,
            "`FromRow` reads each column into the field of its name, so the struct needs named fields: `struct Row { id: i64, name: String }`",
        ),
        Shape::Unit(span) => (
            span,
            "`FromRow` needs a struct with named fields, one per column it reads: `struct Row { id: i64, name: String }`",
        ),
        Shape::Enum(span) => (
            span,
            "`FromRow` is for structs with named fields; for an enum stored in one column, derive `TextEnum`",
        ),
        Shape::Union(span) => (span, "`FromRow` is for structs with named fields"),
    };
    cx.error(span, message);
    false
}

/// The row does not outlive the call, so nothing can borrow from it.
fn lifetimes(cx: &Ctxt, s: &FromRow<'_>) {
    for lifetime in s.input.generics.lifetimes() {
        cx.error(
            lifetime.span(),
            "a `FromRow` struct cannot borrow from the row; use owned field types (`String`, `Vec<u8>`) and remove the lifetime",
        );
    }
}

/// Keys that contradict each other on one field.
fn keys_agree(cx: &Ctxt, f: &Field<'_>) {
    let a = &f.attrs;
    if let Some(rename) = &a.rename {
        if a.skip.is_some() || f.model_skip.is_some() {
            let by = if a.skip.is_some() {
                "`#[from_row(skip)]`"
            } else {
                "`#[model(skip)]`"
            };
            cx.error(
                rename.span,
                format!("a field marked {by} is never read, so it has no column to rename; remove `rename`"),
            );
        }
        if a.flatten.is_some() {
            cx.error(
                rename.span,
                "a flattened field reads the columns of its own struct's fields, so it has no column to rename; rename those fields instead",
            );
        }
    }
    if let Some(flatten) = a.flatten {
        if a.skip.is_some() || f.model_skip.is_some() {
            cx.error(
                flatten,
                "a skipped field is never read, so it cannot be flattened; keep `skip` or `flatten`",
            );
        }
        if a.default.is_some() {
            cx.error(
                flatten,
                "`default` does not apply to a flattened field; mark the nested struct's fields `#[from_row(default)]` instead",
            );
        }
    }
    if let (Some(default), Some(_)) = (a.default, a.skip.or(f.model_skip)) {
        cx.error(
            default,
            "a skipped field is never read and is always `Default::default()`; remove `default`",
        );
    }
}

/// Two fields reading one column is a typo or a missing `rename`. Only a
/// `rename` can cause it: field names differ, and two `#[model(column)]`
/// names that clash are the `Model` derive's to report.
fn distinct_columns(cx: &Ctxt, s: &FromRow<'_>) {
    let reads_column = |f: &&Field<'_>| matches!(f.read(), Read::Column | Read::Default);
    let columns: Vec<&Field<'_>> = s.fields.iter().filter(reads_column).collect();
    for (i, field) in columns.iter().enumerate() {
        let clash = columns[..i].iter().find(|f| {
            f.column == field.column && (f.attrs.rename.is_some() || field.attrs.rename.is_some())
        });
        if let Some(first) = clash {
            cx.error(
                field.column_span,
                format!(
                    "fields `{}` and `{}` both read column `{}`; give one a `#[from_row(rename = \"...\")]`",
                    first.ident.unraw(),
                    field.ident.unraw(),
                    field.column
                ),
            );
        }
    }
}
