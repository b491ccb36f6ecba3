// Every rule on the types it accepts, `validate_with`, and `validate()`
// callable with the prelude alone.
use strata::prelude::*;

fn not_admin(name: &str) -> Result<(), ValidationError> {
    if name == "admin" {
        return Err(ValidationError::new("reserved", "is reserved"));
    }
    Ok(())
}

fn ends_after_start(e: &EventView<'_>) -> Result<(), ValidationErrors> {
    if e.ends_at < e.starts_at {
        return Err(FieldError::new("ends_at", "after_start", "must be after the start").into());
    }
    Ok(())
}

#[derive(Model, Debug, Clone)]
#[model(validate_with = ends_after_start)]
pub struct Event {
    #[model(primary_key, generated)]
    pub id: i64,
    #[validate(email, length(max = 255))]
    pub email: String,
    #[validate(url)]
    pub link: Option<String>,
    #[validate(uuid)]
    pub ext: std::option::Option<String>,
    #[validate(pattern = r"^\p{Lu}\w*$", custom = not_admin)]
    pub name: String,
    #[validate(non_empty, length(min = 1, max = 10))]
    pub tags: Vec<String>,
    #[validate(one_of("a", "b"))]
    pub kind: String,
    #[validate(range(min = -5, max = 5))]
    pub small: i8,
    #[validate(range(max = 100_000))]
    pub tiny: i16,
    #[validate(range(min = 0, max = 1.5))]
    pub ratio: f32,
    #[validate(range(min = -0.5, max = 1e3))]
    pub amount: rust_decimal::Decimal,
    pub starts_at: i64,
    pub ends_at: i64,
}

fn main() {
    let new = NewEvent {
        email: "a@b.c".into(),
        link: None,
        ext: None,
        name: "Jane".into(),
        tags: vec!["x".into()],
        kind: "a".into(),
        small: 0,
        tiny: i16::MAX,
        ratio: 1.5,
        amount: rust_decimal::Decimal::ONE,
        starts_at: 1,
        ends_at: 2,
    };
    assert!(new.validate().is_ok());
    let patch = EventPatch::default();
    assert!(patch.validate().is_ok());
    let view: EventView<'_> = EventView {
        email: &new.email,
        link: &new.link,
        ext: &new.ext,
        name: &new.name,
        tags: &new.tags,
        kind: &new.kind,
        small: &new.small,
        tiny: &new.tiny,
        ratio: &new.ratio,
        amount: &new.amount,
        starts_at: &new.starts_at,
        ends_at: &new.ends_at,
    };
    assert!(ends_after_start(&view).is_ok());
    let accepts = <Event as Model>::META.columns[1].accepts;
    assert!(accepts(&tokio_postgres::types::Type::TEXT));
    assert!(!accepts(&tokio_postgres::types::Type::INT4));
}
