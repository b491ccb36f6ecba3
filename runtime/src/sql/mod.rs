//! Reading raw SQL: a real tokenizer ([`lex`]), where statements end
//! ([`split`]) and what a statement can do to its connection ([`classify`]). Every guard on raw SQL (transaction
//! control, session state, declared reads) asks these two, never the first
//! keyword of the text.

mod catalog;
pub(crate) mod classify;
mod collection;
pub(crate) mod ident;
pub(crate) mod lex;
pub(crate) mod split;
pub(crate) mod values;

pub(crate) use classify::{Class, Sql, classify};
pub(crate) use collection::collection;
pub(crate) use lex::first_word as operation;
