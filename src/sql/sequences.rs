//! Sequence functions: `nextval`, `currval`, `setval`, `lastval` and
//! `pg_get_serial_sequence`. Values come from the meta group through
//! [`CatalogStore`] and are never rolled back (as in PostgreSQL);
//! `currval` and `lastval` are the session's own.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use parking_lot::Mutex;

use crate::catalog::{Catalog, CatalogStore, Relation, Sequence};
use crate::error::{PgError, PgResult, codes};

/// What the functions need of the session, refreshed before each
/// statement (the catalog as the session sees it, its search path) and
/// what they remember for it (`currval`, `lastval`).
#[derive(Default)]
pub struct SequenceState {
    pub catalog: Arc<Catalog>,
    pub search_path: Vec<String>,
    currvals: HashMap<String, i64>,
    last: Option<(String, i64)>,
}

pub type SharedSequenceState = Arc<Mutex<SequenceState>>;

impl SequenceState {
    /// A value the write path took from sequence `key` for this session
    /// (a serial column's): `currval` and `lastval` answer it.
    pub fn took(&mut self, key: &str, v: i64) {
        self.currvals.insert(key.to_string(), v);
        self.last = Some((key.to_string(), v));
    }

    /// DISCARD SEQUENCES / ALL: forget what currval and lastval answer.
    pub fn discard(&mut self) {
        self.currvals.clear();
        self.last = None;
    }
}

/// The sequence a `nextval('name')` argument names (`schema.name`, quoted
/// parts, or along the search path), or 42P01.
pub fn resolve(cat: &Catalog, search_path: &[String], text: &str) -> PgResult<Sequence> {
    let parts: Vec<String> = crate::sql::parse::split_qualified(text);
    let (schema, name) =
        crate::sql::parse::schema_and_name(&parts).ok_or_else(|| PgError::undefined_table(text))?;
    match cat.resolve_relation(schema, name, search_path) {
        Some((_, Relation::Sequence(s))) => Ok(s.clone()),
        Some(_) => Err(PgError::new(
            codes::WRONG_OBJECT_TYPE,
            format!("\"{name}\" is not a sequence"),
        )),
        None => Err(PgError::undefined_table(name)),
    }
}

/// Run a future on the runtime from a synchronous function (DataFusion's
/// scalar functions are synchronous; the server's runtime is multi-thread).
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

fn df(e: PgError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Nextval,
    Currval,
    Setval,
    Lastval,
    SerialSequence,
}

struct SeqFn {
    name: &'static str,
    op: Op,
    signature: Signature,
    store: Arc<CatalogStore>,
    state: SharedSequenceState,
}

impl std::fmt::Debug for SeqFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)
    }
}
impl PartialEq for SeqFn {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && Arc::ptr_eq(&self.state, &other.state)
    }
}
impl Eq for SeqFn {}
impl Hash for SeqFn {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.op.hash(h);
    }
}

impl SeqFn {
    fn sequence(&self, name: &str) -> PgResult<Sequence> {
        let st = self.state.lock();
        resolve(&st.catalog, &st.search_path, name)
    }

    fn nextval(&self, name: &str) -> PgResult<i64> {
        let seq = self.sequence(name)?;
        let v = block_on(self.store.next_of(&seq))?;
        let mut st = self.state.lock();
        st.currvals.insert(seq.key.clone(), v);
        st.last = Some((seq.key, v));
        Ok(v)
    }

    fn currval(&self, name: &str) -> PgResult<i64> {
        let seq = self.sequence(name)?;
        self.state
            .lock()
            .currvals
            .get(&seq.key)
            .copied()
            .ok_or_else(|| {
                PgError::new(
                    "55000",
                    format!(
                        "currval of sequence \"{}\" is not yet defined in this session",
                        seq.name
                    ),
                )
            })
    }

    fn setval(&self, name: &str, v: i64, called: bool) -> PgResult<i64> {
        let seq = self.sequence(name)?;
        if v < seq.min || v > seq.max {
            return Err(PgError::new(
                codes::NUMERIC_VALUE_OUT_OF_RANGE,
                format!(
                    "setval: value {v} is out of bounds for sequence \"{}\" ({}..{})",
                    seq.name, seq.min, seq.max
                ),
            ));
        }
        let last = if called { v } else { v - seq.increment };
        block_on(self.store.set_counter(&seq.key, last - seq.base))?;
        if called {
            let mut st = self.state.lock();
            st.currvals.insert(seq.key.clone(), v);
            st.last = Some((seq.key, v));
        }
        Ok(v)
    }

    fn lastval(&self) -> PgResult<i64> {
        let st = self.state.lock();
        let Some((key, v)) = &st.last else {
            return Err(PgError::new(
                "55000",
                "lastval is not yet defined in this session",
            ));
        };
        if st.catalog.sequence_by_key(key).is_none() {
            return Err(PgError::new(
                "55000",
                "lastval is not yet defined in this session",
            ));
        }
        Ok(*v)
    }

    /// `pg_get_serial_sequence(table, column)`: the sequence a serial or
    /// identity column owns, schema-qualified (NULL for other columns).
    fn serial_sequence(&self, table: &str, column: &str) -> PgResult<Option<String>> {
        let st = self.state.lock();
        let parts = crate::sql::parse::split_qualified(table);
        let (schema, name) = crate::sql::parse::schema_and_name(&parts)
            .ok_or_else(|| PgError::undefined_table(table))?;
        let t = st
            .catalog
            .resolve(schema, name, &st.search_path)
            .ok_or_else(|| PgError::undefined_table(name))?;
        let col = t.column(column).ok_or_else(|| {
            PgError::new(
                codes::UNDEFINED_COLUMN,
                format!(
                    "column \"{column}\" of relation \"{}\" does not exist",
                    t.name
                ),
            )
        })?;
        Ok(st.catalog.relations.values().find_map(|r| match r {
            Relation::Sequence(s) if s.owned_by == Some((t.id, col.id)) => Some(format!(
                "{}.{}",
                crate::types::text::quote_ident_if_needed(&s.schema),
                crate::types::text::quote_ident_if_needed(&s.name)
            )),
            _ => None,
        }))
    }
}

impl ScalarUDFImpl for SeqFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.op {
            Op::SerialSequence => DataType::Utf8,
            _ => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows.max(1);
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<Result<_>>()?;
        let strings: Vec<Option<StringArray>> = arrays
            .iter()
            .map(|a| match a.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    datafusion::arrow::compute::cast(a, &DataType::Utf8)
                        .ok()
                        .map(|c| c.as_string::<i32>().clone())
                }
                _ => None,
            })
            .collect();
        let str_at = |i: usize, r: usize| -> Option<String> {
            let s = strings[i].as_ref()?;
            (!s.is_null(r)).then(|| s.value(r).to_string())
        };
        if self.op == Op::SerialSequence {
            let mut out = Vec::with_capacity(n);
            for r in 0..n {
                out.push(match (str_at(0, r), str_at(1, r)) {
                    (Some(t), Some(c)) => self.serial_sequence(&t, &c).map_err(df)?,
                    _ => None,
                });
            }
            return Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))));
        }
        let mut out = Vec::with_capacity(n);
        for r in 0..n {
            let v = match self.op {
                Op::Lastval => Some(self.lastval().map_err(df)?),
                Op::Nextval | Op::Currval => match str_at(0, r) {
                    None => None,
                    Some(name) if self.op == Op::Nextval => Some(self.nextval(&name).map_err(df)?),
                    Some(name) => Some(self.currval(&name).map_err(df)?),
                },
                Op::Setval => {
                    let v = datafusion::arrow::compute::cast(&arrays[1], &DataType::Int64)?;
                    let v = v.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                    let called = match arrays.get(2) {
                        Some(b) => {
                            let b = datafusion::arrow::compute::cast(b, &DataType::Boolean)?;
                            let b: &BooleanArray = b.as_boolean();
                            b.is_null(r) || b.value(r)
                        }
                        None => true,
                    };
                    match (str_at(0, r), v.is_null(r)) {
                        (Some(name), false) => {
                            Some(self.setval(&name, v.value(r), called).map_err(df)?)
                        }
                        _ => None,
                    }
                }
                Op::SerialSequence => unreachable!("answered above"),
            };
            out.push(v);
        }
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
    }
}

/// Register the sequence functions for a session.
pub fn register(ctx: &SessionContext, store: Arc<CatalogStore>, state: SharedSequenceState) {
    use datafusion::logical_expr::TypeSignature::{Exact, Nullary};
    let text = DataType::Utf8;
    let fns: [(&'static str, Op, Signature); 5] = [
        (
            "nextval",
            Op::Nextval,
            Signature::exact(vec![text.clone()], Volatility::Volatile),
        ),
        (
            "currval",
            Op::Currval,
            Signature::exact(vec![text.clone()], Volatility::Volatile),
        ),
        (
            "setval",
            Op::Setval,
            Signature::one_of(
                vec![
                    Exact(vec![text.clone(), DataType::Int64]),
                    Exact(vec![text.clone(), DataType::Int64, DataType::Boolean]),
                ],
                Volatility::Volatile,
            ),
        ),
        (
            "lastval",
            Op::Lastval,
            Signature::one_of(vec![Nullary], Volatility::Volatile),
        ),
        (
            "pg_get_serial_sequence",
            Op::SerialSequence,
            Signature::exact(vec![text.clone(), text], Volatility::Stable),
        ),
    ];
    for (name, op, signature) in fns {
        ctx.register_udf(ScalarUDF::new_from_impl(SeqFn {
            name,
            op,
            signature,
            store: store.clone(),
            state: state.clone(),
        }));
    }
}
