//! `#[derive(TextEnum)]`: a fieldless enum stored as text (or in a
//! PostgreSQL enum type), usable as a model column and in typed filters.
//!
//! The same three stages as `#[derive(Model)]`, through the same
//! [`crate::Derive`] pipeline: [`TextEnum::from_ast`] reads the enum and its
//! `#[model(..)]` keys (`crate::attr::text_enum`) into stored names,
//! [`check`] reports what cannot be stored, [`expand`] emits the impls, or,
//! next to the errors, stubs so that the code using the enum adds none.

pub(crate) mod check;
pub(crate) mod expand;

use proc_macro2::Span;
use syn::spanned::Spanned as _;
use syn::{DeriveInput, Ident};

use crate::attr::text_enum::{EnumAttrs, VariantAttrs};
use crate::case::Case;
use crate::ctxt::Ctxt;

/// One `#[derive(TextEnum)]` input.
pub(crate) struct TextEnum<'a> {
    /// The whole input, for its generics.
    pub(crate) input: &'a DeriveInput,
    pub(crate) ident: &'a Ident,
    /// `None` for an enum; the span to report at for anything else.
    pub(crate) not_an_enum: Option<Span>,
    pub(crate) variants: Vec<Variant<'a>>,
}

/// One variant and the text it is stored as.
pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    /// The variant's fields: `check` reports any.
    pub(crate) fields: &'a syn::Fields,
    /// The stored text: `rename`, or the variant name in `rename_all`'s case.
    pub(crate) name: String,
    /// Where the stored text comes from: the `rename` literal or the name.
    pub(crate) name_span: Span,
    /// The spelling of `name` before case conversion moved to heck, when it
    /// differs; read, never written (`expand` drops one another variant
    /// is stored as).
    pub(crate) legacy: Option<String>,
}

impl<'a> TextEnum<'a> {
    /// Reads the enum and its attributes; mistakes go to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> TextEnum<'a> {
        let syn::Data::Enum(data) = &input.data else {
            return TextEnum {
                input,
                ident: &input.ident,
                not_an_enum: Some(input.ident.span()),
                variants: Vec::new(),
            };
        };
        let case = EnumAttrs::from_ast(cx, &input.attrs)
            .rename_all
            .unwrap_or(Case::Snake);
        let variants = data
            .variants
            .iter()
            .map(|variant| {
                let ident = variant.ident.to_string();
                let (name, name_span, legacy) =
                    match VariantAttrs::from_ast(cx, &variant.attrs).rename {
                        Some(rename) => (rename.value, rename.span, None),
                        None => (
                            case.apply(&ident),
                            variant.ident.span(),
                            case.apply_legacy(&ident),
                        ),
                    };
                Variant {
                    ident: &variant.ident,
                    fields: &variant.fields,
                    name,
                    name_span,
                    legacy,
                }
            })
            .collect();
        TextEnum {
            input,
            ident: &input.ident,
            not_an_enum: None,
            variants,
        }
    }

    /// Whether the input has generic parameters, a `where` clause included.
    pub(crate) fn is_generic(&self) -> bool {
        let generics = &self.input.generics;
        !generics.params.is_empty() || generics.where_clause.is_some()
    }

    /// Where to report generics.
    pub(crate) fn generics_span(&self) -> Span {
        self.input.generics.span()
    }
}
