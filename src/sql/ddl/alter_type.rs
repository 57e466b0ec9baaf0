//! ALTER TABLE ... ALTER COLUMN ... [SET DATA] TYPE t [USING expr]: every
//! row is read, its new value computed (the USING expression, else the
//! column, cast to the new type), checked as a write of the new table
//! (NOT NULL, lengths, enum labels, CHECKs) and stored again with its
//! index entries, in the statement's transaction with the catalog change.

use datafusion::sql::sqlparser::ast::{DataType, Expr};

use crate::catalog::Table;
use crate::dataplane::rows::WriteError;
use crate::encoding::{decode_row, table_prefix};
use crate::error::{PgError, PgResult, codes};
use crate::sql::Engine;
use crate::sql::dml::{RowRules, apply_row_rules, eval_rows, plan_row_exprs, row_change_writes};
use crate::sql::session::Session;
use crate::types::SqlType;
use crate::types::text::quote_ident;

use super::common::{change, column_type, table_mut, visible_stored_rows};

fn is_string(t: &SqlType) -> bool {
    matches!(t, SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_))
}

pub(super) async fn alter_column_type(
    engine: &Engine,
    session: &mut Session,
    table: &Table,
    column: &str,
    data_type: &DataType,
    using: Option<&Expr>,
) -> PgResult<()> {
    let pos = table
        .column_index(column)
        .ok_or_else(|| PgError::undefined_column(column))?;
    let col = table.columns[pos].clone();
    let cat = session.catalog();
    let (new_ty, serial) = column_type(&cat, &session.search_path(), data_type)?;
    if serial {
        return Err(PgError::new(
            codes::UNDEFINED_OBJECT,
            format!("type \"{data_type}\" does not exist"),
        ));
    }
    let refuse = |why: String| Err(PgError::unsupported(why));
    if table
        .indexes
        .iter()
        .any(|i| i.vector.as_ref().is_some_and(|v| v.column == col.id))
    {
        return refuse(format!(
            "ALTER COLUMN TYPE of column \"{column}\", which a vector index uses (drop the index, alter, create it again)"
        ));
    }
    let in_fk = table
        .foreign_keys
        .iter()
        .any(|f| f.columns.contains(&col.id))
        || cat
            .referencing(table.id)
            .any(|(_, f)| f.ref_columns.contains(&col.id));
    if in_fk {
        return refuse(format!(
            "ALTER COLUMN TYPE of column \"{column}\", which a foreign key uses (drop the constraint, alter, add it again)"
        ));
    }
    if col.generated.is_some() {
        return refuse(format!(
            "ALTER COLUMN TYPE of generated column \"{column}\""
        ));
    }
    // As PostgreSQL, a view reading the column keeps its type.
    for r in cat.relations.values() {
        if let crate::catalog::Relation::View(v) = r {
            let reads = v.depends_on.contains(&table.id) && mentions(&v.query, column);
            if reads {
                return Err(PgError::new(
                    codes::FEATURE_NOT_SUPPORTED,
                    "cannot alter type of a column used by a view or rule",
                )
                .with_detail(format!(
                    "rule _RETURN on view {} depends on column \"{column}\"",
                    v.name
                )));
            }
        }
    }
    let expr = match using {
        Some(e) => e.to_string(),
        None if is_string(&col.ty)
            && !is_string(&new_ty)
            && !matches!(new_ty, SqlType::Enum { .. }) =>
        {
            return Err(PgError::new(
                codes::DATATYPE_MISMATCH,
                format!(
                    "column \"{column}\" cannot be cast automatically to type {}",
                    new_ty.pg_name()
                ),
            )
            .with_hint(format!(
                "You might need to specify \"USING {column}::{}\".",
                new_ty.pg_name()
            )));
        }
        None if new_ty == col.ty => return Ok(()),
        None => quote_ident(column),
    };
    let cast = format!("CAST(({expr}) AS {})", new_ty.cast_name());
    let compiled = Box::pin(plan_row_exprs(engine, session, table, &[cast])).await?;
    let (convert, _) = compiled
        .into_iter()
        .next()
        .ok_or_else(|| PgError::internal("no conversion planned"))?;

    let mut new_table = table.clone();
    new_table.columns[pos].ty = new_ty.clone();
    let stored = visible_stored_rows(engine, session, table).await?;
    let old_rows: Vec<Vec<crate::types::Datum>> = stored
        .iter()
        .map(|(_, v)| decode_row(table, v))
        .collect::<PgResult<_>>()?;
    let values = eval_rows(table, &convert, &old_rows)?;

    change(engine, session, |cat| {
        let t = table_mut(cat, table.id, &table.name)?;
        if t.columns.get(pos).map(|c| c.id) != Some(col.id) {
            return Err(PgError::new(
                codes::SERIALIZATION_FAILURE,
                format!("table \"{}\" was changed concurrently", table.name),
            ));
        }
        t.columns[pos].ty = new_ty.clone();
        Ok(())
    })
    .await?;
    let rules = Box::pin(RowRules::compile(engine, session, &new_table)).await?;
    let mut writes = Vec::new();
    for (((key, bytes), old_row), value) in stored.into_iter().zip(&old_rows).zip(values) {
        let mut new_row = old_row.clone();
        new_row[pos] = value;
        apply_row_rules(rules.as_ref(), &new_table, &mut new_row)?;
        let (_, row_writes) =
            row_change_writes((table, &new_table), key, bytes, old_row, &new_row)?;
        writes.extend(row_writes);
    }
    match engine.write(session, writes).await {
        Ok(()) => Ok(()),
        // Values the new type makes equal in a unique index (or key).
        Err(WriteError::Conflict(c)) => {
            let name = new_table
                .indexes
                .iter()
                .find(|i| c.key.starts_with(&table_prefix(i.id)))
                .map(|i| i.name.clone())
                .unwrap_or_else(|| format!("{}_pkey", table.name));
            Err(PgError::new(
                codes::UNIQUE_VIOLATION,
                format!("could not create unique index \"{name}\""),
            ))
        }
        Err(WriteError::Failed(e)) => Err(e),
    }
}

/// Whether SQL text names `column` as an identifier (a word of it, outside
/// string literals): views that read a column keep it from changing type.
fn mentions(sql: &str, column: &str) -> bool {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map(|tokens| {
            tokens.iter().any(|t| match t {
                Token::Word(w) => {
                    if w.quote_style.is_some() {
                        w.value == column
                    } else {
                        w.value.to_lowercase() == column
                    }
                }
                _ => false,
            })
        })
        .unwrap_or(true)
}
