//! Every rewrite of a statement's AST, in one place, in the order they run:
//!
//! 1. [`bind`]: extended-protocol parameters become typed literals (at
//!    Execute; binary vectors stay placeholders for the direct KNN path).
//! 2. (query only) uncorrelated subqueries that give a distance operator
//!    its query vector run first and are put in as literals
//!    (`sql::query`, which needs to execute them).
//! 3. [`for_planning`], just before DataFusion plans the statement:
//!    result columns named as PostgreSQL names them ([`columns`]), an
//!    array constructor's untyped literals typed as its typed element
//!    ([`array_literals`]), array values written as text parsed
//!    ([`array_text`]), casts
//!    to vector types as `grape_cast` calls ([`vector_casts`]), and the
//!    names of the `pg_catalog` relations GrapeDB answers
//!    ([`pg_catalog_names`]), their `tableoid` ([`system_columns`]), subqueries over catalogs that are always
//!    empty as their values over no rows ([`empty_catalogs`]),
//!    `ARRAY(subquery)` as an aggregate
//!    subquery ([`array_subquery`]), a correlated scalar subquery's
//!    value as an aggregate ([`scalar_subquery`]), and a one-column set-returning function's
//!    column named after its table alias ([`table_functions`]), and
//!    `SIMILAR TO` with a literal pattern as a regex match
//!    ([`similar_to`]); then
//!    casts to enum types as `grape_enum` calls ([`enum_casts`], which
//!    reads the catalog, after the columns are named).
//!
//! The token-level rewrite that gives pgvector's operators PostgreSQL's
//! precedence happens while parsing (`sql::parse`).

pub mod array_literals;
pub mod array_subquery;
pub mod array_text;
pub mod ast;
pub mod at_time_zone;
pub mod bind;
pub mod columns;
pub mod empty_catalogs;
pub mod enum_casts;
pub mod numbers;
pub mod options_table;
pub mod order_subqueries;
pub mod pg_catalog_names;
pub mod scalar_subquery;
pub mod similar_to;
pub mod system_columns;
pub mod table_functions;
pub mod vector_casts;
pub mod views;

use datafusion::sql::sqlparser::ast::Statement;

use crate::error::PgResult;

/// The rewrites a statement gets before DataFusion plans it (step 3).
pub fn for_planning(stmt: &mut Statement) -> PgResult<()> {
    options_table::rewrite(stmt);
    columns::name_columns(stmt);
    order_subqueries::in_subqueries_as_arrays(stmt);
    order_subqueries::rewrite(stmt);
    array_literals::rewrite(stmt);
    array_text::rewrite(stmt)?;
    vector_casts::rewrite(stmt)?;
    pg_catalog_names::rewrite(stmt);
    system_columns::rewrite(stmt);
    empty_catalogs::rewrite(stmt);
    array_subquery::rewrite(stmt);
    scalar_subquery::rewrite(stmt);
    table_functions::rewrite(stmt);
    similar_to::rewrite(stmt);
    at_time_zone::rewrite(stmt);
    numbers::rewrite(stmt);
    Ok(())
}
