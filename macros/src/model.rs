//! The derive's typed view of the user's struct: names resolved, defaults
//! applied, every flag kept with its span. Built from the parsed attributes;
//! no `syn` parsing and no generated tokens here.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::{DeriveInput, Ident, Type, Visibility};

use crate::attr::meta::Spanned;
use crate::attr::relation::Relation;
use crate::attr::validate::{Rule, parse_rules};
use crate::attr::{AuditField, FieldAttrs, StructAttrs};
use crate::case;
use crate::ctxt::Ctxt;

/// What kind of item the derive was put on. Only `Named` can be a model;
/// `check` reports the others at the given span.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// `struct User { .. }`.
    Named,
    /// `struct User(..);`, at the parentheses.
    Tuple(Span),
    /// `struct User;`, at the name.
    Unit(Span),
    /// `enum`, at the keyword.
    Enum(Span),
    /// `union`, at the keyword.
    Union(Span),
}

impl Shape {
    /// The shape of `input`, and `field` of each named field (none for
    /// another shape).
    pub(crate) fn of<'a, F>(
        input: &'a syn::DeriveInput,
        field: impl FnMut(&'a syn::Field) -> Option<F>,
    ) -> (Shape, Vec<F>) {
        match &input.data {
            syn::Data::Struct(data) => match &data.fields {
                syn::Fields::Named(named) => {
                    (Shape::Named, named.named.iter().filter_map(field).collect())
                }
                syn::Fields::Unnamed(unnamed) => {
                    (Shape::Tuple(unnamed.paren_token.span.join()), Vec::new())
                }
                syn::Fields::Unit => (Shape::Unit(input.ident.span()), Vec::new()),
            },
            syn::Data::Enum(data) => (Shape::Enum(data.enum_token.span), Vec::new()),
            syn::Data::Union(data) => (Shape::Union(data.union_token.span), Vec::new()),
        }
    }
}

/// One `#[derive(Model)]` struct.
pub(crate) struct Model<'a> {
    /// The whole input, for the generics and attribute spans.
    pub(crate) input: &'a DeriveInput,
    /// `User`.
    pub(crate) ident: &'a Ident,
    /// The struct's visibility, given to every generated item.
    pub(crate) vis: &'a Visibility,
    pub(crate) shape: Shape,
    /// The table name, unquoted: `#[model(table)]` or the snake_case plural.
    pub(crate) table: String,
    pub(crate) schema: Option<String>,
    pub(crate) soft_delete: Option<Span>,
    pub(crate) cache_ttl_secs: Option<u64>,
    /// `#[model(validate_with = path::to_fn)]`: the cross-field rule.
    pub(crate) validate_with: Option<syn::Path>,
    /// Every named field, in declaration order.
    pub(crate) fields: Vec<Field<'a>>,
    /// Index in `fields` of the primary key: the first field marked
    /// `primary_key`, else the field named `id`. `check` reports `None`.
    pub(crate) primary_key: Option<usize>,
    /// `#[model(tenant = x)]` on the struct, as written (`check` reports a
    /// name that is no field).
    pub(crate) tenant_named: Option<Ident>,
    /// Index in `fields` of the tenant column: named on the struct, or the
    /// first field marked `#[model(tenant)]`.
    pub(crate) tenant: Option<usize>,
    /// `#[model(rls)]`: the table has row-level security on the tenant.
    pub(crate) rls: Option<Span>,
    /// `#[model(audit)]`: every write is recorded in the audit log.
    pub(crate) audit: Option<Span>,
    /// `#[model(derive_inputs(..))]`: more traits for the generated inputs.
    pub(crate) derive_inputs: Vec<syn::Path>,
    /// `#[model(belongs_to(..))]` and `#[model(has_many(..))]`, in order.
    pub(crate) relations: Vec<Relation>,
}

/// One named field of the struct.
pub(crate) struct Field<'a> {
    /// The field as written, for spans.
    pub(crate) original: &'a syn::Field,
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// The column name, unquoted: `#[model(column)]` or the field name.
    pub(crate) column: String,
    /// The span of `column = ".."` when the name was given.
    pub(crate) column_attr: Option<Span>,
    pub(crate) primary_key: Option<Span>,
    pub(crate) generated: Option<Span>,
    pub(crate) unique: Option<Span>,
    pub(crate) deleted_at: Option<Span>,
    pub(crate) updated_at: Option<Span>,
    pub(crate) version: Option<Span>,
    pub(crate) skip: Option<Span>,
    /// `#[model(skip_deserializing)]`: not read from a request body.
    pub(crate) skip_deserializing: Option<Span>,
    /// `#[model(tenant)]` on the field.
    pub(crate) tenant: Option<Span>,
    /// `#[model(audit(exclude))]` or `#[model(audit(redact))]`.
    pub(crate) audit: Option<Spanned<AuditField>>,
    /// The `#[validate(..)]` rules of this field, in the order written.
    pub(crate) rules: Vec<Rule>,
}

impl<'a> Model<'a> {
    /// Reads the struct and its attributes; mistakes go to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Model<'a> {
        let attrs = StructAttrs::from_ast(cx, &input.attrs);
        for raw in &attrs.validate {
            cx.error(
                raw.span,
                "`#[validate]` rules go on fields; for a rule across fields, write `#[model(validate_with = path::to_fn)]` on the struct",
            );
        }
        let (shape, fields) = Shape::of(input, |f| Field::from_ast(cx, f));
        let primary_key = fields
            .iter()
            .position(|f: &Field<'_>| f.primary_key.is_some())
            .or_else(|| {
                fields
                    .iter()
                    .position(|f| f.ident.unraw() == "id" && f.skip.is_none())
            });
        let tenant = match &attrs.tenant {
            Some(name) => fields
                .iter()
                .position(|f: &Field<'_>| f.ident == name && f.skip.is_none()),
            None => fields
                .iter()
                .position(|f: &Field<'_>| f.tenant.is_some() && f.skip.is_none()),
        };
        Model {
            input,
            ident: &input.ident,
            vis: &input.vis,
            shape,
            table: attrs.table.map_or_else(
                || case::table_name(&input.ident.unraw().to_string()),
                |t| t.value,
            ),
            schema: attrs.schema.map(|s| s.value),
            soft_delete: attrs.soft_delete,
            cache_ttl_secs: attrs.cache_ttl_secs.map(|c| c.value),
            validate_with: attrs.validate_with,
            fields,
            primary_key,
            tenant_named: attrs.tenant,
            tenant,
            rls: attrs.rls,
            audit: attrs.audit,
            derive_inputs: attrs.derive_inputs.unwrap_or_default(),
            relations: attrs.relations,
        }
    }

    /// The field named `name` that is stored in a column.
    pub(crate) fn column_field(&self, name: &Ident) -> Option<&Field<'a>> {
        self.columns().find(|f| f.ident == name)
    }

    /// The tenant column, for a tenant model.
    pub(crate) fn tenant(&self) -> Option<&Field<'a>> {
        self.tenant.map(|i| &self.fields[i])
    }

    /// Whether `field` is the tenant column.
    pub(crate) fn is_tenant(&self, field: &Field<'_>) -> bool {
        self.tenant()
            .is_some_and(|t| std::ptr::eq(t.original, field.original))
    }

    /// The resolved primary key field.
    pub(crate) fn primary_key(&self) -> Option<&Field<'a>> {
        self.primary_key.map(|i| &self.fields[i])
    }

    /// Whether `field` is the primary key.
    pub(crate) fn is_primary_key(&self, field: &Field<'_>) -> bool {
        self.primary_key()
            .is_some_and(|pk| std::ptr::eq(pk.original, field.original))
    }

    /// Fields stored in a column (all but `skip`), in `select_list` order.
    pub(crate) fn columns(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.skip.is_none())
    }

    /// Columns an insert supplies, in `insert` parameter order: all but
    /// `generated`, `deleted_at`, `version` and `updated_at` (the database
    /// or the statement fills those), and the tenant (the scope supplies
    /// it, so no `NewX` can name another tenant). A non-generated primary
    /// key is one.
    pub(crate) fn insertable(&self) -> impl Iterator<Item = &Field<'a>> {
        self.columns().filter(|f| {
            f.generated.is_none()
                && f.deleted_at.is_none()
                && f.version.is_none()
                && f.updated_at.is_none()
                && !self.is_tenant(f)
        })
    }

    /// Columns `update`, `patch` and `upsert` set from values: the
    /// insertable ones minus the primary key.
    pub(crate) fn writable(&self) -> impl Iterator<Item = &Field<'a>> {
        self.insertable().filter(|f| !self.is_primary_key(f))
    }

    /// The soft-delete column, when the model has `soft_delete`.
    pub(crate) fn deleted_at(&self) -> Option<&Field<'a>> {
        self.soft_delete?;
        self.columns().find(|f| f.deleted_at.is_some())
    }

    /// The columns the audit log leaves out (`exclude`) or masks
    /// (`redact`).
    pub(crate) fn audit_columns(&self, kind: AuditField) -> Vec<&str> {
        self.columns()
            .filter(|f| f.audit.as_ref().is_some_and(|a| a.value == kind))
            .map(|f| f.column.as_str())
            .collect()
    }

    /// The optimistic-lock column.
    pub(crate) fn version(&self) -> Option<&Field<'a>> {
        self.columns().find(|f| f.version.is_some())
    }

    /// The column stamped with `now()` on every update.
    pub(crate) fn updated_at(&self) -> Option<&Field<'a>> {
        self.columns().find(|f| f.updated_at.is_some())
    }

    /// The `ON CONFLICT` target of `upsert`: the `unique` columns, or the
    /// primary key when there are none.
    pub(crate) fn conflict_target(&self) -> Vec<&Field<'a>> {
        let unique: Vec<_> = self.columns().filter(|f| f.unique.is_some()).collect();
        if unique.is_empty() {
            self.primary_key().into_iter().collect()
        } else {
            unique
        }
    }
}

impl<'a> Field<'a> {
    /// Reads one named field; `None` for an unnamed one (reported as a
    /// tuple struct).
    fn from_ast(cx: &Ctxt, original: &'a syn::Field) -> Option<Field<'a>> {
        let ident = original.ident.as_ref()?;
        let attrs = FieldAttrs::from_ast(cx, &original.attrs);
        let (column, column_attr) = match attrs.column {
            Some(Spanned { value, span }) => (value, Some(span)),
            None => (ident.unraw().to_string(), None),
        };
        Some(Field {
            original,
            ident,
            ty: &original.ty,
            column,
            column_attr,
            primary_key: attrs.primary_key,
            generated: attrs.generated,
            unique: attrs.unique,
            deleted_at: attrs.deleted_at,
            updated_at: attrs.updated_at,
            version: attrs.version,
            skip: attrs.skip,
            skip_deserializing: attrs.skip_deserializing,
            tenant: attrs.tenant,
            audit: attrs.audit,
            rules: parse_rules(cx, &attrs.validate),
        })
    }

    /// Where the column name comes from: `column = ".."` or the field name.
    pub(crate) fn column_span(&self) -> Span {
        self.column_attr.unwrap_or_else(|| self.ident.span())
    }

    /// The type inside `Option<..>` when the field is written as an
    /// `Option`. The only place the derive matches type syntax: nullability
    /// has no trait to ask.
    pub(crate) fn option_inner(&self) -> Option<&'a Type> {
        option_inner(self.ty)
    }
}

/// `T` for `Option<T>`, `std::option::Option<T>`, `core::option::Option<T>`.
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    std_generic(ty, &["std", "core"], "option", "Option")
}

/// The element type `E` when `ty` is written as a container PostgreSQL
/// binds as an array: `Vec<E>` (or `std::vec::Vec<E>`, `alloc::vec::Vec<E>`),
/// `[E; N]` or `Box<[E]>`.
fn array_element(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Array(array) => Some(&array.elem),
        Type::Paren(paren) => array_element(&paren.elem),
        _ => std_generic(ty, &["std", "alloc"], "vec", "Vec").or_else(|| {
            match std_generic(ty, &["std", "alloc"], "boxed", "Box")? {
                Type::Slice(slice) => Some(&slice.elem),
                _ => None,
            }
        }),
    }
}

/// The inner array type `A` when `ty` is an array of arrays: `Vec<A>`,
/// `Vec<Option<A>>`, `Option<Vec<A>>`, .. with `A` itself written as an
/// array container (`Vec<i32>`). Whether `A` may be an element (only
/// `Vec<u8>`, a `bytea`, may) is a trait bound in the expansion.
pub(crate) fn nested_array(ty: &Type) -> Option<&Type> {
    let outer = option_inner(ty).unwrap_or(ty);
    let element = array_element(outer)?;
    let element = option_inner(element).unwrap_or(element);
    array_element(element).map(|_| element)
}

/// `T` of `Name<T>`, `a::module::Name<T>` for each `a` in `crates`: a std
/// type by its path, the only kind of type the derive recognises by name.
fn std_generic<'t>(ty: &'t Type, crates: &[&str], module: &str, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<_> = path.path.segments.iter().collect();
    let last = segments.last()?;
    let prefix_ok = match segments.len() {
        1 => path.path.leading_colon.is_none(),
        3 => crates.iter().any(|c| segments[0].ident == c) && segments[1].ident == module,
        _ => false,
    };
    if !prefix_ok || last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_types() {
        let opt: Type = syn::parse_quote!(Option<i32>);
        let full: Type = syn::parse_quote!(::std::option::Option<i32>);
        let not: Type = syn::parse_quote!(my::Option<i32>);
        assert!(option_inner(&opt).is_some());
        assert!(option_inner(&full).is_some());
        assert!(option_inner(&not).is_none());
    }

    #[test]
    fn nested_arrays() {
        let nested = |ty: Type| nested_array(&ty).map(|inner| quote::quote!(#inner).to_string());
        assert_eq!(
            nested(syn::parse_quote!(Vec<Vec<i32>>)).as_deref(),
            Some("Vec < i32 >")
        );
        assert_eq!(
            nested(syn::parse_quote!(Option<std::vec::Vec<Option<[i32; 3]>>>)).as_deref(),
            Some("[i32 ; 3]")
        );
        assert_eq!(
            nested(syn::parse_quote!(Box<[Vec<u8>]>)).as_deref(),
            Some("Vec < u8 >")
        );
        assert_eq!(nested(syn::parse_quote!(Vec<i32>)), None);
        assert_eq!(nested(syn::parse_quote!(Vec<Json<Vec<i32>>>)), None);
        assert_eq!(nested(syn::parse_quote!(Option<Vec<String>>)), None);
    }
}
