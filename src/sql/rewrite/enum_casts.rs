//! Casts to an enum type (`'ok'::mood`, `CAST(x AS public.mood)`) become
//! `grape_enum('schema.name', x, label, ...)` calls, which check the
//! labels and type the value as the enum (see `sql::enums`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType as SqlDataType, Expr, Statement, Value, visit_expressions_mut,
};

use crate::catalog::{Catalog, EnumType};
use crate::sql::enums::ENUM_FN;

/// The enum type a cast's type names, if it names one.
pub fn enum_target<'a>(
    dt: &SqlDataType,
    cat: &'a Catalog,
    search_path: &[String],
) -> Option<&'a EnumType> {
    let SqlDataType::Custom(name, mods) = dt else {
        return None;
    };
    if !mods.is_empty() {
        return None;
    }
    let parts = crate::sql::object_parts(name);
    let (schema, name) = crate::sql::parse::schema_and_name(&parts)?;
    cat.resolve_type(schema, name, search_path).map(|(_, t)| t)
}

/// Rewrite the statement's casts to enum types.
pub fn rewrite(stmt: &mut Statement, cat: &Catalog, search_path: &[String]) {
    if !cat.has_enums() {
        return;
    }
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            if let Some(t) = enum_target(data_type, cat, search_path) {
                let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                *e = call(t, inner);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn call(t: &EnumType, value: Expr) -> Expr {
    let mut args = vec![
        super::ast::text_literal(&format!("{}.{}", t.schema, t.name)),
        value,
    ];
    args.extend(t.labels.iter().map(|l| super::ast::text_literal(l)));
    super::ast::call(ENUM_FN, args)
}
