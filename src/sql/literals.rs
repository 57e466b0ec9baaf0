//! PostgreSQL's types for integer literals. DataFusion types every integer
//! literal `bigint`; PostgreSQL types one `integer` when it fits, `bigint`
//! when that fits, else `numeric`. The type shows: `pg_typeof(1)`, the
//! column type a client is told for `SELECT id + 1` over an `integer`
//! column, and which overflow error `2147483647 + 1` raises
//! (`sql::arithmetic`).
//!
//! A pass over the freshly planned statement (before DataFusion's type
//! coercion, which then widens as PostgreSQL's operators do) retypes the
//! literals. Left alone: LIMIT/OFFSET (DataFusion reads them as bigint),
//! aggregate and window function arguments (`count(*)` is `count(1)`
//! inside), and a VALUES list typed by an INSERT's target table.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{
    DmlStatement, Expr, LogicalPlan, LogicalPlanBuilder, Union, Values, cast,
};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercionRewriter;

/// Retype the integer literals of `plan` and its subqueries, and compare
/// floats with numerics as floats.
pub fn type_integer_literals(plan: LogicalPlan) -> Result<LogicalPlan> {
    // A recursive query's work table was typed by its first branch when
    // planned, and a correlated subquery's outer references carry the
    // outer columns' types of then: retyping would leave them disagreeing.
    let mut keep = false;
    plan.apply_with_subqueries(|p| {
        keep |= matches!(p, LogicalPlan::RecursiveQuery(_));
        p.apply_expressions(|e| {
            keep |= e.exists(|x| Ok(matches!(x, Expr::OuterReferenceColumn(..))))?;
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(if keep {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if keep {
        return Ok(plan);
    }
    // Every node's schema is computed again: an input's may have changed.
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Limit(_) => Ok(Transformed::yes(node.recompute_schema()?)),
        LogicalPlan::Values(v) => retype_values(v),
        LogicalPlan::Union(u) => retype_union(u),
        LogicalPlan::Dml(d) => typed_as_target(d),
        node => {
            let schema = super::text_casts::input_schema(&node);
            let t = super::text_casts::map_keeping_names(node, |e| {
                retype_expr(e)?.transform_data(|e| floats_over_numerics(e, &schema))
            })?;
            Ok(Transformed::yes(t.data.recompute_schema()?))
        }
    })
    .map(|t| t.data)
}

/// Where a float meets a numeric (`f > 0.5`, `r * 1.5`, `f IN (0.5, 1)`,
/// `coalesce(f, 0.0)`), PostgreSQL computes in double precision;
/// DataFusion would cast the float to a decimal (overflowing, or losing
/// digits). The numeric side is cast to double precision first.
fn floats_over_numerics(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    use datafusion::logical_expr::{Between, BinaryExpr, ExprSchemable, Operator};
    let is_float = |e: &Expr| {
        e.get_type(schema)
            .is_ok_and(|t| matches!(t, DataType::Float32 | DataType::Float64))
    };
    let is_numeric = |e: &Expr| {
        e.get_type(schema)
            .is_ok_and(|t| matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)))
    };
    // The numeric ones of `group` as double precision, if any is a float.
    let mix = |group: Vec<Expr>| -> (Vec<Expr>, bool) {
        if !(group.iter().any(is_float) && group.iter().any(is_numeric)) {
            return (group, false);
        }
        let out = group
            .into_iter()
            .map(|x| {
                if is_numeric(&x) {
                    cast(x, DataType::Float64)
                } else {
                    x
                }
            })
            .collect();
        (out, true)
    };
    e.transform_up(|x| match x {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::IsDistinctFrom
                    | Operator::IsNotDistinctFrom
                    | Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
                    | Operator::Divide
                    | Operator::Modulo
            ) =>
        {
            let (mut v, changed) = mix(vec![*left, *right]);
            let right = v.pop().expect("two operands");
            let left = v.pop().expect("two operands");
            Ok(Transformed::new_transformed(
                Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right))),
                changed,
            ))
        }
        Expr::Between(b) => {
            let (mut v, changed) = mix(vec![*b.expr, *b.low, *b.high]);
            let high = v.pop().expect("three operands");
            let low = v.pop().expect("three operands");
            let expr = v.pop().expect("three operands");
            Ok(Transformed::new_transformed(
                Expr::Between(Between::new(
                    Box::new(expr),
                    b.negated,
                    Box::new(low),
                    Box::new(high),
                )),
                changed,
            ))
        }
        Expr::InList(mut l) => {
            let mut group = vec![*l.expr];
            group.append(&mut l.list);
            let (mut v, changed) = mix(group);
            l.list = v.split_off(1);
            l.expr = Box::new(v.pop().expect("the tested value"));
            Ok(Transformed::new_transformed(Expr::InList(l), changed))
        }
        Expr::Case(mut c) => {
            let mut group: Vec<Expr> = c
                .when_then_expr
                .iter()
                .map(|(_, t)| (**t).clone())
                .collect();
            group.extend(c.else_expr.as_deref().cloned());
            let (v, changed) = mix(group);
            if changed {
                let mut v = v.into_iter();
                for (_, t) in c.when_then_expr.iter_mut() {
                    *t = Box::new(v.next().expect("a THEN"));
                }
                if c.else_expr.is_some() {
                    c.else_expr = v.next().map(Box::new);
                }
            }
            Ok(Transformed::new_transformed(Expr::Case(c), changed))
        }
        Expr::ScalarFunction(mut f)
            if matches!(f.name(), "coalesce" | "nullif" | "greatest" | "least") =>
        {
            let (v, changed) = mix(std::mem::take(&mut f.args));
            f.args = v;
            Ok(Transformed::new_transformed(
                Expr::ScalarFunction(f),
                changed,
            ))
        }
        other => Ok(Transformed::no(other)),
    })
}

/// An INSERT's or UPDATE's rows were planned in the table's column types;
/// a retyped constant among them is cast back (`INSERT INTO t (big)
/// VALUES (1)` writes a bigint).
fn typed_as_target(mut d: DmlStatement) -> Result<Transformed<LogicalPlan>> {
    let target = d.target.schema();
    let input = d.input.schema().clone();
    let differs = target.fields().len() == input.fields().len()
        && target
            .fields()
            .iter()
            .zip(input.fields())
            .any(|(t, i)| t.data_type() != i.data_type());
    if !differs {
        return Ok(Transformed::no(LogicalPlan::Dml(d)));
    }
    // The projection DataFusion put there gets the casts (the assignment
    // type check reads it: `sql::dml::insert::check_assignment_types`).
    let (exprs, below) = match Arc::unwrap_or_clone(d.input) {
        LogicalPlan::Projection(p) => (p.expr, Arc::unwrap_or_clone(p.input)),
        other => {
            let cols = input
                .iter()
                .map(|(q, f)| Expr::Column(Column::from((q, f))))
                .collect();
            (cols, other)
        }
    };
    let exprs: Vec<Expr> = exprs
        .into_iter()
        .zip(input.iter())
        .zip(target.fields())
        .map(|((e, (q, f)), t)| {
            if f.data_type() == t.data_type() {
                e
            } else {
                let e = match e {
                    Expr::Alias(a) => *a.expr,
                    other => other,
                };
                cast(e, t.data_type().clone()).alias_qualified(q.cloned(), f.name())
            }
        })
        .collect();
    let projected = LogicalPlanBuilder::from(below).project(exprs)?.build()?;
    d.input = Arc::new(projected);
    Ok(Transformed::yes(LogicalPlan::Dml(d)))
}

/// A UNION's column types are its branches' common types again
/// (`SELECT 1 UNION SELECT 3000000000` is bigint).
fn retype_union(u: Union) -> Result<Transformed<LogicalPlan>> {
    let first = u.inputs[0].schema();
    let fields: Vec<_> = u
        .schema
        .iter()
        .zip(first.fields())
        .map(|((q, old), new)| {
            (
                q.cloned(),
                Arc::new(old.as_ref().clone().with_data_type(new.data_type().clone())),
            )
        })
        .collect();
    let schema = Arc::new(DFSchema::new_with_metadata(
        fields,
        u.schema.metadata().clone(),
    )?);
    let u = Union {
        inputs: u.inputs,
        schema,
    };
    Ok(Transformed::yes(TypeCoercionRewriter::coerce_union(u)?))
}

/// The PostgreSQL type of an integer literal DataFusion typed bigint or
/// unsigned bigint.
fn pg_literal(v: &ScalarValue) -> Option<ScalarValue> {
    match v {
        ScalarValue::Int64(Some(n)) => i32::try_from(*n).ok().map(|n| ScalarValue::Int32(Some(n))),
        // Beyond bigint: numeric.
        ScalarValue::UInt64(Some(n)) => Some(ScalarValue::Decimal128(Some(*n as i128), 20, 0)),
        _ => None,
    }
}

fn retype_expr(e: Expr) -> Result<Transformed<Expr>> {
    e.transform_down(|x| match x {
        Expr::AggregateFunction(_) | Expr::WindowFunction(_) | Expr::GroupingSet(_) => {
            Ok(Transformed::new(x, false, TreeNodeRecursion::Jump))
        }
        Expr::Literal(v, meta) => match pg_literal(&v) {
            Some(t) => Ok(Transformed::yes(Expr::Literal(t, meta))),
            None => Ok(Transformed::no(Expr::Literal(v, meta))),
        },
        other => Ok(Transformed::no(other)),
    })
}

/// A VALUES list whose column types came from its rows is typed again
/// from the retyped rows (`VALUES (1), (2)` is integer, `VALUES (1),
/// (3000000000)` bigint). One typed by an INSERT's table keeps its types.
fn retype_values(v: Values) -> Result<Transformed<LogicalPlan>> {
    let inferred = LogicalPlanBuilder::values(v.values.clone())?.build()?;
    let same = inferred
        .schema()
        .fields()
        .iter()
        .zip(v.schema.fields())
        .all(|(a, b)| a.data_type() == b.data_type());
    if !same {
        return Ok(Transformed::no(LogicalPlan::Values(v)));
    }
    let mut changed = false;
    let mut rows = Vec::with_capacity(v.values.len());
    for row in v.values {
        let mut out = Vec::with_capacity(row.len());
        for e in row {
            let t = retype_expr(e)?;
            changed |= t.transformed;
            out.push(t.data);
        }
        rows.push(out);
    }
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Values(Values {
            schema: v.schema,
            values: rows,
        })));
    }
    let retyped = LogicalPlanBuilder::values(rows)?.build()?;
    let LogicalPlan::Values(mut retyped) = retyped else {
        unreachable!("the values builder builds VALUES")
    };
    // Keep the names (and qualifiers) the plan above refers to.
    let fields: Vec<_> = v
        .schema
        .iter()
        .zip(retyped.schema.fields())
        .map(|((q, old), new)| {
            (
                q.cloned(),
                Arc::new(old.as_ref().clone().with_data_type(new.data_type().clone())),
            )
        })
        .collect();
    retyped.schema = Arc::new(DFSchema::new_with_metadata(
        fields,
        v.schema.metadata().clone(),
    )?);
    Ok(Transformed::yes(LogicalPlan::Values(retyped)))
}
