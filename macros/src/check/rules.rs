//! The rules of one field's `#[validate(..)]`.

use crate::attr::validate::{RuleKind, example};
use crate::ctxt::Ctxt;
use crate::model::Field;

/// Every rule of `field`.
pub(super) fn check(cx: &Ctxt, field: &Field<'_>) {
    duplicate_rules(cx, field);
    rule_bounds(cx, field);
    patterns(cx, field);
    one_of_values(cx, field);
}

/// A rule is given once per field: two `length`s would be two different
/// requirements for one value, and only one of them can be meant.
fn duplicate_rules(cx: &Ctxt, field: &Field<'_>) {
    for (i, rule) in field.rules.iter().enumerate() {
        let name = rule.kind.name();
        // `custom` may name several functions.
        if name == "custom" {
            continue;
        }
        if field.rules[..i].iter().any(|r| r.kind.name() == name) {
            cx.error(
                rule.span,
                format!(
                    "duplicate `validate` rule `{name}`; give each rule once, e.g. `{}`",
                    example(name)
                ),
            );
        }
    }
}

/// `min <= max` in `length` and `range`: otherwise no value passes, and
/// every write of the model would fail.
fn rule_bounds(cx: &Ctxt, field: &Field<'_>) {
    for rule in &field.rules {
        let (name, min, max) = match &rule.kind {
            RuleKind::Length {
                min: Some(min),
                max: Some(max),
            } if min.value > max.value => (
                "length",
                (min.value.to_string(), min.span),
                max.value.to_string(),
            ),
            RuleKind::Range {
                min: Some(min),
                max: Some(max),
            } if min.value.as_f64() > max.value.as_f64() => {
                ("range", (min.value.text(), min.span), max.value.text())
            }
            _ => continue,
        };
        let ((min, span), max) = (min, max);
        cx.error(
            span,
            format!(
                "`{name}` has `min = {min}` above `max = {max}`, so no value can pass; make `min` at most `max`"
            ),
        );
    }
}

/// A `pattern` is a regex the `regex` crate compiles. It is parsed here,
/// with the parser `regex` itself uses, so a typo is a compile error at the
/// literal instead of a panic on the first write.
fn patterns(cx: &Ctxt, field: &Field<'_>) {
    for rule in &field.rules {
        let RuleKind::Pattern(lit) = &rule.kind else {
            continue;
        };
        let pattern = lit.value();
        let Err(err) = regex_syntax::Parser::new().parse(&pattern) else {
            continue;
        };
        let (kind, at) = match &err {
            regex_syntax::Error::Parse(e) => (e.kind().to_string(), Some(*e.span())),
            regex_syntax::Error::Translate(e) => (e.kind().to_string(), Some(*e.span())),
            other => (other.to_string(), None),
        };
        // The pattern with a caret under the mistake, as `regex` prints it.
        let pointer = at.map_or_else(String::new, |at| {
            let pad = pattern[..at.start.offset].chars().count();
            let width = pattern[at.start.offset..at.end.offset].chars().count();
            format!(
                "\n\n    {pattern}\n    {}{}",
                " ".repeat(pad),
                "^".repeat(width.max(1))
            )
        });
        cx.error(
            lit.span(),
            format!(
                "invalid regular expression in `pattern`: {kind}{pointer}\n\nhelp: `pattern` takes the `regex` crate's syntax, e.g. `#[validate(pattern = \"^[a-z0-9_]+$\")]`"
            ),
        );
    }
}

/// `one_of` lists at least one value: with none, nothing could pass.
fn one_of_values(cx: &Ctxt, field: &Field<'_>) {
    for rule in &field.rules {
        if let RuleKind::OneOf(values) = &rule.kind
            && values.is_empty()
        {
            cx.error(
                rule.span,
                format!(
                    "`one_of` needs at least one allowed value\n\nhelp: the correct format looks like `{}`",
                    example("one_of")
                ),
            );
        }
    }
}
