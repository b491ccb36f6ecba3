//! Models shared by the model tests, with the DDL each needs.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use strata::{Json, Model};
use uuid::Uuid;

/// The DESIGN's user: generated key, unique email, soft delete.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "users", soft_delete)]
pub(crate) struct User {
    #[model(primary_key, generated)]
    pub id: i64,
    #[model(unique)]
    pub email: String,
    pub name: String,
    pub age: i32,
    pub active: bool,
    #[model(generated)]
    pub created_at: DateTime<Utc>,
    #[model(deleted_at)]
    pub deleted_at: Option<DateTime<Utc>>,
}

pub(crate) const USERS: &str = "CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    age int NOT NULL CHECK (age >= 0),
    active bool NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz)";

pub(crate) fn new_user(i: i64) -> NewUser {
    NewUser {
        email: format!("user{i}@example.com"),
        name: format!("User {i}"),
        age: i32::try_from(i % 90).unwrap(),
        active: i % 2 == 0,
    }
}

/// Client-chosen key, optimistic locking, touched timestamp.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "docs")]
pub(crate) struct Doc {
    pub id: Uuid,
    pub title: String,
    pub body: Option<String>,
    #[model(version)]
    pub version: i32,
    #[model(updated_at)]
    pub updated_at: DateTime<Utc>,
}

pub(crate) const DOCS: &str = "CREATE TABLE docs (
    id uuid PRIMARY KEY,
    title text NOT NULL,
    body text,
    version int NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now())";

/// A typed JSON payload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Meta {
    pub tags: Vec<String>,
    pub score: f64,
}

/// One column of every supported type.
#[derive(Model, Debug, Clone)]
#[model(table = "every_type")]
pub(crate) struct EveryType {
    pub id: i32,
    pub tiny: i8,
    pub small: i16,
    pub big: i64,
    pub real: f32,
    pub double: f64,
    pub flag: bool,
    pub text: String,
    pub bytes: Vec<u8>,
    pub uid: Uuid,
    pub day: NaiveDate,
    pub clock: NaiveTime,
    pub stamp: NaiveDateTime,
    pub stamptz: DateTime<Utc>,
    pub json: serde_json::Value,
    pub typed: Json<Meta>,
    pub money: Decimal,
    pub tags: Vec<String>,
    pub numbers: Vec<i64>,
    pub maybe_text: Option<String>,
    pub maybe_int: Option<i32>,
    pub maybe_stamp: Option<DateTime<Utc>>,
}

pub(crate) const EVERY_TYPE: &str = "CREATE TABLE every_type (
    id int PRIMARY KEY, tiny \"char\" NOT NULL, small int2 NOT NULL, big int8 NOT NULL,
    real float4 NOT NULL, double float8 NOT NULL, flag bool NOT NULL, text text NOT NULL,
    bytes bytea NOT NULL, uid uuid NOT NULL, day date NOT NULL, clock time NOT NULL,
    stamp timestamp NOT NULL, stamptz timestamptz NOT NULL, json jsonb NOT NULL,
    typed jsonb NOT NULL, money numeric NOT NULL, tags text[] NOT NULL, numbers int8[] NOT NULL,
    maybe_text text, maybe_int int, maybe_stamp timestamptz)";

/// A cached model: serde derives make it storable in the cache tiers.
#[derive(Model, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[model(table = "products", cache(ttl_secs = 60))]
pub(crate) struct Product {
    pub id: i64,
    pub name: String,
    pub price: i32,
}

pub(crate) const PRODUCTS: &str =
    "CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, price int NOT NULL)";

pub(crate) fn product(id: i64) -> NewProduct {
    NewProduct {
        id,
        name: format!("product {id}"),
        price: 100,
    }
}
