//! `impl Model for User`: the metadata with every statement, row decoding,
//! the key and the `update` parameters.

use proc_macro2::TokenStream;
use quote::{ToTokens as _, quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::Expand;
use super::sql::{self, Sql};
use crate::model::Field;

impl Expand<'_> {
    /// `impl ::strata::__private::Model for User { .. }`.
    pub(super) fn expand_model_impl(&self) -> TokenStream {
        let p = &self.private;
        let ident = self.model.ident;
        let new_ident = &self.new_ident;
        let patch_ident = &self.patch_ident;
        // Without a primary key (the fallback), the usual one.
        let key_ty = self
            .pk
            .map_or_else(|| quote!(i64), |pk| pk.ty.to_token_stream());
        let meta = self
            .full()
            .map_or_else(|| quote!(#p::FALLBACK_META), |pk| self.expand_meta(pk));
        let from_row = self.body(|_| self.expand_from_row());
        let key = self.body(|pk| {
            let key_ident = pk.ident;
            quote!(&self.#key_ident)
        });
        let params = self.body(|pk| {
            let mut params = vec![self.field_ref(pk)];
            params.extend(self.model.writable().map(|f| self.field_ref(f)));
            params.extend(self.model.version().map(|f| self.field_ref(f)));
            self.param_list(params)
        });
        let validate = self.body(|_| self.expand_validate_model());
        quote! {
            #[automatically_derived]
            impl #p::Model for #ident {
                type Key = #key_ty;
                type New = #new_ident;
                type Patch = #patch_ident;

                const META: &'static #p::ModelMeta = &#meta;

                fn from_row(__strata_row: &#p::Row) -> #p::Result<Self> {
                    #from_row
                }

                fn key(&self) -> &Self::Key {
                    #key
                }

                fn update_params(&self) -> #p::ParamList<'_> {
                    #params
                }

                fn validate(&self) -> ::core::result::Result<(), #p::ValidationErrors> {
                    #validate
                }
            }
        }
    }

    /// Where the model's operations compile (`strata::tenant`): on every
    /// handle for a model without a tenant; on a handle scoped to the
    /// tenant column's type for a tenant model, whose query builder also
    /// runs on `db.all_tenants()`. Spanned at the tenant field's type, so a
    /// type that cannot be a tenant is reported there.
    pub(super) fn expand_scope_impls(&self) -> TokenStream {
        let p = &self.private;
        let ident = self.model.ident;
        match self.model.tenant() {
            None => quote! {
                #[automatically_derived]
                impl<S> #p::RunsOn<S> for #ident {}
                #[automatically_derived]
                impl<S> #p::ListsOn<S> for #ident {}
            },
            Some(f) => {
                let ty = f.ty;
                let span = ty.span();
                // An `Option` tenant is the check's error already.
                let bound = f
                    .option_inner()
                    .is_none()
                    .then(|| quote_spanned!(span=> where #ty: #p::TenantKey));
                // `Unreachable` is a second candidate, so a call on the wrong
                // handle reads as the missing scope, not as a type mismatch.
                quote_spanned! {span=>
                    #[automatically_derived]
                    impl #p::RunsOn<#p::Scoped<#ty>> for #ident #bound {}
                    #[automatically_derived]
                    impl #p::RunsOn<#p::Unreachable> for #ident {}
                    #[automatically_derived]
                    impl #p::ListsOn<#p::Scoped<#ty>> for #ident {}
                    #[automatically_derived]
                    impl #p::ListsOn<#p::EveryTenant> for #ident {}
                }
            }
        }
    }

    /// `impl SoftDelete for User {}` when the model has soft delete: the
    /// bound that lets `User::restore` compile. In the fallback, also when
    /// only one of `soft_delete` and `deleted_at` was written: the user
    /// meant soft delete, so `restore` adds no error.
    pub(super) fn expand_soft_delete_impl(&self) -> TokenStream {
        let p = &self.private;
        let ident = self.model.ident;
        let meant = self.model.soft_delete.is_some()
            || self.model.columns().any(|f| f.deleted_at.is_some());
        if !meant {
            return TokenStream::new();
        }
        quote! {
            #[automatically_derived]
            impl #p::SoftDelete for #ident {}
        }
    }

    /// `ModelMeta { .. }`, all of it constant.
    fn expand_meta(&self, pk: &Field<'_>) -> TokenStream {
        let p = &self.private;
        let m = self.model;
        let name = m.ident.to_string();
        let table = &m.table;
        let schema = option_str(m.schema.as_deref());
        let columns = m.columns().map(|f| {
            let field = f.ident.to_string();
            let name = &f.column;
            let nullable = f.option_inner().is_some();
            let generated = f.generated.is_some();
            let primary_key = m.is_primary_key(f);
            let unique = f.unique.is_some();
            // At the field's type, like the other type checks.
            let ty = self.column_type(f);
            let accepts = quote_spanned!(f.ty.span()=> #ty::accepts);
            quote! {
                #p::ColumnMeta {
                    field: #field,
                    name: #name,
                    nullable: #nullable,
                    generated: #generated,
                    primary_key: #primary_key,
                    unique: #unique,
                    accepts: #accepts,
                }
            }
        });
        let insert_columns = m.insertable().map(|f| &f.column);
        let primary_key = &pk.column;
        let deleted_at = option_str(m.deleted_at().map(|f| f.column.as_str()));
        let version = option_str(m.version().map(|f| f.column.as_str()));
        let cache_ttl_secs = match m.cache_ttl_secs {
            Some(secs) => quote!(::core::option::Option::Some(#secs)),
            None => quote!(::core::option::Option::None),
        };
        let Sql {
            qualified,
            select_list,
            get,
            get_with_deleted,
            find_many,
            insert,
            copy_in,
            update,
            patch,
            patch_shape,
            upsert,
            delete,
            restore,
            hard_delete,
            exists,
            count,
        } = sql::statements(m, pk);
        let patch = match patch {
            sql::Patch::Text(text) => quote!(#text),
            sql::Patch::AroundCast(before, after) => {
                // `AroundCast` only with a version column.
                let cast = m.version().map(|f| {
                    let ty = f.ty;
                    quote_spanned!(ty.span()=> <#ty as #p::VersionType>::CAST)
                });
                quote! {{
                    const __STRATA_PARTS: &[&str] = &[#before, #cast, #after];
                    const __STRATA_PATCH: [u8; #p::concat_len(__STRATA_PARTS)] =
                        #p::concat(__STRATA_PARTS);
                    #p::as_str(&__STRATA_PATCH)
                }}
            }
        };
        let patch_shape = {
            let sql::PatchParts {
                head,
                sets,
                stamps,
                key,
                version,
                tenant,
                tail,
            } = patch_shape;
            quote! {
                #p::PatchTemplate {
                    head: #head,
                    sets: &[#(#sets),*],
                    stamps: #stamps,
                    key: #key,
                    version: #version,
                    tenant: #tenant,
                    tail: #tail,
                }
            }
        };
        let tenant = match m.tenant() {
            Some(f) => {
                let column = &f.column;
                let rls = m.rls.is_some();
                let ty = f.ty;
                let sql_type = quote_spanned!(ty.span()=> <#ty as #p::TenantKey>::SQL_TYPE);
                quote!(::core::option::Option::Some(#p::TenantMeta {
                    column: #column,
                    rls: #rls,
                    sql_type: #sql_type,
                }))
            }
            None => quote!(::core::option::Option::None),
        };
        let audit = match m.audit {
            Some(_) => {
                let exclude = m.audit_columns(crate::attr::AuditField::Exclude);
                let redact = m.audit_columns(crate::attr::AuditField::Redact);
                quote!(::core::option::Option::Some(#p::AuditMeta {
                    exclude: &[#(#exclude),*],
                    redact: &[#(#redact),*],
                }))
            }
            None => quote!(::core::option::Option::None),
        };
        quote! {
            #p::ModelMeta {
                name: #name,
                table: #table,
                schema: #schema,
                qualified: #qualified,
                columns: &[#(#columns),*],
                select_list: #select_list,
                insert_columns: &[#(#insert_columns),*],
                primary_key: #primary_key,
                deleted_at: #deleted_at,
                version: #version,
                cache_ttl_secs: #cache_ttl_secs,
                tenant: #tenant,
                audit: #audit,
                sql: #p::Statements {
                    get: #get,
                    get_with_deleted: #get_with_deleted,
                    find_many: #find_many,
                    insert: #insert,
                    copy_in: #copy_in,
                    update: #update,
                    patch: #patch,
                    patch_shape: #patch_shape,
                    upsert: #upsert,
                    delete: #delete,
                    restore: #restore,
                    hard_delete: #hard_delete,
                    exists: #exists,
                    count: #count,
                },
            }
        }
    }

    /// `Ok(Self { id: decode(row, 0, "id")?, .., skipped: Default::default() })`,
    /// indexes in `select_list` order.
    fn expand_from_row(&self) -> TokenStream {
        let mut index = 0usize;
        let fields = self.model.fields.iter().map(|f| {
            let ident = f.ident;
            // At the field's type: a type that does not fit is reported there.
            let span = f.ty.span();
            if f.skip.is_some() {
                return quote_spanned!(span=> #ident: ::core::default::Default::default());
            }
            let i = index;
            index += 1;
            let ty = self.column_type(f);
            let column = &f.column;
            quote_spanned!(span=> #ident: #ty::decode(__strata_row, #i, #column)?)
        });
        quote! {
            ::core::result::Result::Ok(Self {
                #(#fields,)*
            })
        }
    }
}

impl Expand<'_> {
    /// What generated code calls a field's column-type functions on
    /// (`accepts`, `decode`, `param`, `param_opt`), spanned at the field's
    /// type so a type that cannot be stored is reported once, there.
    /// Usually `<T as ColumnType>`; for the primary key
    /// `__private::KeyColumn<Model>`, whose functions are generic over the
    /// model and lean on `Model::Key`'s own `ColumnType` bound: that bound
    /// is then the key type's only obligation, so a bad key type is one
    /// error too.
    pub(super) fn column_type(&self, field: &Field<'_>) -> TokenStream {
        let p = &self.private;
        let ty = field.ty;
        if self.model.is_primary_key(field) {
            let model = self.model.ident;
            quote_spanned!(ty.span()=> #p::KeyColumn::<#model>)
        } else {
            quote_spanned!(ty.span()=> <#ty as #p::ColumnType>)
        }
    }

    /// `self.<field>` as a parameter (see [`Expand::column_type`]).
    pub(super) fn field_ref(&self, field: &Field<'_>) -> TokenStream {
        let ident = field.ident;
        let ty = self.column_type(field);
        quote_spanned!(field.ty.span()=> #ty::param(&self.#ident))
    }

    /// `self.<field>: Option<T>` of a patch as a parameter (NULL when
    /// absent), through [`Expand::column_type`] as in [`Expand::field_ref`].
    pub(super) fn patch_field_ref(&self, field: &Field<'_>) -> TokenStream {
        let ident = field.ident;
        let ty = self.column_type(field);
        quote_spanned!(field.ty.span()=> #ty::param_opt(&self.#ident))
    }
}

/// `Some("x")` / `None` as a constant expression.
fn option_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}
