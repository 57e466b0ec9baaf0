//! CHECK constraints: PostgreSQL's names for them, adding one (old rows
//! checked unless NOT VALID), VALIDATE, DROP and RENAME CONSTRAINT, and
//! keeping their expressions right when a column is renamed.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    ConstraintReferenceMatchKind, DeferrableInitial, Expr, ForeignKeyConstraint, Ident,
    ReferentialAction, visit_expressions, visit_expressions_mut,
};

use super::common::*;
use crate::catalog::{Catalog, Check, Column, ColumnId, FkAction, ForeignKey, Table};
use crate::error::{PgError, PgResult, codes};
use crate::sql::Engine;
use crate::sql::session::Session;
use crate::types::text::quote_ident;

pub(super) use crate::sql::parse::parse_expr;

/// The columns (of `columns`) an expression names, each once, in the
/// order it first names them.
pub(super) fn referenced_columns(columns: &[Column], expr: &Expr) -> Vec<ColumnId> {
    let mut out = Vec::new();
    let _ = visit_expressions(expr, |e| {
        let name = match e {
            Expr::Identifier(i) => Some(ident_name(i)),
            Expr::CompoundIdentifier(parts) => parts.last().map(ident_name),
            _ => None,
        };
        if let Some(c) = name.and_then(|n| columns.iter().find(|c| c.name == n)) {
            if !out.contains(&c.id) {
                out.push(c.id);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// The name PostgreSQL gives an unnamed constraint: `table_col1_col2_label`
/// (`table_column_check` when a CHECK reads one column, else
/// `table_check`; `table_cols_fkey`); a number is appended while the name
/// is taken in the schema (`taken` adds the names chosen earlier in the
/// same statement).
pub(super) fn constraint_name(
    cat: &Catalog,
    schema: &str,
    table: &str,
    columns: &[&str],
    label: &str,
    taken: &[String],
) -> String {
    let mut base = table.to_string();
    for c in columns {
        base.push('_');
        base.push_str(c);
    }
    let in_use = |n: &str| {
        taken.iter().any(|t| t == n) || cat.tables_in(schema).any(|t| t.has_constraint(n))
    };
    let mut n = 0;
    loop {
        let label = if n == 0 {
            label.to_string()
        } else {
            format!("{label}{n}")
        };
        // PostgreSQL shortens the table and column part to fit 63 bytes.
        let mut name = base.clone();
        while name.len() + label.len() + 1 > 63 {
            name.pop();
        }
        let name = format!("{name}_{label}");
        if !in_use(&name) {
            return name;
        }
        n += 1;
    }
}

/// A CHECK constraint for `columns` from its (optional) name and
/// expression text; `taken` are names given earlier in the statement.
pub(super) fn new_check(
    cat: &Catalog,
    schema: &str,
    table: &str,
    columns: &[Column],
    name: Option<String>,
    expr_sql: &str,
    taken: &[String],
) -> PgResult<Check> {
    let expr = parse_expr(expr_sql)?;
    let cols = referenced_columns(columns, &expr);
    let name = match name {
        Some(n) => {
            if taken.contains(&n) {
                return Err(duplicate(&n, table));
            }
            n
        }
        None => {
            let single: Vec<&str> = match cols.as_slice() {
                [one] => columns
                    .iter()
                    .filter(|c| c.id == *one)
                    .map(|c| c.name.as_str())
                    .collect(),
                _ => Vec::new(),
            };
            constraint_name(cat, schema, table, &single, "check", taken)
        }
    };
    Ok(Check {
        name,
        expr: expr.to_string(),
        columns: cols,
        validated: true,
    })
}

fn duplicate(name: &str, table: &str) -> PgError {
    PgError::new(
        codes::DUPLICATE_OBJECT,
        format!("constraint \"{name}\" for relation \"{table}\" already exists"),
    )
}

fn undefined(name: &str, table: &str) -> PgError {
    PgError::new(
        codes::UNDEFINED_OBJECT,
        format!("constraint \"{name}\" of relation \"{table}\" does not exist"),
    )
}

/// A FOREIGN KEY of `me` (a table being created, or altered) from its
/// definition; `local` names its key columns (the column's own name for
/// a column constraint).
pub(super) fn new_foreign_key(
    cat: &Catalog,
    search_path: &[String],
    me: &Table,
    def: &ForeignKeyConstraint,
    local: &[String],
    taken: &[String],
) -> PgResult<ForeignKey> {
    if matches!(
        def.match_kind,
        Some(ConstraintReferenceMatchKind::Full | ConstraintReferenceMatchKind::Partial)
    ) {
        return Err(PgError::unsupported(
            "MATCH FULL and MATCH PARTIAL foreign keys",
        ));
    }
    let parts = crate::sql::object_parts(&def.foreign_table);
    let is_me = match parts.as_slice() {
        [n] => {
            *n == me.name
                && cat
                    .resolve(None, n, search_path)
                    .is_none_or(|t| t.id == me.id)
        }
        [s, n] | [_, s, n] => *n == me.name && *s == me.schema,
        _ => false,
    };
    let parent: &Table = if is_me {
        me
    } else {
        let (schema, name) = crate::sql::parse::schema_and_name(&parts)
            .ok_or_else(|| PgError::syntax("improper qualified name"))?;
        cat.resolve(schema, name, search_path)
            .ok_or_else(|| PgError::undefined_table(name))?
    };
    let column_of = |t: &Table, n: &str| -> PgResult<u32> {
        t.column(n).map(|c| c.id).ok_or_else(|| {
            PgError::new(
                codes::UNDEFINED_COLUMN,
                format!("column \"{n}\" referenced in foreign key constraint does not exist"),
            )
        })
    };
    let columns: Vec<u32> = local
        .iter()
        .map(|n| column_of(me, n))
        .collect::<PgResult<_>>()?;
    let ref_columns: Vec<u32> = if def.referred_columns.is_empty() {
        if parent.primary_key.is_empty() {
            return Err(PgError::new(
                "42830",
                format!(
                    "there is no primary key for referenced table \"{}\"",
                    parent.name
                ),
            ));
        }
        parent.primary_key.clone()
    } else {
        def.referred_columns
            .iter()
            .map(|i| column_of(parent, &ident_name(i)))
            .collect::<PgResult<_>>()?
    };
    if columns.len() != ref_columns.len() {
        return Err(PgError::new(
            "42830",
            "number of referencing and referenced columns for foreign key disagree",
        ));
    }
    let keyed = parent.indexes.iter().any(|i| {
        i.unique && i.vector.is_none() && !i.building && same_set(&i.columns, &ref_columns)
    });
    if !keyed {
        return Err(PgError::new(
            "42830",
            format!(
                "there is no unique constraint matching given keys for referenced table \"{}\"",
                parent.name
            ),
        ));
    }
    let local_names: Vec<&str> = local.iter().map(String::as_str).collect();
    let name = match &def.name {
        Some(n) => {
            let n = ident_name(n);
            if taken.contains(&n) || me.has_constraint(&n) {
                return Err(duplicate(&n, &me.name));
            }
            n
        }
        None => constraint_name(cat, &me.schema, &me.name, &local_names, "fkey", taken),
    };
    for (c, r) in columns.iter().zip(&ref_columns) {
        let (c, r) = (
            me.column_by_id(*c).unwrap(),
            parent.column_by_id(*r).unwrap(),
        );
        if type_family(&c.ty) != type_family(&r.ty) {
            return Err(PgError::new(
                codes::DATATYPE_MISMATCH,
                format!("foreign key constraint \"{name}\" cannot be implemented"),
            )
            .with_detail(format!(
                "Key columns \"{}\" and \"{}\" are of incompatible types: {} and {}.",
                c.name,
                r.name,
                c.ty.pg_name(),
                r.ty.pg_name()
            )));
        }
    }
    let action = |a: &Option<ReferentialAction>| match a {
        None | Some(ReferentialAction::NoAction) => FkAction::NoAction,
        Some(ReferentialAction::Restrict) => FkAction::Restrict,
        Some(ReferentialAction::Cascade) => FkAction::Cascade,
        Some(ReferentialAction::SetNull) => FkAction::SetNull,
        Some(ReferentialAction::SetDefault) => FkAction::SetDefault,
    };
    let deferred = def
        .characteristics
        .as_ref()
        .is_some_and(|c| c.initially == Some(DeferrableInitial::Deferred));
    let deferrable = deferred
        || def
            .characteristics
            .as_ref()
            .is_some_and(|c| c.deferrable == Some(true));
    Ok(ForeignKey {
        name,
        columns,
        ref_table: parent.id,
        ref_columns,
        on_delete: action(&def.on_delete),
        on_update: action(&def.on_update),
        deferrable,
        deferred,
        validated: true,
    })
}

/// Types a key may compare across: integers with integers, strings with
/// strings, any other type with itself.
fn type_family(t: &crate::types::SqlType) -> String {
    use crate::types::SqlType as T;
    match t {
        T::Int2 | T::Int4 | T::Int8 => "integer".into(),
        T::Text | T::Varchar(_) | T::Char(_) => "text".into(),
        other => other.pg_name(),
    }
}

fn same_set(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// ALTER TABLE ADD [CONSTRAINT name] FOREIGN KEY ... [NOT VALID]: the rows
/// already there must reference existing rows, unless NOT VALID.
pub(super) async fn add_foreign_key(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    def: &ForeignKeyConstraint,
    not_valid: bool,
) -> PgResult<()> {
    let cat = session.catalog();
    let local: Vec<String> = def.columns.iter().map(ident_name).collect();
    let mut fk = new_foreign_key(&cat, &session.search_path(), table, def, &local, &[])?;
    let parent = if fk.ref_table == table.id {
        (**table).clone()
    } else {
        cat.tables
            .get(&fk.ref_table)
            .cloned()
            .ok_or_else(|| PgError::internal("referenced table is gone"))?
    };
    // The referenced table keeps its key while this one is checked.
    if parent.id != table.id {
        lock_for_ddl(
            engine,
            session,
            &[parent.schema.clone(), parent.name.clone()],
        )
        .await?;
    }
    if not_valid {
        fk.validated = false;
    } else {
        crate::sql::dml::validate_foreign_key(engine, session, table, &parent, &fk).await?;
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        if t.has_constraint(&fk.name) {
            return Err(duplicate(&fk.name, &t.name));
        }
        t.foreign_keys.push(fk);
        Ok(())
    })
    .await
}

/// A generation expression may not read a generated column (42P17).
pub(super) fn check_generated(columns: &[Column]) -> PgResult<()> {
    for c in columns {
        let Some(g) = &c.generated else { continue };
        let reads = referenced_columns(columns, &parse_expr(g)?);
        if let Some(other) = columns
            .iter()
            .find(|o| o.generated.is_some() && reads.contains(&o.id))
        {
            return Err(PgError::new(
                "42P17",
                format!(
                    "cannot use generated column \"{}\" in column generation expression",
                    other.name
                ),
            )
            .with_detail("A generated column cannot reference another generated column."));
        }
    }
    Ok(())
}

/// Plan the table's CHECKs and generated columns as the write path will:
/// a bad expression (unknown column, not boolean, subquery) fails the DDL.
pub(super) async fn validate_rules(
    engine: &Engine,
    session: &Session,
    table: &Table,
) -> PgResult<()> {
    check_generated(&table.columns)?;
    crate::sql::dml::RowRules::compile(engine, session, table).await?;
    Ok(())
}

/// Whether a stored row makes `expr` false (old rows, as ADD CONSTRAINT
/// and VALIDATE CONSTRAINT check them).
async fn violated(engine: &Engine, session: &Session, table: &Table, expr: &str) -> PgResult<bool> {
    let sql = format!(
        "SELECT 1 FROM {}.{} WHERE ({expr}) IS FALSE LIMIT 1",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    Ok(!crate::sql::dml::run_sql(engine, session, &sql)
        .await?
        .iter()
        .all(|b| b.num_rows() == 0))
}

/// ALTER TABLE ADD [CONSTRAINT name] CHECK (expr) [NOT VALID].
pub(super) async fn add_check(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    name: Option<&Ident>,
    expr: &Expr,
    not_valid: bool,
) -> PgResult<()> {
    let name = name.map(ident_name);
    if let Some(n) = &name {
        if table.has_constraint(n) {
            return Err(duplicate(n, &table.name));
        }
    }
    let cat = session.catalog();
    let mut check = new_check(
        &cat,
        &table.schema,
        &table.name,
        &table.columns,
        name,
        &expr.to_string(),
        &[],
    )?;
    let mut with = (**table).clone();
    with.checks.push(check.clone());
    validate_rules(engine, session, &with).await?;
    if not_valid {
        check.validated = false;
    } else if violated(engine, session, table, &check.expr).await? {
        return Err(violated_error(&check.name, &table.name));
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        if t.has_constraint(&check.name) {
            return Err(duplicate(&check.name, &t.name));
        }
        t.checks.push(check);
        Ok(())
    })
    .await
}

fn violated_error(name: &str, table: &str) -> PgError {
    PgError::new(
        codes::CHECK_VIOLATION,
        format!("check constraint \"{name}\" of relation \"{table}\" is violated by some row"),
    )
}

/// ALTER TABLE VALIDATE CONSTRAINT: check the old rows of a NOT VALID one.
pub(super) async fn validate_check(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    name: &Ident,
) -> PgResult<()> {
    let n = ident_name(name);
    if let Some(fk) = table.foreign_keys.iter().find(|f| f.name == n) {
        return validate_fk(engine, session, table, fk.clone()).await;
    }
    let Some(check) = table.checks.iter().find(|c| c.name == n) else {
        if table.has_constraint(&n) {
            return Ok(()); // PRIMARY KEY and UNIQUE are always valid
        }
        return Err(undefined(&n, &table.name));
    };
    if check.validated {
        return Ok(());
    }
    if violated(engine, session, table, &check.expr).await? {
        return Err(violated_error(&n, &table.name));
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        if let Some(c) = t.checks.iter_mut().find(|c| c.name == n) {
            c.validated = true;
        }
        Ok(())
    })
    .await
}

async fn validate_fk(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    fk: ForeignKey,
) -> PgResult<()> {
    if fk.validated {
        return Ok(());
    }
    let cat = session.catalog();
    let parent = cat
        .tables
        .get(&fk.ref_table)
        .cloned()
        .ok_or_else(|| PgError::internal("referenced table is gone"))?;
    crate::sql::dml::validate_foreign_key(engine, session, table, &parent, &fk).await?;
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        if let Some(f) = t.foreign_keys.iter_mut().find(|f| f.name == fk.name) {
            f.validated = true;
        }
        Ok(())
    })
    .await
}

/// ALTER TABLE DROP CONSTRAINT for a CHECK or FOREIGN KEY (`Ok(false)`:
/// neither).
pub(super) async fn drop_check(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    name: &str,
) -> PgResult<bool> {
    if !table.checks.iter().any(|c| c.name == name)
        && !table.foreign_keys.iter().any(|f| f.name == name)
    {
        return Ok(false);
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        t.checks.retain(|c| c.name != name);
        t.foreign_keys.retain(|f| f.name != name);
        Ok(())
    })
    .await?;
    Ok(true)
}

/// ALTER TABLE RENAME CONSTRAINT (a CHECK, or the index of a PRIMARY KEY
/// or UNIQUE constraint, which takes the new name as PostgreSQL's does).
pub(super) async fn rename_constraint(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    old: &Ident,
    new: &Ident,
) -> PgResult<()> {
    let (old, new) = (ident_name(old), ident_name(new));
    if !table.has_constraint(&old) {
        return Err(undefined(&old, &table.name));
    }
    if table.has_constraint(&new) {
        return Err(duplicate(&new, &table.name));
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        for c in t.checks.iter_mut().filter(|c| c.name == old) {
            c.name = new.clone();
        }
        for i in t.indexes.iter_mut().filter(|i| i.name == old) {
            i.name = new.clone();
        }
        for f in t.foreign_keys.iter_mut().filter(|f| f.name == old) {
            f.name = new.clone();
        }
        Ok(())
    })
    .await
}

/// `expr_sql` with column `old` renamed to `new`.
pub(super) fn rename_column_in(expr_sql: &str, old: &str, new: &str) -> PgResult<String> {
    let mut expr = parse_expr(expr_sql)?;
    let _ = visit_expressions_mut(&mut expr, |e| {
        let ident = match e {
            Expr::Identifier(i) => Some(i),
            Expr::CompoundIdentifier(parts) => parts.last_mut(),
            _ => None,
        };
        if let Some(i) = ident {
            if ident_name(i) == old {
                *i = Ident::with_quote('"', new);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(expr.to_string())
}
