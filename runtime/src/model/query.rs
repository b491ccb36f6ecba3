//! The query builder.
use std::marker::PhantomData;
/// A query.
#[derive(Debug)]
pub struct Query<M>(PhantomData<M>);
/// A page.
#[derive(Debug)]
pub struct Page<M>(PhantomData<M>);
/// A cursor.
#[derive(Debug)]
pub struct Cursor;
