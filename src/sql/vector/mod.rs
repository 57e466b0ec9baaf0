//! pgvector's SQL surface in the planner: the distance operators parsed as
//! PostgreSQL parses them, casts to the vector types, and the operators and
//! functions planned as UDFs ([`udf`]).
//!
//! - Parsing: sqlparser tokenizes `<=>` and `<->` as special tokens with the
//!   precedence of `=` and `|`, and `<+>` as `<`, `+`, `>`. We re-tokenize them
//!   as generic operators, which get PostgreSQL's "any other operator"
//!   precedence (`a <-> b < 5`, `1 - (a <=> b)`).
//! - Casts: `x::vector(3)`, `CAST(x AS halfvec)`, `::bit(8)` and `B'101'`
//!   become `grape_cast(x, 'vector', 3)` before DataFusion plans.
//! - Operators: an [`ExprPlanner`] turns `<->`, `<#>`, `<=>`, `<+>`, `<~>`,
//!   `<%>`, and `+ - * ||` on vectors into UDF calls, and gives an untyped
//!   `$n` next to a vector the vector type.

pub mod aggregate;
pub mod bit_ops;
mod cast;
pub mod state;
pub mod udf;
mod values;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::expr::{Placeholder, ScalarFunction};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, TypePlanner};
use datafusion::logical_expr::{Expr as DfExpr, ExprSchemable, LogicalPlan, ScalarUDF};
use datafusion::sql::sqlparser::ast::{self, BinaryOperator, DataType as SqlDataType};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::sql::rewrite::vector_casts::vector_cast_target;
use crate::types::vector_arrow;
use crate::vector::Kind;
use crate::vector::distance::Metric;

/// The internal procedure a REINDEX statement becomes (sqlparser has no
/// REINDEX): `CALL grape_reindex('INDEX' | 'TABLE' | ..., name parts...)`.
pub const REINDEX_CALL: &str = "grape_reindex";

/// `REINDEX [(options)] {INDEX|TABLE|SCHEMA|DATABASE|SYSTEM} [CONCURRENTLY] [name]`
/// rewritten into [`REINDEX_CALL`]; anything else is left as written.
pub(crate) fn reindex_calls(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_ws = |t: &Token| matches!(t, Token::Whitespace(_));
    let mut out = Vec::with_capacity(tokens.len());
    for stmt in tokens.split_inclusive(|t| t.token == Token::SemiColon) {
        let (body, end) = match stmt.last() {
            Some(t) if t.token == Token::SemiColon => (&stmt[..stmt.len() - 1], Some(t)),
            _ => (stmt, None),
        };
        let words: Vec<&TokenWithSpan> = body
            .iter()
            .filter(|t| !is_ws(&t.token) && t.token != Token::EOF)
            .collect();
        match reindex_args(&words) {
            Some(args) => {
                let span = words[0].span;
                let tok = |t: Token| TokenWithSpan::new(t, span);
                out.push(tok(Token::make_keyword("CALL")));
                out.push(tok(Token::Whitespace(
                    datafusion::sql::sqlparser::tokenizer::Whitespace::Space,
                )));
                out.push(tok(Token::make_word(REINDEX_CALL, None)));
                out.push(tok(Token::LParen));
                for (i, a) in args.into_iter().enumerate() {
                    if i > 0 {
                        out.push(tok(Token::Comma));
                    }
                    out.push(tok(Token::SingleQuotedString(a)));
                }
                out.push(tok(Token::RParen));
                if let Some(e) = end {
                    out.push(e.clone());
                }
                if body.last().is_some_and(|t| t.token == Token::EOF) {
                    out.push(body.last().unwrap().clone());
                }
            }
            None => out.extend(stmt.iter().cloned()),
        }
    }
    out
}

/// The kind and folded name parts of a REINDEX statement's tokens.
fn reindex_args(words: &[&TokenWithSpan]) -> Option<Vec<String>> {
    let word = |i: usize| match words.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
        _ => None,
    };
    if word(0)? != "REINDEX" {
        return None;
    }
    let mut i = 1;
    if words.get(i).map(|t| &t.token) == Some(&Token::LParen) {
        // Options such as (VERBOSE): accepted, nothing to change.
        while words.get(i).map(|t| &t.token) != Some(&Token::RParen) {
            words.get(i)?;
            i += 1;
        }
        i += 1;
    }
    let kind = word(i)?;
    if !["INDEX", "TABLE", "SCHEMA", "DATABASE", "SYSTEM"].contains(&kind.as_str()) {
        return None;
    }
    i += 1;
    if word(i).as_deref() == Some("CONCURRENTLY") {
        i += 1;
    }
    let mut args = vec![kind];
    let mut expect_name = true;
    for t in &words[i..] {
        match (&t.token, expect_name) {
            (Token::Word(w), true) => {
                args.push(match w.quote_style {
                    Some(_) => w.value.clone(),
                    None => w.value.to_lowercase(),
                });
                expect_name = false;
            }
            (Token::Period, false) => expect_name = true,
            _ => return None,
        }
    }
    (!expect_name || args.len() == 1).then_some(args)
}

/// `<=>`, `<->` and `<+>` as generic (custom) operators.
pub(crate) fn generic_operators(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        match &t.token {
            Token::Spaceship => {
                out.push(TokenWithSpan::new(
                    Token::CustomBinaryOperator("<=>".into()),
                    t.span,
                ));
            }
            Token::TwoWayArrow => {
                out.push(TokenWithSpan::new(
                    Token::CustomBinaryOperator("<->".into()),
                    t.span,
                ));
            }
            Token::Lt
                if matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Plus))
                    && matches!(tokens.get(i + 2).map(|t| &t.token), Some(Token::Gt)) =>
            {
                let span = t.span.union(&tokens[i + 2].span);
                out.push(TokenWithSpan::new(
                    Token::CustomBinaryOperator("<+>".into()),
                    span,
                ));
                i += 3;
                continue;
            }
            _ => out.push(t.clone()),
        }
        i += 1;
    }
    out
}

/// Plans pgvector's operators as calls of the vector UDFs.
#[derive(Debug)]
pub struct VectorPlanner {
    udfs: HashMap<&'static str, Arc<ScalarUDF>>,
}

impl Default for VectorPlanner {
    fn default() -> Self {
        let udfs = udf::all()
            .into_iter()
            .chain(bit_ops::all())
            .map(|u| {
                let name: &'static str = Box::leak(u.name().to_string().into_boxed_str());
                (name, Arc::new(u))
            })
            .collect();
        VectorPlanner { udfs }
    }
}

/// The vector kind of a planned expression, if it has one.
fn expr_kind(e: &DfExpr, schema: &DFSchema) -> Option<Kind> {
    let (_, f) = e.to_field(schema).ok()?;
    vector_arrow::field_kind(&f)
}

fn is_untyped(e: &DfExpr, schema: &DFSchema) -> bool {
    match e {
        DfExpr::Placeholder(p) => p.field.is_none(),
        _ => matches!(
            e.get_type(schema),
            Ok(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null)
        ),
    }
}

impl VectorPlanner {
    fn call(&self, name: &str, args: Vec<DfExpr>) -> DfExpr {
        DfExpr::ScalarFunction(ScalarFunction::new_udf(self.udfs[name].clone(), args))
    }

    /// An untyped `$n` beside a vector takes the vector's type (for Describe);
    /// a text literal is cast to it.
    fn typed(&self, e: DfExpr, kind: Kind, schema: &DFSchema) -> DfExpr {
        match e {
            DfExpr::Placeholder(Placeholder { id, field: None }) => {
                DfExpr::Placeholder(Placeholder {
                    id,
                    field: Some(Arc::new(vector_arrow::field(kind, ""))),
                })
            }
            e if is_untyped(&e, schema) => self.call(
                udf::CAST_FN,
                vec![
                    e,
                    DfExpr::Literal(
                        datafusion::common::ScalarValue::Utf8(Some(kind.name().into())),
                        None,
                    ),
                    DfExpr::Literal(datafusion::common::ScalarValue::Int64(Some(-1)), None),
                ],
            ),
            e => e,
        }
    }
}

fn op_text(op: &BinaryOperator) -> Option<&str> {
    Some(match op {
        BinaryOperator::Custom(s) => s.as_str(),
        BinaryOperator::Spaceship => "<=>",
        BinaryOperator::Plus => "+",
        BinaryOperator::Minus => "-",
        BinaryOperator::Multiply => "*",
        BinaryOperator::StringConcat => "||",
        BinaryOperator::Eq => "=",
        BinaryOperator::NotEq => "<>",
        BinaryOperator::Lt => "<",
        BinaryOperator::LtEq => "<=",
        BinaryOperator::Gt => ">",
        BinaryOperator::GtEq => ">=",
        BinaryOperator::BitwiseAnd => "&",
        BinaryOperator::BitwiseOr => "|",
        BinaryOperator::PGBitwiseXor => "#",
        BinaryOperator::PGBitwiseShiftLeft => "<<",
        BinaryOperator::PGBitwiseShiftRight => ">>",
        _ => return None,
    })
}

impl ExprPlanner for VectorPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let Some(op) = op_text(&expr.op) else {
            return Ok(PlannerResult::Original(expr));
        };
        let (lk, rk) = (
            expr_kind(&expr.left, schema),
            expr_kind(&expr.right, schema),
        );
        if let Some(metric) = Metric::from_operator(op) {
            let default = if matches!(metric, Metric::Hamming | Metric::Jaccard) {
                Kind::Bit
            } else {
                Kind::Vector
            };
            let kind = lk.or(rk).unwrap_or(default);
            let left = self.typed(expr.left, kind, schema);
            let right = self.typed(expr.right, kind, schema);
            return Ok(PlannerResult::Planned(
                self.call(udf::distance_fn_name(metric), vec![left, right]),
            ));
        }
        let Some(kind) = lk.or(rk) else {
            return Ok(PlannerResult::Original(expr));
        };
        if let (Kind::Bit, Some(f)) = (kind, bit_ops::operator_fn(op)) {
            // A shift's count is an integer, not a bit string.
            let left = self.typed(expr.left, kind, schema);
            let right = match op {
                "<<" | ">>" => expr.right,
                _ => self.typed(expr.right, kind, schema),
            };
            return Ok(PlannerResult::Planned(self.call(f, vec![left, right])));
        }
        let f = match op {
            "+" => "vector_add",
            "-" => "vector_sub",
            "*" => "vector_mul",
            "||" if kind != Kind::Bit => "vector_concat",
            _ => {
                // Comparisons: the other side is read as the same type.
                let left = self.typed(expr.left, kind, schema);
                let right = self.typed(expr.right, kind, schema);
                return Ok(PlannerResult::Original(RawBinaryExpr {
                    op: expr.op,
                    left,
                    right,
                }));
            }
        };
        let left = self.typed(expr.left, kind, schema);
        let right = self.typed(expr.right, kind, schema);
        Ok(PlannerResult::Planned(self.call(f, vec![left, right])))
    }
}

/// SQL types DataFusion does not know, and array casts that must drop a
/// vector's metadata (`embedding::real[]` is an array, not a vector).
#[derive(Debug, Default)]
pub struct GrapeTypePlanner;

impl TypePlanner for GrapeTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlDataType) -> Result<Option<FieldRef>> {
        match sql_type {
            SqlDataType::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _))
            | SqlDataType::Array(ast::ArrayElemTypeDef::AngleBracket(inner)) => {
                let item = match inner.as_ref() {
                    SqlDataType::Real | SqlDataType::Float4 => DataType::Float32,
                    SqlDataType::DoublePrecision | SqlDataType::Float8 => DataType::Float64,
                    SqlDataType::Int(_) | SqlDataType::Integer(_) | SqlDataType::Int4(_) => {
                        DataType::Int32
                    }
                    SqlDataType::BigInt(_) | SqlDataType::Int8(_) => DataType::Int64,
                    _ => return Ok(None),
                };
                Ok(Some(Arc::new(Field::new(
                    "array",
                    DataType::List(Arc::new(Field::new("item", item, true))),
                    true,
                ))))
            }
            // The OID types: integers on the wire as PostgreSQL's oid.
            SqlDataType::Custom(name, mods)
                if mods.is_empty()
                    && matches!(
                        name.to_string().to_lowercase().trim_matches('"'),
                        "oid"
                            | "xid"
                            | "cid"
                            | "regproc"
                            | "regprocedure"
                            | "regoper"
                            | "regoperator"
                            | "regconfig"
                            | "regdictionary"
                    ) =>
            {
                Ok(Some(Arc::new(
                    Field::new("oid", DataType::Int64, true).with_metadata(
                        [(crate::types::PG_TYPE_KEY.to_string(), "oid".to_string())].into(),
                    ),
                )))
            }
            // `"char"` (quoted: unquoted `char` is character(1)) and
            // `name`, the catalogs' one-byte and identifier types: text.
            SqlDataType::Custom(name, mods)
                if mods.is_empty()
                    && matches!(
                        name.to_string().to_lowercase().trim_matches('"'),
                        "char" | "name"
                    ) =>
            {
                let t = name
                    .to_string()
                    .to_lowercase()
                    .trim_matches('"')
                    .to_string();
                Ok(Some(Arc::new(
                    Field::new(t.clone(), DataType::Utf8, true)
                        .with_metadata([(crate::types::PG_TYPE_KEY.to_string(), t)].into()),
                )))
            }
            other => match vector_cast_target(other) {
                Some((kind, _)) => Ok(Some(Arc::new(vector_arrow::field(
                    Kind::from_name(kind).unwrap(),
                    "vector",
                )))),
                None => Ok(None),
            },
        }
    }
}

/// ORDER BY a sparsevec sorts by pgvector's btree order: the sort key of
/// [`udf::SPARSE_ORDER_FN`] (DataFusion would compare the stored bytes).
pub fn order_sparsevecs(plan: LogicalPlan, udfs: &SessionState) -> Result<LogicalPlan> {
    let Some(key_fn) = udfs.scalar_functions().get(udf::SPARSE_ORDER_FN).cloned() else {
        return Ok(plan);
    };
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Sort(mut sort) = node else {
            return Ok(Transformed::no(node));
        };
        let schema = sort.input.schema().clone();
        let mut changed = false;
        for s in sort.expr.iter_mut() {
            let is_sparse = s
                .expr
                .to_field(schema.as_ref())
                .is_ok_and(|(_, f)| vector_arrow::field_kind(&f) == Some(Kind::SparseVec));
            if is_sparse {
                let e = s.expr.clone();
                s.expr = DfExpr::ScalarFunction(ScalarFunction::new_udf(key_fn.clone(), vec![e]));
                changed = true;
            }
        }
        Ok(Transformed::new_transformed(
            LogicalPlan::Sort(sort),
            changed,
        ))
    })
    .map(|t| t.data)
}
