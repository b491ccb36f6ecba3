//! Model operations against real PostgreSQL, on every executor kind.

use std::collections::HashSet;

use strata::prelude::*;
use strata::{Executor, Keyset};
use strata_tests::TestDb;

use super::models::*;

async fn users(t: &TestDb) {
    t.execute(USERS, &[]).await.unwrap();
}

/// Runs the whole single-row life cycle on one executor.
async fn life_cycle<E: Executor>(e: &E, base: i64) {
    let u = User::insert(e, new_user(base)).await.unwrap();
    assert!(u.id > 0);
    assert_eq!(u.email, format!("user{base}@example.com"));
    assert_eq!(u.deleted_at, None);
    assert_eq!(User::get(e, u.id).await.unwrap(), u);
    assert_eq!(User::find(e, u.id).await.unwrap(), Some(u.clone()));
    assert!(User::exists(e, u.id).await.unwrap());

    let patched = User::patch(
        e,
        u.id,
        UserPatch {
            name: Some("Jane".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(patched.name, "Jane");
    assert_eq!(patched.email, u.email, "absent patch fields are untouched");

    let mut whole = patched.clone();
    whole.age = 77;
    whole.active = !whole.active;
    let updated = User::update(e, &whole).await.unwrap();
    assert_eq!((updated.age, updated.active), (77, whole.active));

    let mut same = new_user(base);
    same.name = "Upserted".into();
    let upserted = User::upsert(e, same).await.unwrap();
    assert_eq!(
        upserted.id, u.id,
        "conflict on the unique email updates the row"
    );
    assert_eq!(upserted.name, "Upserted");

    let other = User::insert(e, new_user(base + 1)).await.unwrap();
    let many = User::find_many(e, &[u.id, other.id, -1]).await.unwrap();
    assert_eq!(many.len(), 2);

    User::delete(e, u.id).await.unwrap();
    assert!(
        User::find(e, u.id).await.unwrap().is_none(),
        "soft-deleted rows are hidden"
    );
    assert!(matches!(
        User::get(e, u.id).await,
        Err(Error::NotFound { what: "users" })
    ));
    assert!(!User::exists(e, u.id).await.unwrap());
    assert!(User::find_many(e, &[u.id]).await.unwrap().is_empty());
    assert!(matches!(
        User::delete(e, u.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        User::patch(e, u.id, UserPatch::default()).await,
        Err(Error::NotFound { .. })
    ));
    let restored = User::restore(e, u.id).await.unwrap();
    assert_eq!(restored.deleted_at, None);
    assert_eq!(User::get(e, u.id).await.unwrap().name, "Upserted");

    User::hard_delete(e, u.id).await.unwrap();
    assert!(matches!(
        User::restore(e, u.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        User::hard_delete(e, u.id).await,
        Err(Error::NotFound { .. })
    ));
    User::hard_delete(e, other.id).await.unwrap();
}

#[tokio::test]
async fn every_operation_on_the_pool() {
    let t = TestDb::new().await;
    users(&t).await;
    life_cycle(t.db(), 1).await;
    assert_eq!(User::count(t.db()).await.unwrap(), 0);
}

#[tokio::test]
async fn every_operation_in_a_transaction_and_a_savepoint() {
    let t = TestDb::new().await;
    users(&t).await;
    t.transaction(TxOptions::new(), |tx| async move {
        life_cycle(&tx, 10).await;
        tx.savepoint(|sp| async move {
            life_cycle(&sp, 20).await;
            Ok(())
        })
        .await?;
        // A failing savepoint undoes only its own insert.
        let kept = User::insert(&tx, new_user(30)).await?;
        let undone = tx
            .savepoint(|sp| async move {
                User::insert(&sp, new_user(31)).await?;
                User::insert(&sp, new_user(31)).await // same email: unique violation
            })
            .await;
        assert!(
            matches!(undone, Err(Error::UniqueViolation { .. })),
            "{undone:?}"
        );
        assert_eq!(User::count(&tx).await?, 1);
        assert!(User::exists(&tx, kept.id).await?);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(User::count(t.db()).await.unwrap(), 1);
}

#[tokio::test]
async fn query_builder_filters_orders_and_pages() {
    let t = TestDb::new().await;
    users(&t).await;
    let rows: Vec<NewUser> = (1..=60).map(new_user).collect();
    assert_eq!(User::insert_many(t.db(), rows).await.unwrap(), 60);
    // Three of them soft-deleted.
    let deleted = User::query()
        .filter(User::AGE.le(3))
        .delete(t.db())
        .await
        .unwrap();
    assert_eq!(deleted, 3);

    let active_over_30 = User::query()
        .filter(User::ACTIVE.eq(true))
        .filter(User::AGE.gt(30))
        .order_by(User::AGE.desc())
        .all(t.db())
        .await
        .unwrap();
    assert_eq!(active_over_30.len(), 15);
    assert!(active_over_30.windows(2).all(|w| w[0].age >= w[1].age));
    assert!(active_over_30.iter().all(|u| u.active && u.age > 30));

    let page = User::query()
        .order_by(User::ID.asc())
        .page(2, 20)
        .fetch_page(t.db())
        .await
        .unwrap();
    assert_eq!(
        (page.total, page.page, page.per_page, page.total_pages),
        (57, 2, 20, 3)
    );
    assert_eq!(page.items.len(), 20);
    assert_eq!(
        page.items[0].id, 24,
        "page 2 starts after 20 visible rows (ids 4..=23)"
    );

    let n = User::query()
        .filter(User::EMAIL.like("user1%@example.com"))
        .count(t.db())
        .await
        .unwrap();
    assert_eq!(n, 10); // user10..user19; user1 is soft-deleted
    let n = User::query()
        .filter(User::NAME.ilike("USER 5%"))
        .count(t.db())
        .await
        .unwrap();
    assert_eq!(n, 11);
    let n = User::query()
        .filter(User::AGE.between(10, 19).or(User::AGE.is_in([50, 51])))
        .count(t.db())
        .await
        .unwrap();
    assert_eq!(n, 12);
    let n = User::query()
        .filter(User::ACTIVE.eq(true).not())
        .count(t.db())
        .await
        .unwrap();
    assert_eq!(n, 28); // odd ids, less the soft-deleted 1 and 3
    assert!(
        User::query()
            .filter(User::DELETED_AT.is_not_null())
            .count(t.db())
            .await
            .unwrap()
            == 0
    );
    assert_eq!(
        User::query().with_deleted().count(t.db()).await.unwrap(),
        60
    );
    assert_eq!(User::query().only_deleted().count(t.db()).await.unwrap(), 3);
    assert!(
        User::query()
            .filter(User::AGE.eq(2))
            .optional(t.db())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        User::query()
            .filter(User::AGE.eq(2))
            .with_deleted()
            .one(t.db())
            .await
            .unwrap()
            .age,
        2
    );
    assert!(
        User::query()
            .filter(User::ID.eq(1_000))
            .exists(t.db())
            .await
            .map(|e| !e)
            .unwrap()
    );

    // Bulk update honours soft delete and binds its values.
    let changed = User::query()
        .filter(User::AGE.lt(10))
        .update(t.db(), [User::NAME.set("young")])
        .await
        .unwrap();
    assert_eq!(
        changed, 6,
        "ages 4..=9; the soft-deleted 1..=3 are left alone"
    );
    let hard = User::query()
        .only_deleted()
        .hard_delete(t.db())
        .await
        .unwrap();
    assert_eq!(hard, 3);
    assert_eq!(
        User::query().with_deleted().count(t.db()).await.unwrap(),
        57
    );
}

/// One query shape, built from every kind of filter, with the values of
/// call `v`: the shape cache renders its SQL once, so every later call must
/// bind its own values in the right places.
fn mixed_shape(v: i32) -> strata::Query<User> {
    User::query()
        .filter(
            User::AGE
                .between(v, v + 20)
                .and(User::EMAIL.like(format!("user%{}@%", v % 10)))
                .or(User::ID
                    .is_in([i64::from(v) + 40, i64::from(v) + 41])
                    .not()
                    .not()),
        )
        .filter(User::NAME.ilike("USER%").and(User::ACTIVE.eq(v % 2 == 0)))
        .filter(User::DELETED_AT.is_null().or(User::AGE.ge(v)))
        .order_by(User::AGE.desc())
        .order_by(User::ID.asc())
        .limit(7)
        .offset(1)
}

/// What `mixed_shape(v)` selects, computed in Rust from rows 1..=60.
fn mixed_expected(v: i32) -> Vec<i64> {
    let mut rows: Vec<(i32, i64)> = (1..=60_i64)
        .filter(|&i| {
            let age = i32::try_from(i % 90).unwrap();
            let first = (v..=v + 20).contains(&age)
                && format!("user{i}@").ends_with(&format!("{}@", v % 10));
            let listed = i == i64::from(v) + 40 || i == i64::from(v) + 41;
            (first || listed) && (i % 2 == 0) == (v % 2 == 0)
        })
        .map(|i| (i32::try_from(i % 90).unwrap(), i))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    rows.into_iter().skip(1).take(7).map(|(_, id)| id).collect()
}

#[tokio::test]
async fn a_cached_query_shape_binds_each_calls_own_values() {
    let t = TestDb::new().await;
    users(&t).await;
    let rows: Vec<NewUser> = (1..=60).map(new_user).collect();
    User::insert_many(t.db(), rows).await.unwrap();

    let (first_sql, first_values) = mixed_shape(3).to_sql();
    for v in [3, 4, 11, 2, 17, 3] {
        let (sql, values) = mixed_shape(v).to_sql();
        assert_eq!(sql, first_sql, "one shape, one SQL text");
        if v != 3 {
            assert_ne!(values, first_values);
        }
        let got: Vec<i64> = mixed_shape(v)
            .all(t.db())
            .await
            .unwrap()
            .iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(got, mixed_expected(v), "values of call v={v}");
        assert!(!got.is_empty(), "v={v} should select something");
        let n = mixed_shape(v).count(t.db()).await.unwrap();
        let all = mixed_shape(v)
            .limit(1000)
            .offset(0)
            .all(t.db())
            .await
            .unwrap();
        assert_eq!(n, all.len() as u64, "count and all agree for v={v}");
    }
    // A different IN-list length is a different shape, with its own SQL.
    let longer = User::query().filter(User::ID.is_in([1, 2, 3]));
    let shorter = User::query().filter(User::ID.is_in([1, 2]));
    assert_ne!(longer.to_sql().0, shorter.to_sql().0);
    assert_eq!(longer.count(t.db()).await.unwrap(), 3);
    assert_eq!(shorter.count(t.db()).await.unwrap(), 2);
    // Past 16 values the shape is not cached; the values still bind.
    for n in [17_i64, 30, 17] {
        let many = User::query().filter(User::ID.is_in(1..=n).and(User::AGE.ge(2)));
        assert_eq!(
            many.count(t.db()).await.unwrap(),
            u64::try_from(n - 1).unwrap()
        );
    }
    assert_eq!(
        User::query()
            .filter(User::ID.is_in(Vec::<i64>::new()))
            .count(t.db())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn keyset_pagination_visits_every_row_once() {
    let t = TestDb::new().await;
    users(&t).await;
    let rows: Vec<NewUser> = (1..=1000).map(new_user).collect();
    assert_eq!(User::insert_many(t.db(), rows).await.unwrap(), 1000);
    let mut seen = HashSet::new();
    let mut cursor = None;
    let mut batches = 0;
    loop {
        let mut q = User::query().order_by(User::AGE.desc()).limit(37);
        if let Some(c) = cursor.take() {
            q = q.after(c);
        }
        let Keyset { items, next } = q.fetch_keyset(t.db()).await.unwrap();
        batches += 1;
        for u in items {
            assert!(seen.insert(u.id), "row {} visited twice", u.id);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(batches, 28);
}

#[tokio::test]
async fn hostile_filter_values_are_bound_not_spliced() {
    let t = TestDb::new().await;
    users(&t).await;
    User::insert(t.db(), new_user(1)).await.unwrap();
    let evil = "'; DROP TABLE users; --";
    let found = User::query()
        .filter(User::NAME.eq(evil))
        .all(t.db())
        .await
        .unwrap();
    assert!(found.is_empty());
    let n = User::query()
        .filter(User::EMAIL.like(evil))
        .count(t.db())
        .await
        .unwrap();
    assert_eq!(n, 0);
    let mut hostile = new_user(2);
    hostile.name = evil.into();
    let u = User::insert(t.db(), hostile).await.unwrap();
    assert_eq!(User::get(t.db(), u.id).await.unwrap().name, evil);
    assert_eq!(
        User::count(t.db()).await.unwrap(),
        2,
        "the table is still there"
    );
}

#[tokio::test]
async fn optimistic_locking_rejects_the_second_writer() {
    let t = TestDb::new().await;
    t.execute(DOCS, &[]).await.unwrap();
    let id = uuid::Uuid::new_v4();
    let doc = Doc::insert(
        t.db(),
        NewDoc {
            id,
            title: "draft".into(),
            body: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(doc.version, 1);
    // Two writers read version 1.
    let mut alice = doc.clone();
    let mut bob = doc.clone();
    alice.title = "alice".into();
    bob.title = "bob".into();
    let saved = Doc::update(t.db(), &alice).await.unwrap();
    assert_eq!(saved.version, 2);
    assert!(saved.updated_at >= doc.updated_at);
    let err = Doc::update(t.db(), &bob).await.unwrap_err();
    assert!(
        matches!(err, Error::StaleVersion { table: "docs" }),
        "{err:?}"
    );
    assert_eq!(Doc::get(t.db(), id).await.unwrap().title, "alice");
    // Patch with an expected version: stale is refused, current applies.
    let err = Doc::patch(
        t.db(),
        id,
        DocPatch {
            body: Some(Some("late".into())),
            version: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::StaleVersion { .. }), "{err:?}");
    let patched = Doc::patch(
        t.db(),
        id,
        DocPatch {
            body: Some(Some("fresh".into())),
            version: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (patched.body.as_deref(), patched.version),
        (Some("fresh"), 3)
    );
    // Patch without a version applies unconditionally and still increments.
    let cleared = Doc::patch(
        t.db(),
        id,
        DocPatch {
            body: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((cleared.body.clone(), cleared.version), (None, 4));
    let missing = Doc::update(
        t.db(),
        &Doc {
            id: uuid::Uuid::new_v4(),
            ..cleared
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
}

#[tokio::test]
async fn insert_many_through_copy_is_all_or_nothing() {
    let t = TestDb::new().await;
    users(&t).await;
    let mut rows: Vec<NewUser> = (1..=50_000).map(new_user).collect();
    rows[49_000].age = -1; // violates the CHECK constraint
    let err = User::insert_many(t.db(), rows).await.unwrap_err();
    assert!(matches!(err, Error::CheckViolation { .. }), "{err:?}");
    assert_eq!(User::query().with_deleted().count(t.db()).await.unwrap(), 0);

    let rows: Vec<NewUser> = (1..=50_000).map(new_user).collect();
    assert_eq!(User::insert_many(t.db(), rows).await.unwrap(), 50_000);
    assert_eq!(User::count(t.db()).await.unwrap(), 50_000);

    // The small-batch path is a single statement too.
    let mut few: Vec<NewUser> = (50_001..=50_010).map(new_user).collect();
    few[9].email = few[0].email.clone();
    let err = User::insert_many(t.db(), few).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation { .. }), "{err:?}");
    assert_eq!(User::count(t.db()).await.unwrap(), 50_000);

    // And inside a transaction, COPY rolls back with it.
    let result = t
        .transaction(TxOptions::new(), |tx| async move {
            let rows: Vec<NewUser> = (60_001..=61_000).map(new_user).collect();
            User::insert_many(&tx, rows).await?;
            Err::<(), _>(Error::NotFound {
                what: "reason to roll back",
            })
        })
        .await;
    assert!(result.is_err());
    assert_eq!(User::count(t.db()).await.unwrap(), 50_000);
}

fn sample(id: i32) -> NewEveryType {
    use chrono::TimeZone;
    NewEveryType {
        id,
        tiny: i8::MIN,
        small: i16::MAX,
        big: i64::MIN,
        real: f32::NAN,
        double: f64::INFINITY,
        flag: true,
        text: "naïve café – 東京 🚀".into(),
        bytes: vec![0, 255, 1, 254],
        uid: uuid::Uuid::new_v4(),
        day: chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap(),
        clock: chrono::NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap(),
        stamp: chrono::NaiveDate::from_ymd_opt(2262, 4, 11)
            .unwrap()
            .and_hms_opt(23, 47, 16)
            .unwrap(),
        stamptz: chrono::Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
        json: serde_json::json!({"a": [1, null, "x"], "ü": {}}),
        typed: strata::Json(Meta {
            tags: vec![],
            score: -0.5,
        }),
        money: "-12345678901234567890.123456789".parse().unwrap(),
        tags: vec![],
        numbers: vec![i64::MAX, 0, i64::MIN],
        maybe_text: None,
        maybe_int: Some(i32::MIN),
        maybe_stamp: None,
    }
}

#[tokio::test]
async fn every_supported_type_round_trips() {
    let t = TestDb::new().await;
    t.execute(EVERY_TYPE, &[]).await.unwrap();
    let new = sample(1);
    let stored = EveryType::insert(t.db(), new.clone()).await.unwrap();
    let read = EveryType::get(t.db(), 1).await.unwrap();
    for got in [&stored, &read] {
        assert_eq!(got.tiny, new.tiny);
        assert_eq!(got.small, new.small);
        assert_eq!(got.big, new.big);
        assert!(got.real.is_nan());
        assert_eq!(got.double, f64::INFINITY);
        assert!(got.flag);
        assert_eq!(got.text, new.text);
        assert_eq!(got.bytes, new.bytes);
        assert_eq!(got.uid, new.uid);
        assert_eq!(got.day, new.day);
        assert_eq!(got.clock, new.clock);
        assert_eq!(got.stamp, new.stamp);
        assert_eq!(got.stamptz, new.stamptz);
        assert_eq!(got.json, new.json);
        assert_eq!(got.typed.0, new.typed.0);
        assert_eq!(got.money, new.money);
        assert!(got.tags.is_empty());
        assert_eq!(got.numbers, new.numbers);
        assert_eq!(got.maybe_text, None);
        assert_eq!(got.maybe_int, Some(i32::MIN));
        assert_eq!(got.maybe_stamp, None);
    }
    // Through COPY too.
    let many: Vec<NewEveryType> = (2..=400).map(sample).collect();
    assert_eq!(EveryType::insert_many(t.db(), many).await.unwrap(), 399);
    let back = EveryType::get(t.db(), 400).await.unwrap();
    assert_eq!(back.text, new.text);
    assert_eq!(back.numbers, new.numbers);
    // Patch a nullable column to a value and back to NULL.
    let p = EveryType::patch(
        t.db(),
        1,
        EveryTypePatch {
            maybe_text: Some(Some("set".into())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(p.maybe_text.as_deref(), Some("set"));
    let p = EveryType::patch(
        t.db(),
        1,
        EveryTypePatch {
            maybe_text: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(p.maybe_text, None);
}

/// Every combination of seven fields, 128 shapes: the first 64 get a
/// statement of their own, the rest share the fixed one, and each patch
/// writes exactly its present fields either way.
#[tokio::test]
async fn every_patch_shape_writes_exactly_its_fields() {
    let t = TestDb::new().await;
    t.execute(EVERY_TYPE, &[]).await.unwrap();
    let mut expected = EveryType::insert(t.db(), sample(1)).await.unwrap();
    for mask in 0..128_u32 {
        let on = |bit: u32| mask & (1 << bit) != 0;
        let m = i32::try_from(mask).unwrap();
        let patch = EveryTypePatch {
            small: on(0).then(|| i16::try_from(m).unwrap()),
            big: on(1).then(|| i64::from(m) * 1_000_000_007),
            flag: on(2).then_some(mask % 3 == 0),
            text: on(3).then(|| format!("text {mask}")),
            maybe_text: on(4).then(|| (mask % 2 == 0).then(|| format!("maybe {mask}"))),
            maybe_int: on(5).then(|| (mask % 3 != 0).then_some(-m)),
            numbers: on(6).then(|| vec![i64::from(m), -1]),
            ..Default::default()
        };
        if let Some(v) = patch.small {
            expected.small = v;
        }
        if let Some(v) = patch.big {
            expected.big = v;
        }
        if let Some(v) = patch.flag {
            expected.flag = v;
        }
        if let Some(v) = &patch.text {
            expected.text.clone_from(v);
        }
        if let Some(v) = &patch.maybe_text {
            expected.maybe_text.clone_from(v);
        }
        if let Some(v) = patch.maybe_int {
            expected.maybe_int = v;
        }
        if let Some(v) = &patch.numbers {
            expected.numbers.clone_from(v);
        }
        let got = EveryType::patch(t.db(), 1, patch).await.unwrap();
        let recent = t.db().recent_queries();
        let newest = &recent.last().unwrap().sql;
        if mask == 0 {
            // An empty patch writes nothing: it reads the row.
            assert!(
                newest.starts_with("SELECT"),
                "an empty patch reads: {newest}"
            );
        }
        let sql = &recent
            .iter()
            .rev()
            .find(|q| q.sql.starts_with("UPDATE") || mask == 0)
            .unwrap()
            .sql;
        // The fixed statement binds a flag per column; a shape's own does not.
        let fixed = sql.contains("CASE WHEN");
        match mask {
            0 => assert!(
                !sql.starts_with("UPDATE"),
                "no UPDATE for an empty patch: {sql}"
            ),
            1..=32 => assert!(!fixed, "shape {mask} has its own statement: {sql}"),
            100.. => assert!(fixed, "shape {mask} is past the cap of 64: {sql}"),
            _ => {}
        }
        let stored = EveryType::get(t.db(), 1).await.unwrap();
        for row in [&got, &stored] {
            assert_eq!(
                (
                    row.small,
                    row.big,
                    row.flag,
                    &row.text,
                    &row.maybe_text,
                    row.maybe_int,
                    &row.numbers
                ),
                (
                    expected.small,
                    expected.big,
                    expected.flag,
                    &expected.text,
                    &expected.maybe_text,
                    expected.maybe_int,
                    &expected.numbers
                ),
                "after the patch of shape {mask:#09b}"
            );
            assert_eq!(row.money, expected.money, "absent fields stay");
        }
    }
    assert!(matches!(
        EveryType::patch(t.db(), 2, EveryTypePatch::default()).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_type_mismatch_is_a_decode_error_naming_the_column() {
    let t = TestDb::new().await;
    // `age` is text here, but the model says i32.
    t.execute(
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text, name text, age text,
           active bool, created_at timestamptz DEFAULT now(), deleted_at timestamptz)",
        &[],
    )
    .await
    .unwrap();
    t.execute(
        "INSERT INTO users (email, name, age, active) VALUES ('a', 'b', 'old', true)",
        &[],
    )
    .await
    .unwrap();
    let err = User::query().one(t.db()).await.unwrap_err();
    match err {
        Error::Decode { column, .. } => assert_eq!(column, "age"),
        other => panic!("{other:?}"),
    }
}

/// A caller that keeps its rows passes them borrowed: nothing to clone.
#[tokio::test]
async fn insert_and_insert_many_take_borrowed_rows() {
    let t = TestDb::new().await;
    users(&t).await;
    let one = new_user(1);
    let stored = User::insert(t.db(), &one).await.unwrap();
    assert_eq!(stored.email, one.email);
    let rows: Vec<NewUser> = (2..=5).map(new_user).collect();
    assert_eq!(User::insert_many(t.db(), &rows).await.unwrap(), 4);
    assert_eq!(User::insert_many(t.db(), &rows[..0]).await.unwrap(), 0);
    // The same rows are still the caller's, unchanged.
    assert_eq!(rows.len(), 4);
    assert_eq!(User::count(t.db()).await.unwrap(), 5);
    User::insert(t.db(), new_user(6)).await.unwrap();
}

/// A NUL in text or jsonb is refused before sending, naming the column,
/// on every path that binds one: insert, insert_many (both statements),
/// patch, a filter and raw SQL. Nothing is written.
#[tokio::test]
async fn a_nul_character_is_refused_before_sending_naming_the_column() {
    let t = TestDb::new().await;
    t.execute(EVERY_TYPE, &[]).await.unwrap();
    users(&t).await;
    let refused = |r: strata::Error, column: &str| {
        assert!(
            matches!(&r, Error::InvalidInput { reason } if reason.contains(&format!("`{column}`"))),
            "{column}: {r:?}"
        );
    };
    let bad_text = NewEveryType {
        text: "a\0b".into(),
        ..sample(1)
    };
    refused(
        EveryType::insert(t.db(), bad_text).await.unwrap_err(),
        "text",
    );
    let bad_maybe = NewEveryType {
        maybe_text: Some("\0".into()),
        ..sample(1)
    };
    refused(
        EveryType::insert(t.db(), bad_maybe).await.unwrap_err(),
        "maybe_text",
    );
    let bad_json = NewEveryType {
        json: serde_json::json!({"k": "x\u{0}"}),
        ..sample(1)
    };
    refused(
        EveryType::insert(t.db(), bad_json).await.unwrap_err(),
        "json",
    );
    let bad_tags = NewEveryType {
        tags: vec!["ok".into(), "x\0".into()],
        ..sample(1)
    };
    refused(
        EveryType::insert(t.db(), bad_tags).await.unwrap_err(),
        "tags",
    );
    // An escaped backslash before `u0000` is plain text, and is stored.
    let fine = NewEveryType {
        json: serde_json::json!({"k": "\\u0000"}),
        ..sample(1)
    };
    EveryType::insert(t.db(), fine).await.unwrap();

    // Several rows: the row is named too, through INSERT and COPY.
    let mut rows: Vec<NewUser> = (1..=3).map(new_user).collect();
    rows[1].email = "x\0@example.com".into();
    refused(
        User::insert_many(t.db(), &rows).await.unwrap_err(),
        "[1].email",
    );
    let mut many: Vec<NewUser> = (1..=i64::try_from(strata::COPY_THRESHOLD + 5).unwrap())
        .map(new_user)
        .collect();
    many[200].name = "n\0".into();
    refused(
        User::insert_many(t.db(), &many).await.unwrap_err(),
        "[200].name",
    );
    assert_eq!(User::count(t.db()).await.unwrap(), 0);

    let u = User::insert(t.db(), new_user(9)).await.unwrap();
    let patch = UserPatch {
        name: Some("J\0".into()),
        ..Default::default()
    };
    refused(User::patch(t.db(), u.id, patch).await.unwrap_err(), "name");
    assert_eq!(User::get(t.db(), u.id).await.unwrap().name, u.name);
    let err = User::query()
        .filter(User::EMAIL.eq("a\0"))
        .all(t.db())
        .await
        .unwrap_err();
    refused(err, "email");
    let err = t
        .execute("UPDATE users SET name = $1", &[&"\0"])
        .await
        .unwrap_err();
    refused(err, "name");
}

/// The NUL check reads the server's parameter types through domains,
/// arrays of jsonb and extension types such as citext: each value is
/// refused before sending, naming its column, and nothing is written.
#[tokio::test]
async fn a_nul_is_refused_through_domains_arrays_and_extension_types() {
    let t = TestDb::new().await;
    // In public, where it outlives this test's schema: extensions are per database.
    t.execute("CREATE EXTENSION IF NOT EXISTS citext SCHEMA public", &[])
        .await
        .unwrap();
    t.execute(
        "CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100)",
        &[],
    )
    .await
    .unwrap();
    t.execute(
        "CREATE TABLE odd (id int, d short_text, ci public.citext, j json, jb jsonb[])",
        &[],
    )
    .await
    .unwrap();
    let refused = |r: strata::Result<u64>, column: &str| {
        let err = r.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { reason } if reason.contains(&format!("`{column}`"))),
            "{column}: {err:?}"
        );
    };
    let nul = "a\0b".to_owned();
    // tokio-postgres binds `String` to text types only; a type that
    // accepts a domain over text (as `#[postgres(transparent)]` ones do) is
    // checked through the domain.
    refused(
        t.execute(
            "INSERT INTO odd (id, d) VALUES (1, $1)",
            &[&DomainText(nul.clone())],
        )
        .await,
        "d",
    );
    refused(
        t.execute("INSERT INTO odd (id, ci) VALUES (1, $1)", &[&nul])
            .await,
        "ci",
    );
    let json = serde_json::json!({"k": "x\u{0}"});
    // `json` keeps `\u0000` as written (only jsonb refuses it): stored.
    t.execute("INSERT INTO odd (id, j) VALUES (0, $1)", &[&json])
        .await
        .unwrap();
    refused(
        t.execute(
            "INSERT INTO odd (id, jb) VALUES (1, $1)",
            &[&vec![serde_json::json!(1), json.clone()]],
        )
        .await,
        "jb",
    );
    let n: i64 = t
        .query_one("SELECT count(*) FROM odd", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "nothing was written but the json row");
    // Clean values of the same types go through.
    t.execute(
        "INSERT INTO odd (id, d, ci, j, jb) VALUES (1, $1, $2, $3, $4)",
        &[
            &DomainText("fine".to_owned()),
            &"Case".to_owned(),
            &serde_json::json!({"k": "\\u0000"}),
            &vec![serde_json::json!({"k": 1})],
        ],
    )
    .await
    .unwrap();
}

/// Text bound to a domain over text.
#[derive(Debug)]
struct DomainText(String);

impl tokio_postgres::types::ToSql for DomainText {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        matches!(ty.kind(), tokio_postgres::types::Kind::Domain(base) if *base == tokio_postgres::types::Type::TEXT)
    }

    tokio_postgres::types::to_sql_checked!();
}
