//! `#[model(derive_inputs(..))]`: `NewX` and `XPatch` from and to JSON, as
//! a handler takes them, and what each JSON shape does to the stored row
//! (read back through a second handle).

use serde_json::json;
use strata::prelude::*;
use strata_tests::TestDb;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(
    table = "profiles",
    derive_inputs(serde::Serialize, serde::Deserialize, PartialEq)
)]
struct Profile {
    #[model(primary_key, generated)]
    id: i64,
    name: String,
    bio: Option<String>,
    #[model(version)]
    version: i32,
}

const TABLE: &str = "CREATE TABLE profiles (
    id bigserial PRIMARY KEY, name text NOT NULL, bio text,
    version int NOT NULL DEFAULT 1)";

#[tokio::test]
async fn a_json_insert_body_is_a_new_x_and_a_typo_is_refused() {
    let t = TestDb::new().await;
    t.execute(TABLE, &[]).await.unwrap();
    let new: NewProfile = serde_json::from_value(json!({"name": "ada"})).unwrap();
    assert_eq!(new.bio, None, "an absent nullable field is NULL");
    let p = Profile::insert(t.db(), new).await.unwrap();
    assert_eq!((p.name.as_str(), p.bio.as_deref()), ("ada", None));

    let err = serde_json::from_value::<NewProfile>(json!({"name": "b", "nmae": "x"})).unwrap_err();
    assert!(err.to_string().contains("unknown field `nmae`"), "{err}");
    let err = serde_json::from_value::<NewProfile>(json!({"bio": "x"})).unwrap_err();
    assert!(err.to_string().contains("missing field `name`"), "{err}");
    let err = serde_json::from_value::<NewProfile>(json!({"name": "b", "id": 7})).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `id`"),
        "generated id is not input: {err}"
    );
    assert_eq!(t.count("profiles").await, 1);
}

#[tokio::test]
async fn a_json_patch_tells_absent_from_null() {
    let t = TestDb::new().await;
    t.execute(TABLE, &[]).await.unwrap();
    let other = Db::connect(t.config()).await.unwrap();
    let p = Profile::insert(
        t.db(),
        NewProfile {
            name: "ada".into(),
            bio: Some("math".into()),
        },
    )
    .await
    .unwrap();

    // Absent: left as it is.
    let patch: ProfilePatch = serde_json::from_value(json!({"name": "Ada"})).unwrap();
    assert_eq!(patch.bio, None);
    Profile::patch(t.db(), p.id, patch).await.unwrap();
    let seen = Profile::get(&other, p.id).await.unwrap();
    assert_eq!(
        (seen.name.as_str(), seen.bio.as_deref()),
        ("Ada", Some("math"))
    );

    // null: set to NULL.
    let patch: ProfilePatch = serde_json::from_value(json!({"bio": null})).unwrap();
    assert_eq!(patch.bio, Some(None));
    Profile::patch(t.db(), p.id, patch).await.unwrap();
    let seen = Profile::get(&other, p.id).await.unwrap();
    assert_eq!((seen.name.as_str(), seen.bio.as_deref()), ("Ada", None));

    // The expected version travels in the body too; a stale one is refused.
    let patch: ProfilePatch =
        serde_json::from_value(json!({"bio": "logic", "version": 1})).unwrap();
    let err = Profile::patch(t.db(), p.id, patch).await.unwrap_err();
    assert!(matches!(err, Error::StaleVersion { .. }), "{err:?}");
    assert_eq!(Profile::get(&other, p.id).await.unwrap().bio, None);

    // `{}` is an empty patch; a typo is an error, not a no-op.
    let empty: ProfilePatch = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, ProfilePatch::default());
    let err = serde_json::from_value::<ProfilePatch>(json!({"boi": "x"})).unwrap_err();
    assert!(err.to_string().contains("unknown field `boi`"), "{err}");
    let err = serde_json::from_value::<ProfilePatch>(json!({"name": null})).unwrap_err();
    assert!(
        err.to_string().contains("invalid type: null"),
        "a NOT NULL column takes no null: {err}"
    );
    other.close().await;
}

#[test]
fn a_patch_serializes_only_what_it_sets() {
    let patch = ProfilePatch {
        bio: Some(None),
        ..ProfilePatch::default()
    };
    let text = serde_json::to_value(&patch).unwrap();
    assert_eq!(text, json!({"bio": null}));
    let back: ProfilePatch = serde_json::from_value(text).unwrap();
    assert_eq!(back, patch, "round trip keeps set-to-NULL");
    assert_eq!(
        serde_json::to_value(ProfilePatch::default()).unwrap(),
        json!({})
    );
}

/// A column the server sets (an owner, a role) is kept out of bodies.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "notes", derive_inputs(serde::Deserialize))]
struct Note {
    #[model(primary_key, generated)]
    id: i64,
    #[model(skip_deserializing)]
    owner_id: i64,
    text: String,
}

#[tokio::test]
async fn a_server_set_column_cannot_come_from_a_body() {
    let t = TestDb::new().await;
    t.execute(
        "CREATE TABLE notes (id bigserial PRIMARY KEY, owner_id bigint NOT NULL, text text NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    let mut new: NewNote = serde_json::from_value(json!({"text": "hi"})).unwrap();
    assert_eq!(new.owner_id, 0, "starts at Default; the handler sets it");
    let err =
        serde_json::from_value::<NewNote>(json!({"text": "hi", "owner_id": 666})).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `owner_id`"),
        "{err}"
    );
    let err = serde_json::from_value::<NotePatch>(json!({"owner_id": 666})).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `owner_id`"),
        "{err}"
    );
    new.owner_id = 7;
    let note = Note::insert(t.db(), new).await.unwrap();
    assert_eq!(note.owner_id, 7);
}

/// `PATCH {}` changes nothing, not even the version another client holds.
#[tokio::test]
async fn an_empty_patch_writes_nothing_and_still_checks_the_version() {
    let t = TestDb::new().await;
    t.execute(TABLE, &[]).await.unwrap();
    let p = Profile::insert(
        t.db(),
        NewProfile {
            name: "ada".into(),
            bio: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(p.version, 1);
    let empty: ProfilePatch = serde_json::from_value(json!({})).unwrap();
    let same = Profile::patch(t.db(), p.id, empty).await.unwrap();
    assert_eq!(same, p, "the row as it stands");
    let stored: i32 = t
        .query_read_one("SELECT version FROM profiles WHERE id = $1", &[&p.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "no version bump for a patch that sets nothing");

    let current = ProfilePatch {
        version: Some(1),
        ..ProfilePatch::default()
    };
    assert_eq!(Profile::patch(t.db(), p.id, current).await.unwrap(), p);
    let stale = ProfilePatch {
        version: Some(0),
        ..ProfilePatch::default()
    };
    let err = Profile::patch(t.db(), p.id, stale).await.unwrap_err();
    assert!(matches!(err, Error::StaleVersion { .. }), "{err:?}");
    let err = Profile::patch(t.db(), p.id + 1000, ProfilePatch::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}
