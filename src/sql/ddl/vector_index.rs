//! `CREATE INDEX ... USING hnsw (col opclass) WITH (...)`: pgvector's
//! operator classes, options, defaults, bounds and error texts; the graph
//! itself is built by [`crate::exec::vindex`].

use datafusion::sql::sqlparser::ast::{BinaryOperator, CreateIndex, Expr, Value};

use super::common::change;
use crate::catalog::{Index, Table, VectorIndex};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use crate::types::SqlType;
use crate::vector::Kind;
use crate::vector::distance::Metric;
use crate::vindex::spec::{Step, parse_expr};

/// (value kind, metric, hnsw only) of an operator class.
fn opclass(name: &str) -> Option<(Kind, Metric, bool)> {
    let (kind, rest) = if let Some(r) = name.strip_prefix("vector_") {
        (Kind::Vector, r)
    } else if let Some(r) = name.strip_prefix("halfvec_") {
        (Kind::HalfVec, r)
    } else if let Some(r) = name.strip_prefix("sparsevec_") {
        (Kind::SparseVec, r)
    } else if let Some(r) = name.strip_prefix("bit_") {
        (Kind::Bit, r)
    } else {
        return None;
    };
    Some(match (kind, rest) {
        (Kind::Bit, "hamming_ops") => (kind, Metric::Hamming, false),
        (Kind::Bit, "jaccard_ops") => (kind, Metric::Jaccard, true),
        (Kind::Bit, _) => return None,
        (_, "l2_ops") => (kind, Metric::L2, kind == Kind::SparseVec),
        (_, "ip_ops") => (kind, Metric::NegInnerProduct, kind == Kind::SparseVec),
        (_, "cosine_ops") => (kind, Metric::Cosine, kind == Kind::SparseVec),
        (_, "l1_ops") => (kind, Metric::L1, true),
        _ => return None,
    })
}

fn invalid(msg: impl Into<String>) -> PgError {
    PgError::new(codes::INVALID_PARAMETER_VALUE, msg)
}

/// `WITH (name = value, ...)` as (name, integer or text).
fn options(with: &[Expr]) -> PgResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in with {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = e
        else {
            return Err(PgError::syntax(format!("syntax error at or near \"{e}\"")));
        };
        let name = left.to_string().trim_matches('"').to_lowercase();
        let value = match right.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            other => other.to_string(),
        };
        out.push((name, value));
    }
    Ok(out)
}

fn int_option(name: &str, value: &str, min: i64, max: i64) -> PgResult<usize> {
    let v: i64 = value.trim().parse().map_err(|_| {
        invalid(format!(
            "invalid value for integer option \"{name}\": {value}"
        ))
    })?;
    if v < min || v > max {
        return Err(
            invalid(format!("value {v} out of bounds for option \"{name}\""))
                .with_detail(format!("Valid values are between \"{min}\" and \"{max}\".")),
        );
    }
    Ok(v as usize)
}

pub async fn create(
    engine: &Engine,
    session: &mut Session,
    ci: CreateIndex,
    method: &str,
) -> PgResult<Output> {
    let table = crate::sql::dml::lock_table(
        engine,
        session,
        &object_parts(&ci.table_name),
        crate::catalog::locks::LockMode::Share,
    )
    .await?;
    if ci.unique {
        return Err(PgError::new(
            codes::FEATURE_NOT_SUPPORTED,
            format!("access method \"{method}\" does not support unique indexes"),
        ));
    }
    if ci.predicate.is_some() {
        return Err(PgError::unsupported("partial indexes"));
    }
    let [ic] = ci.columns.as_slice() else {
        return Err(PgError::new(
            codes::FEATURE_NOT_SUPPORTED,
            format!("access method \"{method}\" does not support multicolumn indexes"),
        ));
    };
    // The column, or the expression over one column.
    let expr_text = ic.column.expr.to_string();
    let (col_name, steps) = parse_expr(&expr_text)
        .ok_or_else(|| PgError::unsupported(format!("an index on the expression {expr_text}")))?;
    let column = table
        .column(&col_name)
        .ok_or_else(|| PgError::undefined_column(&col_name))?
        .clone();
    let is_expr = !steps.is_empty();
    // pgvector indexes bit(n), not bit varying (cast it: `(v::bit(n))`).
    if !is_expr && matches!(column.ty, SqlType::VarBit(_)) {
        return Err(PgError::new(
            "XX000",
            format!("type not supported for {method} index"),
        ));
    }
    // Kind and dimensions of the indexed value.
    let Some((mut kind, mut dims)) = column.ty.vector() else {
        return Err(PgError::new(
            codes::DATATYPE_MISMATCH,
            format!(
                "type {} is not supported for {method} index",
                column.ty.pg_name()
            ),
        ));
    };
    if is_expr {
        if let Ok(e) = datafusion::sql::sqlparser::parser::Parser::new(
            &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        )
        .try_with_sql(&expr_text)
        .and_then(|mut p| p.parse_expr())
        {
            let mut e = &e;
            while let Expr::Nested(inner) = e {
                e = inner;
            }
            if let Expr::Cast { data_type, .. } = e {
                if let Ok((t, _)) = SqlType::from_ast(data_type) {
                    if let Some((_, d)) = t.vector() {
                        if d.is_some() {
                            dims = d;
                        }
                    }
                }
            }
        }
        for s in &steps {
            kind = match s {
                Step::Half => Kind::HalfVec,
                Step::Vector => Kind::Vector,
                Step::Quantize | Step::Bit => Kind::Bit,
            };
        }
    }
    let type_name = match kind {
        Kind::Bit => "bit".to_string(),
        k => k.name().to_string(),
    };
    let ivf = method == "ivfflat";
    let opclass_name = match &ic.operator_class {
        Some(o) => object_parts(o).last().cloned().unwrap_or_default(),
        // vector_l2_ops is ivfflat's default operator class.
        None if ivf && kind == Kind::Vector => "vector_l2_ops".to_string(),
        None => {
            return Err(PgError::new(
                codes::UNDEFINED_OBJECT,
                format!(
                    "data type {type_name} has no default operator class for access method \"{method}\""
                ),
            )
            .with_hint("You must specify an operator class for the index or define a default operator class for the data type."));
        }
    };
    // IVFFlat: vectors and halfvecs with L2, inner product or cosine, and
    // bits with Hamming (`hnsw_only` marks the rest).
    let found = opclass(&opclass_name).filter(|(_, _, hnsw_only)| !(ivf && *hnsw_only));
    let Some((op_kind, metric, _)) = found else {
        return Err(PgError::new(
            codes::UNDEFINED_OBJECT,
            format!(
                "operator class \"{opclass_name}\" does not exist for access method \"{method}\""
            ),
        ));
    };
    if op_kind != kind {
        return Err(PgError::new(
            codes::DATATYPE_MISMATCH,
            format!("operator class \"{opclass_name}\" does not accept data type {type_name}"),
        ));
    }
    // A sparse vector needs no fixed dimensions to be indexed.
    let dims = if kind == Kind::SparseVec {
        dims.or(Some(0))
    } else {
        dims
    };
    let Some(dims) = dims else {
        return Err(crate::vector::data_error("column does not have dimensions"));
    };
    let max_dims = match kind {
        Kind::Vector => 2000,
        Kind::HalfVec => 4000,
        _ => 64_000,
    };
    if dims > max_dims {
        return Err(PgError::new(
            "54000",
            format!("column cannot have more than {max_dims} dimensions for {method} index"),
        ));
    }
    // Options, with pgvector's defaults and bounds.
    let (mut m, mut ef_construction, mut quantization, mut rerank) = (16, 64, None, 4);
    let mut lists = 100;
    let given = options(&ci.with)?;
    for (name, value) in given.clone() {
        match name.as_str() {
            "lists" if ivf => lists = int_option("lists", &value, 1, 32768)?,
            other if ivf => return Err(invalid(format!("unrecognized parameter \"{other}\""))),
            "m" => m = int_option("m", &value, 2, 100)?,
            "ef_construction" => ef_construction = int_option("ef_construction", &value, 4, 1000)?,
            "quantization" => {
                quantization = match value.to_lowercase().as_str() {
                    q @ ("binary" | "halfvec") => Some(q.to_string()),
                    "none" => None,
                    other => {
                        return Err(invalid(format!(
                            "invalid value for option \"quantization\": \"{other}\""
                        ))
                        .with_detail("Valid values are \"none\", \"binary\" and \"halfvec\"."));
                    }
                }
            }
            "rerank" => rerank = int_option("rerank", &value, 1, 100)?,
            other => return Err(invalid(format!("unrecognized parameter \"{other}\""))),
        }
    }
    if ef_construction < 2 * m {
        return Err(invalid(
            "ef_construction must be greater than or equal to 2 * m",
        ));
    }
    if let Some(q) = &quantization {
        if !matches!(kind, Kind::Vector | Kind::HalfVec) {
            return Err(invalid(format!(
                "quantization = '{q}' needs a vector or halfvec column"
            )));
        }
    }
    let name = match &ci.name {
        Some(n) => object_parts(n).last().cloned().unwrap(),
        None => {
            let base = if is_expr {
                "expr".to_string()
            } else {
                column.name.clone()
            };
            unused_index_name(session, &table, &format!("{}_{base}", table.name), "idx")
        }
    };
    let cat = session.catalog();
    if cat
        .tables_in(&table.schema)
        .any(|t| t.name == name || t.indexes.iter().any(|i| i.name == name))
    {
        if ci.if_not_exists {
            session.notices.push(Notice::notice(
                codes::SUCCESSFUL_COMPLETION,
                format!("relation \"{name}\" already exists, skipping"),
            ));
            return Ok(Output::Command("CREATE INDEX".into()));
        }
        return Err(PgError::new(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let def = VectorIndex {
        method: method.to_string(),
        opclass: opclass_name,
        metric,
        kind,
        column: column.id,
        expr: is_expr.then_some(expr_text),
        dims,
        m,
        ef_construction,
        quantization,
        rerank,
        lists,
        options: given,
    };
    // In the catalog at COMMIT; the graphs are built from the committed
    // rows right after it (`build`), queries scanning exactly until then.
    change(engine, session, |cat| {
        let id = cat.next_table_id;
        cat.next_table_id += 1;
        let idx = Index {
            id,
            name: name.clone(),
            columns: vec![column.id],
            unique: false,
            primary: false,
            vector: Some(def.clone()),
            building: false,
            constraint: false,
        };
        let t = cat
            .tables
            .get_mut(&table.id)
            .ok_or_else(|| PgError::undefined_table(&table.name))?;
        t.indexes.push(idx);
        Ok(())
    })
    .await?;
    Ok(Output::Command("CREATE INDEX".into()))
}

/// Build the graphs of a vector index that has just committed (its
/// notices go to the session). A build that fails takes the index out of
/// the catalog again.
pub async fn build(
    engine: &Engine,
    session: &mut Session,
    table: &Table,
    index: &Index,
) -> PgResult<()> {
    let Some(def) = &index.vector else {
        return Ok(());
    };
    let messages = parking_lot::Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    let built = engine
        .vindexes
        .open(table, index, false, &|msg| {
            tracing::info!("{msg}");
            messages.lock().push(msg);
        })
        .await;
    for m in messages.into_inner() {
        session
            .notices
            .push(Notice::notice(codes::SUCCESSFUL_COMPLETION, m));
    }
    if let Err(e) = built {
        engine.vindexes.drop_index(index.id);
        let _ = engine
            .catalog
            .update(|cat| {
                if let Some(t) = cat.tables.get_mut(&table.id) {
                    t.indexes.retain(|i| i.id != index.id);
                }
                Ok(())
            })
            .await;
        return Err(e);
    }
    tracing::info!(
        "built {} index \"{}\" in {:.1}s",
        def.method,
        index.name,
        started.elapsed().as_secs_f64()
    );
    if def.method == "ivfflat" {
        let rows: usize = engine
            .vindexes
            .all()
            .iter()
            .filter(|s| s.index.id == index.id)
            .map(|s| s.counts().0)
            .sum();
        if rows < def.lists {
            session.notices.push(
                Notice::notice(
                    codes::SUCCESSFUL_COMPLETION,
                    "ivfflat index created with little data",
                )
                .with_detail("This will cause low recall.")
                .with_hint("Drop the index until the table has more data."),
            );
        }
    }
    Ok(())
}

/// `REINDEX {INDEX|TABLE|SCHEMA|DATABASE} name` (arrives as
/// `CALL grape_reindex(kind, name parts...)`): rebuild the named HNSW graphs
/// from their rows, each shard's old graph serving until its new one is
/// swapped in. B-tree indexes are written in the same Raft entry as their
/// rows, so they cannot drift from them: REINDEX has nothing to redo there.
pub async fn reindex(engine: &Engine, session: &mut Session, args: &[String]) -> PgResult<Output> {
    let (kind, parts) = args
        .split_first()
        .ok_or_else(|| PgError::syntax("syntax error at or near \"REINDEX\""))?;
    if matches!(kind.as_str(), "SCHEMA" | "DATABASE") && session.in_block() {
        return Err(PgError::new(
            "25001",
            format!("REINDEX {kind} cannot run inside a transaction block"),
        ));
    }
    let cat = engine.catalog.current();
    let search = session.search_path();
    let schema_and_name = || -> PgResult<(Option<&String>, &String)> {
        match parts {
            [n] => Ok((None, n)),
            [s, n] | [_, s, n] => Ok((Some(s), n)),
            _ => Err(PgError::syntax("improper qualified name")),
        }
    };
    let indexes: Vec<Index> = match kind.as_str() {
        "INDEX" => {
            let (schema, name) = schema_and_name()?;
            let owner = match schema {
                Some(s) => cat.index_owner(s, name),
                None => search.iter().find_map(|s| cat.index_owner(s, name)),
            }
            .ok_or_else(|| {
                PgError::new(
                    codes::UNDEFINED_TABLE,
                    format!("relation \"{}\" does not exist", parts.join(".")),
                )
            })?;
            owner
                .indexes
                .iter()
                .filter(|i| &i.name == name)
                .cloned()
                .collect()
        }
        "TABLE" => {
            let table = crate::sql::dml::resolve_table(engine, session, parts)?;
            table.indexes.clone()
        }
        "SCHEMA" => {
            let [schema] = parts else {
                return Err(PgError::syntax("improper qualified name"));
            };
            if !cat.schemas.contains(schema) {
                return Err(PgError::new(
                    codes::INVALID_SCHEMA_NAME,
                    format!("schema \"{schema}\" does not exist"),
                ));
            }
            cat.tables_in(schema)
                .flat_map(|t| t.indexes.iter().cloned())
                .collect()
        }
        "DATABASE" => cat
            .tables
            .values()
            .flat_map(|t| t.indexes.iter().cloned())
            .collect(),
        _ => {
            return Err(PgError::unsupported(&format!("REINDEX {kind}")));
        }
    };
    for index in indexes.iter().filter(|i| i.vector.is_some()) {
        let rows = engine.vindexes.reindex(index.id).await?;
        tracing::info!("reindexed \"{}\": {rows} rows", index.name);
    }
    Ok(Output::Command("REINDEX".into()))
}

/// PostgreSQL's name for an unnamed index: `<base>_<label>` (label `idx`,
/// `key` for a UNIQUE constraint's), or `<base>_<label>1`, ... when that
/// is taken in the table's schema.
pub fn unused_index_name(session: &Session, table: &Table, base: &str, label: &str) -> String {
    let cat = session.catalog();
    let taken = |n: &str| {
        cat.tables_in(&table.schema)
            .any(|t| t.name == n || t.indexes.iter().any(|i| i.name == n))
    };
    let mut name = format!("{base}_{label}");
    let mut i = 1;
    while taken(&name) {
        name = format!("{base}_{label}{i}");
        i += 1;
    }
    name
}
