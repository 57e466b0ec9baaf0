//! An index definition as its graphs see it: the expression steps from the
//! column's value to a graph point, what the points are made of, the metric
//! the graph orders by, and whether its order is exact.

use crate::ann::{GraphSpec, Method, Point, Storage, bits_words};
use crate::catalog::VectorIndex;
use crate::types::Datum;
use crate::vector::distance::Metric;
use crate::vector::{self, Bits, Kind};

/// The expression steps of an index (none for a bare column).
pub fn index_steps(def: &VectorIndex) -> Vec<Step> {
    def.expr
        .as_deref()
        .and_then(parse_expr)
        .map(|(_, s)| s)
        .unwrap_or_default()
}

/// One step of an index expression, applied to the column's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `::halfvec[(n)]`
    Half,
    /// `::vector[(n)]` (a no-op on values, kept so expressions compare equal)
    Vector,
    /// `binary_quantize(...)`
    Quantize,
    /// `::bit(n)` / `::varbit`
    Bit,
}

/// The steps of an index expression over one column, from its SQL text.
pub fn parse_expr(sql: &str) -> Option<(String, Vec<Step>)> {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};
    let e = datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(sql)
    .ok()?
    .parse_expr()
    .ok()?;
    fn walk(e: &Expr, steps: &mut Vec<Step>) -> Option<String> {
        match e {
            Expr::Nested(inner) => walk(inner, steps),
            Expr::Identifier(i) => Some(i.value.to_lowercase()),
            Expr::Cast {
                expr, data_type, ..
            } => {
                let col = walk(expr, steps)?;
                let (t, _) = crate::types::SqlType::from_ast(data_type).ok()?;
                steps.push(match t.vector()?.0 {
                    Kind::HalfVec => Step::Half,
                    Kind::Vector => Step::Vector,
                    Kind::Bit => Step::Bit,
                    Kind::SparseVec => return None,
                });
                Some(col)
            }
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("binary_quantize") => {
                let FunctionArguments::List(l) = &f.args else {
                    return None;
                };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(a))] = l.args.as_slice() else {
                    return None;
                };
                let col = walk(a, steps)?;
                steps.push(Step::Quantize);
                Some(col)
            }
            _ => None,
        }
    }
    let mut steps = Vec::new();
    let col = walk(&e, &mut steps)?;
    Some((col, steps))
}

/// A stored column value through the index expression, as a graph point.
pub fn point_of(d: &Datum, kind: Kind, steps: &[Step], metric: Metric) -> Option<Point> {
    let mut p = match d {
        Datum::Bytes(b) if kind == Kind::SparseVec => {
            Point::sparse(&vector::SparseVec::from_bytes(b))
        }
        Datum::Vector(v) => Point::Dense(v.clone()),
        Datum::HalfVec(h) => Point::Dense(
            h.iter()
                .map(|b| half::f16::from_bits(*b).to_f32())
                .collect(),
        ),
        Datum::Bytes(b) => Point::Bits(bits_words(&Bits::from_bytes(b))),
        _ => return None,
    };
    for s in steps {
        p = match (s, p) {
            (Step::Half, Point::Dense(v)) => Point::Dense(vector::to_half(&v).ok()?),
            (Step::Quantize, Point::Dense(v)) => {
                Point::Bits(bits_words(&vector::binary_quantize(&v)))
            }
            (_, p) => p,
        };
    }
    // Cosine leaves zero vectors out (their distance is NaN), as pgvector does.
    let zero = match &p {
        Point::Dense(v) => v.iter().all(|x| *x == 0.0),
        Point::Sparse(v) => v.iter().all(|x| x.1 == 0.0),
        _ => false,
    };
    if metric == Metric::Cosine && zero {
        return None;
    }
    Some(p)
}

pub fn storage(def: &VectorIndex) -> Storage {
    if def.method == "ivfflat" {
        if def.kind == Kind::Bit {
            Storage::Bits
        } else {
            Storage::F32
        }
    } else if def.kind == Kind::SparseVec {
        Storage::Sparse
    } else if def.kind == Kind::Bit || quantized(def) {
        Storage::Bits
    } else if def.kind == Kind::HalfVec || def.quantization.as_deref() == Some("halfvec") {
        Storage::Half
    } else {
        Storage::F32
    }
}

/// Whether the graph's distances order rows exactly as the SQL operator
/// does (full-precision points): then shards can be merged on them.
pub fn exact_order(def: &VectorIndex) -> bool {
    match storage(def) {
        Storage::F32 | Storage::Sparse => true,
        // halfvec values are exact in f16, but unit vectors are not.
        Storage::Half => def.kind == Kind::HalfVec && def.metric != Metric::Cosine,
        Storage::Bits => false,
    }
}

pub fn stores_bits(def: &VectorIndex) -> bool {
    storage(def) == Storage::Bits
}

/// The storage's name in `grape_vector_indexes`.
pub fn storage_name(def: &VectorIndex) -> &'static str {
    match storage(def) {
        Storage::F32 => "vector",
        Storage::Half => "halfvec",
        Storage::Bits if quantized(def) => "binary",
        Storage::Bits => "bit",
        Storage::Sparse => "sparsevec",
    }
}

/// The metric the graph orders by: Hamming over codes when quantized; for
/// cosine, inner product over unit vectors (the same order, one dot product
/// per step instead of three).
pub fn graph_metric(def: &VectorIndex) -> Metric {
    match def.metric {
        _ if quantized(def) => Metric::Hamming,
        Metric::Cosine if !stores_bits(def) => Metric::NegInnerProduct,
        m => m,
    }
}

/// With binary quantization the graph holds 1-bit codes (Hamming distance);
/// candidates are re-ranked with the full vectors by the KNN scan.
pub fn quantized(def: &VectorIndex) -> bool {
    def.quantization.as_deref() == Some("binary")
}

/// The graph parameters of `def`.
pub fn graph_spec(def: &VectorIndex) -> GraphSpec {
    GraphSpec {
        method: if def.method == "ivfflat" {
            Method::Ivf
        } else {
            Method::Hnsw
        },
        storage: storage(def),
        metric: graph_metric(def),
        m: def.m,
        ef_construction: def.ef_construction,
        lists: def.lists,
    }
}
