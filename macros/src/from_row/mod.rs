//! `#[derive(FromRow)]`: a struct decoded from the rows of any statement by
//! column name (`strata::FromRow`).
//!
//! The same three stages as `#[derive(Model)]`, through the same
//! [`crate::Derive`] pipeline: [`FromRow::from_ast`] reads the struct, its
//! `#[from_row(..)]` keys ([`attr`]) and, on a struct that also derives
//! `Model`, the `#[model(column)]` and `#[model(skip)]` keys (read with the
//! model's own parser; its mistakes are the `Model` derive's to report);
//! [`check`] reports what cannot be read; [`expand`] emits the impl, or,
//! next to the errors, a stub so that code using the struct adds none.

pub(crate) mod attr;
pub(crate) mod check;
pub(crate) mod expand;
#[cfg(test)]
mod tests;

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::{DeriveInput, Ident, Type};

use crate::ctxt::Ctxt;
use crate::model::Shape;

/// One `#[derive(FromRow)]` input.
pub(crate) struct FromRow<'a> {
    /// The whole input, for its generics.
    pub(crate) input: &'a DeriveInput,
    pub(crate) ident: &'a Ident,
    pub(crate) shape: Shape,
    /// Every named field, in declaration order.
    pub(crate) fields: Vec<Field<'a>>,
}

/// How a field gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// From its column, which the statement must return.
    Column,
    /// From its column when the statement returns it, else `Default`.
    Default,
    /// Never read: `Default`.
    Skip,
    /// A nested `FromRow` struct, from the same row.
    Flatten,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// The column, unquoted: `rename`, else `#[model(column)]`, else the
    /// field name.
    pub(crate) column: String,
    /// Where the column name comes from: the literal or the field name.
    pub(crate) column_span: Span,
    /// The field's `#[from_row(..)]` keys.
    pub(crate) attrs: attr::FieldAttrs,
    /// `#[model(skip)]`, on a struct that also derives `Model`.
    pub(crate) model_skip: Option<Span>,
}

impl<'a> FromRow<'a> {
    /// Reads the struct and its attributes; mistakes go to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> FromRow<'a> {
        attr::reject_on_struct(cx, &input.attrs);
        let (shape, fields) = Shape::of(input, |f| Field::from_ast(cx, f));
        FromRow {
            input,
            ident: &input.ident,
            shape,
            fields,
        }
    }

    /// Whether the impl can be written at all: a struct with named fields
    /// and no lifetime parameters (the fallback is emitted only then).
    pub(crate) fn is_implementable(&self) -> bool {
        matches!(self.shape, Shape::Named) && self.input.generics.lifetimes().next().is_none()
    }
}

impl<'a> Field<'a> {
    /// Reads one named field; `None` for an unnamed one (reported as a
    /// tuple struct).
    fn from_ast(cx: &Ctxt, original: &'a syn::Field) -> Option<Field<'a>> {
        let ident = original.ident.as_ref()?;
        let attrs = attr::FieldAttrs::from_ast(cx, &original.attrs);
        // The model's keys are the `Model` derive's to report: read them
        // into a collector whose errors are dropped.
        let model = crate::attr::FieldAttrs::from_ast(&Ctxt::default(), &original.attrs);
        let (column, column_span) = match (&attrs.rename, model.column) {
            (Some(rename), _) => (rename.value.clone(), rename.span),
            (None, Some(column)) => (column.value, column.span),
            (None, None) => (ident.unraw().to_string(), ident.span()),
        };
        Some(Field {
            ident,
            ty: &original.ty,
            column,
            column_span,
            attrs,
            model_skip: model.skip,
        })
    }

    /// How the field is read. `check` reports keys that contradict each
    /// other; this picks one for the fallback all the same.
    pub(crate) fn read(&self) -> Read {
        if self.attrs.flatten.is_some() {
            Read::Flatten
        } else if self.attrs.skip.is_some() || self.model_skip.is_some() {
            Read::Skip
        } else if self.attrs.default.is_some() {
            Read::Default
        } else {
            Read::Column
        }
    }
}

impl<'a> crate::Derive<'a> for FromRow<'a> {
    fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        FromRow::from_ast(cx, input)
    }

    fn check(&self, cx: &Ctxt) {
        check::check(cx, self);
    }

    fn expand(&self) -> proc_macro2::TokenStream {
        expand::expand(self)
    }

    fn fallback(&self) -> proc_macro2::TokenStream {
        expand::fallback(self)
    }
}
