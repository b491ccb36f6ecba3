//! The rules of `belongs_to` / `has_many`.

use heck::ToSnakeCase as _;
use syn::ext::IdentExt as _;

use crate::attr::meta::code_list;
use crate::attr::relation::RelationKind;
use crate::case;
use crate::ctxt::Ctxt;
use crate::model::Model;

/// A relation names its key field (`belongs_to`'s on this model, where
/// it must be a column: its value is read from the row), and its const a
/// name no other relation or column const of the model has. Whether the
/// key field's type holds the target's key is a trait bound at the field
/// (`expand/relations.rs`); a `has_many` key lives on the other model,
/// which only the compiler can see.
pub(super) fn relations(cx: &Ctxt, model: &Model<'_>) {
    let name = model.ident;
    for (i, r) in model.relations.iter().enumerate() {
        let (what, target) = (r.kind.key(), r.target_name());
        match (&r.key, r.kind) {
            (None, RelationKind::BelongsTo) => cx.error(
                r.span,
                format!(
                    "`belongs_to({target})` needs `key`, the field of `{name}` that holds `{target}`'s primary key\n\nhelp: the correct format looks like `#[model(belongs_to({target}, key = {}_id))]`",
                    target.to_snake_case()
                ),
            ),
            (None, RelationKind::HasMany) => cx.error(
                r.span,
                format!(
                    "`has_many({target})` needs `key`, the field of `{target}` that holds `{name}`'s primary key\n\nhelp: the correct format looks like `#[model(has_many({target}, key = {}_id))]`",
                    name.unraw().to_string().to_snake_case()
                ),
            ),
            (Some(key), RelationKind::BelongsTo) if model.column_field(key).is_none() => {
                let skipped = model.fields.iter().any(|f| f.ident == key);
                let fields: Vec<String> = model.columns().map(|f| f.ident.to_string()).collect();
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                cx.error(
                    key.span(),
                    if skipped {
                        format!(
                            "`{key}` is `#[model(skip)]`, so it holds no stored key; `belongs_to` reads `{target}`'s primary key from a column field of `{name}`"
                        )
                    } else {
                        format!(
                            "`key = {key}` names no field of `{name}`; a `belongs_to` key is the field that holds `{target}`'s primary key, one of {}",
                            code_list(&fields)
                        )
                    },
                );
            }
            _ => {}
        }
        if let Some(earlier) = model.relations[..i].iter().find(|e| e.name == r.name) {
            cx.error(
                r.name_span(),
                format!(
                    "`{name}` already has a relation named `{}` (`{}({})`); give this one another name with `name = \"..\"`, e.g. `#[model({what}({target}, key = .., name = \"OTHER_{}\"))]`",
                    r.name,
                    earlier.kind.key(),
                    earlier.target_name(),
                    r.name
                ),
            );
        }
        if let Some(field) = model
            .columns()
            .find(|f| r.name == case::const_name(&f.ident.unraw().to_string()))
        {
            cx.error(
                r.name_span(),
                format!(
                    "relation const `{name}::{}` would clash with the column const of field `{}`; name the relation with `name = \"..\"`",
                    r.name, field.ident
                ),
            );
        }
    }
}
