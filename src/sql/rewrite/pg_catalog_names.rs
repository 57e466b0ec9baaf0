//! Names of the `pg_catalog` relations GrapeDB answers, and `::regtype`
//! and `::regclass`.

/// Unqualified `pg_type` (and other `pg_*` catalogs we answer) read
/// `pg_catalog`, first on PostgreSQL's search path; `x::regtype` becomes
/// `grape_regtype(x)`.
pub fn rewrite(stmt: &mut datafusion::sql::sqlparser::ast::Statement) {
    use datafusion::sql::sqlparser::ast::{
        DataType as D, Expr, Ident, visit_expressions_mut, visit_relations_mut,
    };
    use std::ops::ControlFlow;
    // pg_index's int2vector columns are read as arrays only in statements
    // that read pg_index (a user's column may be named indkey).
    let mut reads_pg_index = false;
    let mut reads_pg_type = false;
    let _ = visit_relations_mut(stmt, |name| {
        if let Some(i) = name.0.last().and_then(|p| p.as_ident()) {
            reads_pg_index |= i.value.eq_ignore_ascii_case("pg_index");
            reads_pg_type |= i.value.eq_ignore_ascii_case("pg_type");
        }
        if let [part] = name.0.as_slice()
            && let Some(ident) = part.as_ident()
        {
            // `"pg_class"` quoted is pg_class too (HoneySQL quotes every
            // name); an unquoted name folds to lower case.
            let n = match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_lowercase(),
            };
            if crate::pg_catalog::is_table(&n) {
                name.0.insert(
                    0,
                    datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(Ident::new(
                        "pg_catalog",
                    )),
                );
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions_mut(stmt, |e| {
        tool_syntax(e, reads_pg_index, reads_pg_type);
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            let name = match data_type {
                D::Custom(n, _) => Some(n.to_string()),
                D::Regclass => Some("regclass".to_string()),
                _ => None,
            };
            if let Some(n) = name {
                let n = n.to_lowercase();
                let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
                // `'t'::regclass` is the relation's OID, `oid::regclass`
                // its name.
                // `x::regclass::oid`: the OID, whatever `x` is.
                if n == "oid"
                    && let Expr::Function(f) = expr.as_mut()
                    && f.name.to_string() == "grape_regclass_name"
                {
                    f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new(
                        "grape_regclass",
                    )]);
                }
                // regproc: a function's name, as pg_type's typinput and
                // the other regproc columns hold it (no pg_proc OIDs yet):
                // `'pg_catalog.array_in'::regproc` is 'array_in'.
                if n == "regproc" {
                    let inner = std::mem::replace(
                        expr.as_mut(),
                        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                    );
                    *e = match text_of(&inner) {
                        Some(t) => {
                            Expr::value(datafusion::sql::sqlparser::ast::Value::SingleQuotedString(
                                t.strip_prefix("pg_catalog.").unwrap_or(&t).to_string(),
                            ))
                        }
                        None => inner,
                    };
                    return ControlFlow::Continue(());
                }
                let function = match n {
                    "regtype" if is_text(expr) => Some("to_regtype"),
                    "regtype" => Some("grape_regtype"),
                    "regnamespace" if is_text(expr) => Some("grape_regnamespace"),
                    "regnamespace" => Some("grape_regnamespace_name"),
                    "regclass" if is_text(expr) => Some("grape_regclass"),
                    "regclass" => Some("grape_regclass_name"),
                    _ => None,
                };
                if let Some(function) = function {
                    let inner = std::mem::replace(
                        expr.as_mut(),
                        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                    );
                    *e = super::ast::call(function, vec![inner]);
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The text of a string constant (possibly parenthesised).
fn text_of(e: &datafusion::sql::sqlparser::ast::Expr) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{Expr, Value};
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Nested(inner) => text_of(inner),
        _ => None,
    }
}

/// `generate_subscripts(a, 1)` (SQLAlchemy's key reflection): a
/// one-dimensional array's subscripts, 1 to its length (an int2vector's
/// count from 0, as in PostgreSQL).
fn generate_subscripts(e: &mut datafusion::sql::sqlparser::ast::Expr, from_zero: bool) {
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
    };
    let Expr::Function(f) = e else {
        return;
    };
    let FunctionArguments::List(l) = &f.args else {
        return;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array)), _] = l.args.as_slice() else {
        return;
    };
    let length = Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
        expr: Box::new(super::ast::call("cardinality", vec![array.clone()])),
        data_type: datafusion::sql::sqlparser::ast::DataType::BigInt(None),
        array: false,
        format: None,
    };
    let (first, last) = if from_zero {
        (
            "0",
            Expr::BinaryOp {
                left: Box::new(length),
                op: datafusion::sql::sqlparser::ast::BinaryOperator::Minus,
                right: Box::new(Expr::value(Value::Number("1".into(), false))),
            },
        )
    } else {
        ("1", length)
    };
    let series = super::ast::call(
        "generate_series",
        vec![Expr::value(Value::Number(first.into(), false)), last],
    );
    *e = super::ast::call("unnest", vec![series]);
}

/// pg_index's int2vector columns (`indkey`, `indclass`, `indcollation`,
/// maybe qualified).
fn is_int2vector_column(e: &datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::Expr;
    let name = match e {
        Expr::Identifier(i) => &i.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) => &i.value,
            None => return false,
        },
        _ => return false,
    };
    matches!(
        name.to_lowercase().as_str(),
        // pgjdbc selects indoption AS I_INDOPTION and subscripts that.
        "indkey" | "indclass" | "indcollation" | "indoption" | "i_indoption"
    )
}

/// A string constant (possibly parenthesised).
fn is_text(e: &datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr, Value};
    match e {
        Expr::Value(v) => matches!(
            v.value,
            Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_)
        ),
        Expr::Nested(inner) => is_text(inner),
        _ => false,
    }
}

/// What psql and other tools write that DataFusion does not plan, as
/// plain SQL: `pg_catalog.f(...)` is `f(...)`, `x COLLATE
/// pg_catalog.default` (or `"C"`, `"default"`) is `x`, and
/// `a OPERATOR(pg_catalog.~) b` is `a ~ b`.
fn tool_syntax(
    e: &mut datafusion::sql::sqlparser::ast::Expr,
    reads_pg_index: bool,
    reads_pg_type: bool,
) {
    use datafusion::sql::sqlparser::ast::{
        AccessExpr, BinaryOperator as B, Expr, Ident, ObjectNamePart,
    };
    match e {
        // `user` (a reserved word; sqlparser reads it as a call without
        // parentheses) is `current_user`.
        Expr::Function(f)
            if matches!(
                f.args,
                datafusion::sql::sqlparser::ast::FunctionArguments::None
            ) && f.name.to_string().eq_ignore_ascii_case("user") =>
        {
            *e = super::ast::call("current_user", vec![]);
        }
        // `information_schema._pg_expandarray(a)`: the set of (x, n) pairs,
        // as the unnest of GrapeDB's list of them.
        Expr::Function(f)
            if f.name.to_string().to_lowercase() == "information_schema._pg_expandarray" =>
        {
            f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new(
                "grape_expandarray",
            )]);
            let call =
                std::mem::replace(e, Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
            *e = super::ast::call("unnest", vec![call]);
        }
        // `unnest(i.indkey)`: pg_index's int2vector columns are text here;
        // as arrays where tools take them as arrays.
        Expr::Function(f)
            if matches!(
                f.name.to_string().to_lowercase().as_str(),
                "unnest" | "generate_subscripts" | "array_length" | "cardinality"
            ) =>
        {
            let mut int2vector = false;
            if let datafusion::sql::sqlparser::ast::FunctionArguments::List(l) = &mut f.args
                && let Some(datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                    datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(arg),
                )) = l.args.first_mut()
                && reads_pg_index
                && is_int2vector_column(arg)
            {
                let column = std::mem::replace(
                    arg,
                    Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                );
                *arg = super::ast::call("grape_int2vector", vec![column]);
                int2vector = true;
            }
            if f.name.to_string().to_lowercase() == "generate_subscripts" {
                generate_subscripts(e, int2vector);
            }
        }
        // `i.indoption[n]` (pgjdbc): an int2vector, text here, subscripted
        // from 0 as PostgreSQL subscripts int2vectors.
        Expr::CompoundFieldAccess { root, access_chain }
            if matches!(access_chain.last(), Some(AccessExpr::Subscript(_))) =>
        {
            let Some((
                AccessExpr::Subscript(datafusion::sql::sqlparser::ast::Subscript::Index { index }),
                path,
            )) = access_chain.split_last()
            else {
                return;
            };
            // The column: the root (`indoption`, `i.indoption`) or the root
            // and dotted names after it (`tmp.I_INDOPTION`).
            let mut parts: Vec<Ident> = match root.as_ref() {
                Expr::Identifier(i) => vec![i.clone()],
                Expr::CompoundIdentifier(p) => p.clone(),
                _ => return,
            };
            for p in path {
                match p {
                    AccessExpr::Dot(Expr::Identifier(i)) => parts.push(i.clone()),
                    _ => return,
                }
            }
            let column = match parts.as_slice() {
                [one] => Expr::Identifier(one.clone()),
                _ => Expr::CompoundIdentifier(parts),
            };
            let one = || {
                Expr::value(datafusion::sql::sqlparser::ast::Value::Number(
                    "1".into(),
                    false,
                ))
            };
            // `typname[0]` (pg_dump): a `name` subscripted from 0 is its
            // first byte.
            if reads_pg_type
                && match &column {
                    Expr::Identifier(i) => i.value.eq_ignore_ascii_case("typname"),
                    Expr::CompoundIdentifier(p) => p
                        .last()
                        .is_some_and(|i| i.value.eq_ignore_ascii_case("typname")),
                    _ => false,
                }
            {
                let index = index.clone();
                *e = Expr::Substring {
                    expr: Box::new(column),
                    substring_from: Some(Box::new(Expr::BinaryOp {
                        left: Box::new(Expr::Nested(Box::new(index))),
                        op: B::Plus,
                        right: Box::new(one()),
                    })),
                    substring_for: Some(Box::new(one())),
                    special: true,
                    shorthand: true,
                };
                return;
            }
            if !reads_pg_index || !is_int2vector_column(&column) {
                return;
            }
            let index = index.clone();
            // Element k of the list is subscript k - 1.
            *e = super::ast::call(
                "array_element",
                vec![
                    super::ast::call("grape_int2vector", vec![column]),
                    Expr::BinaryOp {
                        left: Box::new(Expr::Nested(Box::new(index))),
                        op: B::Plus,
                        right: Box::new(Expr::value(
                            datafusion::sql::sqlparser::ast::Value::Number("1".into(), false),
                        )),
                    },
                ],
            );
        }
        // `(composite).field`: DataFusion's get_field.
        Expr::CompoundFieldAccess { root, access_chain }
            if matches!(root.as_ref(), Expr::Nested(_))
                && matches!(
                    access_chain.as_slice(),
                    [AccessExpr::Dot(Expr::Identifier(_))]
                ) =>
        {
            let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
                return;
            };
            let name = field.value.to_lowercase();
            let root = std::mem::replace(
                root.as_mut(),
                Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
            );
            *e = super::ast::call(
                "get_field",
                vec![
                    root,
                    Expr::value(datafusion::sql::sqlparser::ast::Value::SingleQuotedString(
                        name,
                    )),
                ],
            );
        }
        // `nextval('s'::regclass)` (what serial defaults and tools write):
        // the sequence functions take the name.
        Expr::Function(f)
            if f.name.0.len() == 1
                && matches!(
                    f.name.to_string().to_lowercase().as_str(),
                    "nextval" | "currval" | "setval"
                ) =>
        {
            use datafusion::sql::sqlparser::ast::{
                FunctionArg, FunctionArgExpr, FunctionArguments,
            };
            if let FunctionArguments::List(list) = &mut f.args
                && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) =
                    list.args.first_mut()
                && let Expr::Function(inner) = first
                && inner
                    .name
                    .to_string()
                    .eq_ignore_ascii_case("grape_regclass")
                && let FunctionArguments::List(inner_args) = &inner.args
                && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(name))) =
                    inner_args.args.first()
            {
                *first = name.clone();
            }
        }
        Expr::Function(f) if f.name.0.len() == 2 => {
            let first = match &f.name.0[0] {
                ObjectNamePart::Identifier(i) => i.value.to_lowercase(),
                _ => return,
            };
            if first == "pg_catalog" {
                f.name.0.remove(0);
            }
        }
        Expr::Collate { expr, collation } => {
            let c = collation.to_string().to_lowercase();
            let c = c.trim_start_matches("pg_catalog.").trim_matches('"');
            if matches!(c, "default" | "c" | "posix") {
                let inner = std::mem::replace(
                    expr.as_mut(),
                    Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                );
                *e = inner;
            }
        }
        Expr::BinaryOp { op, .. } => {
            if let B::PGCustomBinaryOperator(parts) = op {
                let schema_ok = parts.len() == 1
                    || (parts.len() == 2 && parts[0].eq_ignore_ascii_case("pg_catalog"));
                let plain = match parts.last().map(String::as_str) {
                    Some("~") => Some(B::PGRegexMatch),
                    Some("~*") => Some(B::PGRegexIMatch),
                    Some("!~") => Some(B::PGRegexNotMatch),
                    Some("!~*") => Some(B::PGRegexNotIMatch),
                    Some("=") => Some(B::Eq),
                    Some("<>") => Some(B::NotEq),
                    Some("<") => Some(B::Lt),
                    Some("<=") => Some(B::LtEq),
                    Some(">") => Some(B::Gt),
                    Some(">=") => Some(B::GtEq),
                    _ => None,
                };
                if let (true, Some(p)) = (schema_ok, plain) {
                    *op = p;
                }
            }
        }
        // `x::pg_catalog.text`: the type by its plain name.
        Expr::Cast { data_type, .. } => {
            unqualify_type(data_type);
        }
        _ => {}
    }
}

/// `pg_catalog.text` (also as an array's element, `pg_catalog.int2[]`)
/// is the type by its plain name.
fn unqualify_type(data_type: &mut datafusion::sql::sqlparser::ast::DataType) {
    use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as D, ObjectNamePart};
    if let D::Array(
        ArrayElemTypeDef::SquareBracket(inner, _) | ArrayElemTypeDef::AngleBracket(inner),
    ) = data_type
    {
        unqualify_type(inner);
        return;
    }
    if let D::Custom(n, mods) = data_type {
        let qualified = n.0.len() == 2
            && matches!(&n.0[0], ObjectNamePart::Identifier(i) if i.value.eq_ignore_ascii_case("pg_catalog"));
        if qualified && mods.is_empty() {
            let plain = n.0[1].to_string();
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            )
            .try_with_sql(&plain)
            .and_then(|mut p| p.parse_data_type());
            if let Ok(t) = parsed {
                *data_type = t;
            }
        }
    }
}
