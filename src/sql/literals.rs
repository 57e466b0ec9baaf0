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

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{
    DmlStatement, Expr, LogicalPlan, LogicalPlanBuilder, Union, Values, cast,
};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercionRewriter;
use datafusion::optimizer::utils::NamePreserver;

/// Retype the integer literals of `plan` and its subqueries.
pub fn type_integer_literals(plan: LogicalPlan) -> Result<LogicalPlan> {
    // A recursive query's work table was typed by its first branch when
    // planned: retyping that branch would leave the two disagreeing.
    let mut recursive = false;
    plan.apply_with_subqueries(|p| {
        recursive |= matches!(p, LogicalPlan::RecursiveQuery(_));
        Ok(if recursive {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if recursive {
        return Ok(plan);
    }
    // Every node's schema is computed again: an input's may have changed.
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Limit(_) => Ok(Transformed::yes(node.recompute_schema()?)),
        LogicalPlan::Values(v) => retype_values(v),
        LogicalPlan::Union(u) => retype_union(u),
        LogicalPlan::Dml(d) => typed_as_target(d),
        node => {
            let names = NamePreserver::new(&node);
            let t = node.map_expressions(|e| {
                let saved = names.save(&e);
                let t = retype_expr(e)?;
                Ok(if t.transformed {
                    Transformed::yes(saved.restore(t.data))
                } else {
                    t
                })
            })?;
            Ok(Transformed::yes(t.data.recompute_schema()?))
        }
    })
    .map(|t| t.data)
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
    let exprs: Vec<Expr> = input
        .iter()
        .zip(target.fields())
        .map(|((q, f), t)| {
            let col = Expr::Column(Column::from((q, f)));
            if f.data_type() == t.data_type() {
                col
            } else {
                cast(col, t.data_type().clone()).alias_qualified(q.cloned(), f.name())
            }
        })
        .collect();
    let projected = LogicalPlanBuilder::from(Arc::unwrap_or_clone(d.input))
        .project(exprs)?
        .build()?;
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
        Expr::AggregateFunction(_) | Expr::WindowFunction(_) => {
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
