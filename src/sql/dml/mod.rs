//! INSERT, UPDATE and DELETE.
//!
//! DataFusion plans the rows a statement produces (the VALUES/SELECT of an
//! INSERT with defaults and casts; for UPDATE/DELETE a SELECT over the target
//! table that also returns each row's key and stored bytes). This module turns
//! those rows into [`RowWrite`]s with preconditions, checks constraints, keeps
//! indexes in step, and evaluates RETURNING.

mod common;
mod delete;
mod fk;
mod insert;
mod lock;
mod row_rules;
mod stream;
mod update;

pub use common::{
    entry_write, index_entry, lock_table, resolve_table, returning_schema, row_change_writes,
    row_text, run_sql, secondary,
};
pub use delete::delete;
pub use fk::{
    check_pending, statement_involved as writes_foreign_keys,
    validate_existing as validate_foreign_key,
};
pub use insert::{insert, plain_insert};
pub use lock::lock_rows;
pub use row_rules::{RowRules, apply as apply_row_rules, eval_rows, plan_row_exprs};
pub use update::update;
