//! The pieces every attribute reader is made of (`#[model]` on a struct, a
//! field, an enum or a variant, and `#[validate]`): walking the keys,
//! reading a value of one shape, skipping a bad one so the keys after it
//! are still read, and the wording of the errors they share.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned as _;
use syn::{LitStr, Token};

use crate::ctxt::Ctxt;

/// The attribute that carries every strata key.
pub(crate) const MODEL: &str = "model";

/// A value together with the span of the attribute that gave it.
#[derive(Debug, Clone)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// Calls `on_key` with each key of every `#[model(..)]` in `attrs` (its
/// text and span) and reports parse errors to `cx`. The other attributes
/// are the caller's to read.
pub(crate) fn each_model_key(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    on_key: impl FnMut(ParseNestedMeta<'_>, &str, Span) -> syn::Result<()>,
) {
    each_key(cx, attrs, MODEL, on_key);
}

/// [`each_model_key`] for the attribute named `name`.
pub(crate) fn each_key(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    name: &str,
    mut on_key: impl FnMut(ParseNestedMeta<'_>, &str, Span) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_text(&meta.path);
            let span = meta.path.span();
            on_key(meta, &key, span)
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }
}

/// A path as written, for messages: `tabel`, `a::b`.
pub(crate) fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Stores a key's value, or reports the second occurrence of a key.
pub(crate) fn set<T>(cx: &Ctxt, slot: &mut Option<T>, key: &str, span: Span, value: T) {
    if slot.is_some() {
        cx.error(
            span,
            format!("duplicate `model` attribute `{key}`; give each key once"),
        );
    } else {
        *slot = Some(value);
    }
}

/// "unknown `model` attribute `tabel`, expected one of `table`, ..."
pub(crate) fn unknown_key(key: &str, what: &str, valid: &[&str]) -> String {
    format!(
        "unknown `model` {what} `{key}`, expected one of {}",
        code_list(valid)
    )
}

/// "`a`, `b`, `c`".
pub(crate) fn code_list(items: &[&str]) -> String {
    let list: Vec<String> = items.iter().map(|k| format!("`{k}`")).collect();
    list.join(", ")
}

/// A format error: what is wrong, then how it is written.
pub(crate) fn format_error(what: &str, example: &str) -> String {
    format!("{what}\n\nhelp: the correct format looks like `{example}`")
}

/// Skips whatever follows a key (`= ..` or `(..)`) up to the next comma,
/// so one bad key does not hide the keys after it.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        meta.input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Whether the key stands alone: nothing follows it but a comma.
pub(crate) fn is_bare(meta: &ParseNestedMeta<'_>) -> bool {
    meta.input.is_empty() || meta.input.peek(Token![,])
}

/// The tokens after `key =`, up to the next comma; `None` (reported with
/// `missing`, a format error) when there is no `=` or nothing after it.
pub(crate) fn value_tokens(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    missing: &str,
) -> syn::Result<Option<TokenStream>> {
    if !meta.input.peek(Token![=]) {
        cx.error(meta.path.span(), missing);
        skip_value(meta)?;
        return Ok(None);
    }
    meta.input.parse::<Token![=]>()?;
    let mut tokens = TokenStream::new();
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        tokens.extend([meta.input.parse::<TokenTree>()?]);
    }
    if tokens.is_empty() {
        cx.error(meta.path.span(), missing);
        return Ok(None);
    }
    Ok(Some(tokens))
}

/// `key = <T>` where `T` parses from the value's tokens (a literal, a
/// path); a value that does not is reported at the value with `wrong`.
pub(crate) fn parse_value<T: syn::parse::Parse>(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    missing: &str,
    wrong: &str,
) -> syn::Result<Option<T>> {
    let Some(tokens) = value_tokens(cx, meta, missing)? else {
        return Ok(None);
    };
    match syn::parse2::<T>(tokens.clone()) {
        Ok(value) => Ok(Some(value)),
        Err(_) => {
            cx.syn_error(syn::Error::new_spanned(tokens, wrong));
            Ok(None)
        }
    }
}

/// `key = "name"`: a non-empty string literal (a table, schema, column or
/// stored name). `example` is how the key is written.
pub(crate) fn parse_name(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Option<Spanned<String>>> {
    let missing = format_error(&format!("`{key}` needs a name"), example);
    let wrong = format_error(&format!("`{key}` takes a string literal"), example);
    let Some(lit) = parse_value::<LitStr>(cx, meta, &missing, &wrong)? else {
        return Ok(None);
    };
    let value = lit.value();
    if value.is_empty() {
        cx.error(
            lit.span(),
            format_error(&format!("`{key}` cannot be empty"), example),
        );
        return Ok(None);
    }
    Ok(Some(Spanned {
        value,
        span: lit.span(),
    }))
}

/// `key` with no value; a value is reported and skipped, and the flag is
/// still taken as set: the intent is clear, so the rules that depend on it
/// do not report follow-on errors. Returns the key's span.
pub(crate) fn parse_flag(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Span> {
    if !is_bare(meta) {
        cx.error(
            meta.path.span(),
            format_error(&format!("`{key}` takes no value"), example),
        );
        skip_value(meta)?;
    }
    Ok(meta.path.span())
}
