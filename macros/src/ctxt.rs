//! The error collector: every problem the derive finds is pushed here with
//! its span, parsing carries on with defaults, and all of them come out
//! together as one `compile_error!` block.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::Span;

/// Collects the derive's errors. Shared by `&` so parsing code can report
/// while it holds other borrows.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    /// Records an error at `span`.
    pub(crate) fn error(&self, span: Span, message: impl Display) {
        self.errors
            .borrow_mut()
            .push(syn::Error::new(span, message));
    }

    /// Records an error produced by `syn` (a malformed attribute).
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    /// All errors combined into one, or `Ok` when there were none.
    pub(crate) fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}
