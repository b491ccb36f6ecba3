//! The bodies of the three `validate` methods. The hook for the
//! `#[validate(..)]` rules: each function will turn the rules kept in the
//! model (`Field::validate`, `Model::validate`) into calls to
//! `::strata::__private::validate::*`. Today no rule is generated and every
//! body is `Ok(())`.

use proc_macro2::TokenStream;
use quote::quote;

use super::Expand;

impl Expand<'_> {
    /// `Model::validate`: every field's rules, then the model rules.
    pub(super) fn expand_validate_model(&self) -> TokenStream {
        quote!(::core::result::Result::Ok(()))
    }

    /// `NewModel::validate`: the rules of the insertable fields.
    pub(super) fn expand_validate_new(&self) -> TokenStream {
        quote!(::core::result::Result::Ok(()))
    }

    /// `PatchModel::validate`: the rules of the fields that are `Some`.
    pub(super) fn expand_validate_patch(&self) -> TokenStream {
        quote!(::core::result::Result::Ok(()))
    }
}
