//! Functions of PostgreSQL's library that DataFusion lacks: `array_fill`,
//! the ordered-set aggregate `mode() WITHIN GROUP (ORDER BY x)`,
//! `jsonb_agg` / `json_agg`, `variance` (DataFusion's `var_samp`
//! under PostgreSQL's other name), and `round` of floats (half to even).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::error::{PgError, codes};
use crate::types::PG_TYPE_KEY;

fn df(e: PgError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// PostgreSQL's limit on an array's elements (MaxAllocSize / sizeof(Datum)).
const MAX_ARRAY_ELEMENTS: i64 = 134_217_727;

/// `array_fill(value, dims [, lower_bounds])`, one-dimensional.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayFill {
    signature: Signature,
}

impl ScalarUDFImpl for ArrayFill {
    fn name(&self) -> &str {
        "array_fill"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let item = match args.first() {
            Some(DataType::Null) | None => DataType::Utf8,
            Some(t) => t.clone(),
        };
        Ok(DataType::List(Arc::new(Field::new("item", item, true))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows.max(1);
        if args.args.len() < 2 || args.args.len() > 3 {
            return Err(df(PgError::new(
                codes::UNDEFINED_FUNCTION,
                "function array_fill does not exist",
            )));
        }
        let values = args.args[0].to_array(n)?;
        let dims = args.args[1].to_array(n)?;
        let item_type = match values.data_type() {
            DataType::Null => DataType::Utf8,
            t => t.clone(),
        };
        let mut out = Vec::with_capacity(n);
        for row in 0..n {
            let len = match dims.as_list_opt::<i32>() {
                Some(l) if !l.is_null(row) => {
                    let d = datafusion::arrow::compute::cast(&l.value(row), &DataType::Int64)?;
                    let d = d.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                    if d.len() != 1 {
                        return Err(df(PgError::unsupported(
                            "array_fill with more than one dimension",
                        )));
                    }
                    if d.is_null(0) {
                        return Err(df(PgError::new("22004", "dimension values cannot be null")));
                    }
                    d.value(0)
                }
                _ => {
                    return Err(df(PgError::new(
                        "22004",
                        "dimension array or low bound array cannot be null",
                    )));
                }
            };
            if len > MAX_ARRAY_ELEMENTS {
                return Err(df(PgError::new(
                    "54000",
                    format!("array size exceeds the maximum allowed ({MAX_ARRAY_ELEMENTS})"),
                )));
            }
            let v = ScalarValue::try_from_array(&values, row)?.cast_to(&item_type)?;
            let items = vec![v; len.max(0) as usize];
            out.push(ScalarValue::List(ScalarValue::new_list(
                &items, &item_type, true,
            )));
        }
        let array = ScalarValue::iter_to_array(out)?;
        Ok(
            if args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)))
            {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            } else {
                ColumnarValue::Array(array)
            },
        )
    }
}

/// `mode() WITHIN GROUP (ORDER BY x)`: the most frequent value; among
/// equally frequent ones the first in the ordering (the smallest).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Mode {
    signature: Signature,
}

impl AggregateUDFImpl for Mode {
    fn name(&self) -> &str {
        "mode"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Null))
    }
    fn supports_within_group_clause(&self) -> bool {
        true
    }
    fn order_sensitivity(&self) -> datafusion::logical_expr::utils::AggregateOrderSensitivity {
        datafusion::logical_expr::utils::AggregateOrderSensitivity::Insensitive
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let t = args.input_fields[0].data_type().clone();
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "values"),
                DataType::List(Arc::new(Field::new("item", t, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "counts"),
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                true,
            )),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ModeAcc {
            data_type: args.return_field.data_type().clone(),
            counts: HashMap::new(),
        }))
    }
}

#[derive(Debug)]
struct ModeAcc {
    data_type: DataType,
    counts: HashMap<ScalarValue, i64>,
}

impl Accumulator for ModeAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = &values[0];
        for i in 0..a.len() {
            if !a.is_null(i) {
                *self
                    .counts
                    .entry(ScalarValue::try_from_array(a, i)?)
                    .or_default() += 1;
            }
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (vals, counts) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..vals.len() {
            if vals.is_null(row) {
                continue;
            }
            let (v, c) = (vals.value(row), counts.value(row));
            let c = c.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for i in 0..v.len() {
                *self
                    .counts
                    .entry(ScalarValue::try_from_array(&v, i)?)
                    .or_default() += c.value(i);
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (vals, counts): (Vec<ScalarValue>, Vec<ScalarValue>) = self
            .counts
            .iter()
            .map(|(v, c)| (v.clone(), ScalarValue::Int64(Some(*c))))
            .unzip();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list(&vals, &self.data_type, true)),
            ScalarValue::List(ScalarValue::new_list(&counts, &DataType::Int64, true)),
        ])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let best = self
            .counts
            .iter()
            .max_by(|(va, ca), (vb, cb)| {
                ca.cmp(cb)
                    .then_with(|| vb.partial_cmp(va).unwrap_or(std::cmp::Ordering::Equal))
            })
            .map(|(v, _)| v.clone());
        Ok(match best {
            Some(v) => v,
            None => ScalarValue::try_from(&self.data_type)?,
        })
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.len() * 64
    }
}

/// `grape_one(array_agg(x))`: the one value of a scalar subquery
/// PostgreSQL would run as is (NULL for no rows; more than one row is
/// 21000, as PostgreSQL says at run time), so DataFusion, which plans a
/// correlated scalar subquery only when it aggregates, plans it (see
/// `sql::rewrite::scalar_subquery`). The check is on the subquery's value,
/// after the join decorrelation makes: only rows the query reads raise it.
/// `grape_one(list, guard)`: NULL, unchecked, where `guard` is not true
/// (conditions on the outer row that PostgreSQL tests before it runs the
/// subquery).
#[derive(Debug, PartialEq, Eq, Hash)]
struct One {
    signature: Signature,
}

impl ScalarUDFImpl for One {
    fn name(&self) -> &str {
        "grape_one"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match &args[0] {
            DataType::List(f) => f.data_type().clone(),
            other => other.clone(),
        })
    }
    /// The element's field, metadata (a vector kind, an enum) included.
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<FieldRef> {
        Ok(match args.arg_fields[0].data_type() {
            DataType::List(f) => Arc::new(
                f.as_ref()
                    .clone()
                    .with_name("grape_one")
                    .with_nullable(true),
            ),
            other => Arc::new(Field::new("grape_one", other.clone(), true)),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ret = args.return_field.data_type().clone();
        let rows = args.number_rows.max(1);
        let a = args.args[0].to_array(rows)?;
        let guard = match args.args.get(1) {
            Some(g) => Some(g.to_array(rows)?),
            None => None,
        };
        let guarded = |i: usize| match guard.as_ref().map(|g| g.as_boolean_opt()) {
            None => true,
            Some(Some(g)) => g.is_valid(i) && g.value(i),
            Some(None) => false,
        };
        let Some(list) = a.as_list_opt::<i32>() else {
            let unguarded: datafusion::arrow::array::BooleanArray =
                (0..a.len()).map(|i| Some(!guarded(i))).collect();
            let out = datafusion::arrow::compute::nullif(&a, &unguarded)?;
            return super::timestamps::shaped_like(&args.args.iter().collect::<Vec<_>>(), out);
        };
        let mut picks = Vec::with_capacity(list.len());
        for i in 0..list.len() {
            let n = if list.is_null(i) || !guarded(i) {
                0
            } else {
                list.value_length(i)
            };
            if n > 1 {
                return Err(df(PgError::new(
                    codes::CARDINALITY_VIOLATION,
                    "more than one row returned by a subquery used as an expression",
                )));
            }
            picks.push((n == 1).then(|| list.value_offsets()[i] as u32));
        }
        let values = list.values();
        let out = if values.data_type() == &ret {
            datafusion::arrow::compute::take(
                values,
                &datafusion::arrow::array::UInt32Array::from(picks),
                None,
            )?
        } else {
            datafusion::arrow::array::new_null_array(&ret, list.len())
        };
        super::timestamps::shaped_like(&args.args.iter().collect::<Vec<_>>(), out)
    }
}

/// `grape_when(condition, value)`: `CASE WHEN condition THEN value END`
/// with the value's field kept (a json, vector or enum type's metadata,
/// which DataFusion's CASE drops). The scalar-subquery rewrite's guard.
#[derive(Debug, PartialEq, Eq, Hash)]
struct When {
    signature: Signature,
}

impl ScalarUDFImpl for When {
    fn name(&self) -> &str {
        "grape_when"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<FieldRef> {
        Ok(Arc::new(
            args.arg_fields[1]
                .as_ref()
                .clone()
                .with_name("grape_when")
                .with_nullable(true),
        ))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let condition = args.args[0].to_array(rows)?;
        let value = args.args[1].to_array(rows)?;
        // Null out every row whose condition is not true.
        let drop: datafusion::arrow::array::BooleanArray = match condition.as_boolean_opt() {
            Some(c) => (0..c.len())
                .map(|i| Some(!(c.is_valid(i) && c.value(i))))
                .collect(),
            None => (0..condition.len()).map(|_| Some(true)).collect(),
        };
        let out = datafusion::arrow::compute::nullif(&value, &drop)?;
        super::timestamps::shaped_like(&[&args.args[0], &args.args[1]], out)
    }
}

/// `jsonb_agg(x [ORDER BY ...])` and `json_agg`: the values as a JSON
/// array (NULL for no rows), jsonb in PostgreSQL's normal form.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonAgg {
    name: &'static str,
    signature: Signature,
}

impl AggregateUDFImpl for JsonAgg {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field(&self, _arg_fields: &[FieldRef]) -> Result<FieldRef> {
        let kind = if self.name == "jsonb_agg" {
            "jsonb"
        } else {
            "json"
        };
        Ok(Arc::new(
            Field::new(self.name, DataType::Utf8, true)
                .with_metadata([(PG_TYPE_KEY.to_string(), kind.to_string())].into()),
        ))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: String, t: DataType| {
            Arc::new(Field::new(
                name,
                DataType::List(Arc::new(Field::new("item", t, true))),
                true,
            ))
        };
        let mut out = vec![list(format_state_name(args.name, "items"), DataType::Utf8)];
        for (i, f) in args.ordering_fields.iter().enumerate() {
            out.push(list(
                format_state_name(args.name, &format!("key{i}")),
                f.data_type().clone(),
            ));
        }
        Ok(out)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let json_input = matches!(
            args.expr_fields[0]
                .metadata()
                .get(PG_TYPE_KEY)
                .map(String::as_str),
            Some("json" | "jsonb")
        );
        Ok(Box::new(JsonAggAcc {
            jsonb: self.name == "jsonb_agg",
            json_input,
            order: args.order_bys.iter().map(|o| o.options).collect(),
            key_types: args
                .order_bys
                .iter()
                .map(|o| o.expr.data_type(args.schema))
                .collect::<Result<_>>()?,
            items: Vec::new(),
            any: false,
        }))
    }
}

#[derive(Debug)]
struct JsonAggAcc {
    jsonb: bool,
    json_input: bool,
    /// The ORDER BY inside the call: DataFusion hands its keys over after
    /// the value, and the accumulator orders the items itself.
    order: Vec<datafusion::arrow::compute::SortOptions>,
    key_types: Vec<DataType>,
    /// Each value's order keys and JSON text.
    items: Vec<(Vec<ScalarValue>, String)>,
    any: bool,
}

impl JsonAggAcc {
    fn sorted(&mut self) {
        if self.order.is_empty() {
            return;
        }
        let order = self.order.clone();
        self.items.sort_by(|(a, _), (b, _)| {
            for ((x, y), o) in a.iter().zip(b).zip(&order) {
                let c = match (x.is_null(), y.is_null()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) if o.nulls_first => std::cmp::Ordering::Less,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) if o.nulls_first => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    (false, false) => {
                        let c = x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal);
                        if o.descending { c.reverse() } else { c }
                    }
                };
                if c != std::cmp::Ordering::Equal {
                    return c;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
}

/// A value as JSON, as `to_json` writes it.
fn json_value(a: &ArrayRef, i: usize, json_input: bool) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    if a.is_null(i) {
        return Ok(J::Null);
    }
    let v = ScalarValue::try_from_array(a, i)?;
    Ok(match &v {
        ScalarValue::Boolean(Some(b)) => J::Bool(*b),
        ScalarValue::Int8(Some(x)) => J::from(*x),
        ScalarValue::Int16(Some(x)) => J::from(*x),
        ScalarValue::Int32(Some(x)) => J::from(*x),
        ScalarValue::Int64(Some(x)) => J::from(*x),
        ScalarValue::Float32(Some(x)) if x.is_finite() => {
            serde_json::from_str(&crate::format::pg_float_text(*x as f64, true)).unwrap_or(J::Null)
        }
        ScalarValue::Float64(Some(x)) if x.is_finite() => {
            serde_json::from_str(&crate::format::pg_float_text(*x, false)).unwrap_or(J::Null)
        }
        ScalarValue::Decimal128(Some(_), _, _) => {
            serde_json::from_str(&v.to_string()).unwrap_or_else(|_| J::String(v.to_string()))
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
            if json_input =>
        {
            serde_json::from_str(s).unwrap_or_else(|_| J::String(s.clone()))
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => J::String(s.clone()),
        ScalarValue::List(l) => {
            let items = l.value(0);
            J::Array(
                (0..items.len())
                    .map(|j| json_value(&items, j, false))
                    .collect::<Result<_>>()?,
            )
        }
        other => J::String(other.to_string()),
    })
}

impl Accumulator for JsonAggAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = &values[0];
        for i in 0..a.len() {
            let v = json_value(a, i, self.json_input)?;
            let text = if self.jsonb {
                crate::types::text::jsonb_text(&v)
            } else {
                v.to_string()
            };
            let keys = values[1..]
                .iter()
                .map(|k| ScalarValue::try_from_array(k, i))
                .collect::<Result<_>>()?;
            self.items.push((keys, text));
            self.any = true;
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let items = lists.value(row);
            let items = items.as_string::<i32>();
            let keys: Vec<ArrayRef> = states[1..]
                .iter()
                .map(|k| k.as_list::<i32>().value(row))
                .collect();
            for (i, s) in items.iter().enumerate() {
                let k = keys
                    .iter()
                    .map(|k| ScalarValue::try_from_array(k, i))
                    .collect::<Result<_>>()?;
                self.items.push((k, s.unwrap_or("null").to_string()));
                self.any = true;
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        if !self.any {
            let mut out = vec![ScalarValue::new_null_list(DataType::Utf8, true, 1)];
            for t in &self.key_types {
                out.push(ScalarValue::new_null_list(t.clone(), true, 1));
            }
            return Ok(out);
        }
        let items: Vec<ScalarValue> = self
            .items
            .iter()
            .map(|(_, s)| ScalarValue::Utf8(Some(s.clone())))
            .collect();
        let mut out = vec![ScalarValue::List(ScalarValue::new_list(
            &items,
            &DataType::Utf8,
            true,
        ))];
        for (j, t) in self.key_types.iter().enumerate() {
            let keys: Vec<ScalarValue> = self.items.iter().map(|(k, _)| k[j].clone()).collect();
            out.push(ScalarValue::List(ScalarValue::new_list(&keys, t, true)));
        }
        Ok(out)
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        if !self.any {
            return Ok(ScalarValue::Utf8(None));
        }
        self.sorted();
        let texts: Vec<&str> = self.items.iter().map(|(_, s)| s.as_str()).collect();
        Ok(ScalarValue::Utf8(Some(format!("[{}]", texts.join(", ")))))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .items
                .iter()
                .map(|(k, s)| s.len() + 24 + k.len() * 48)
                .sum::<usize>()
    }
}

/// `round(x)`: for float4/float8 PostgreSQL rounds half to even (rint),
/// DataFusion away from zero; numeric and `round(x, n)` keep DataFusion's
/// (half away from zero, as PostgreSQL's numeric round).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgRound {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for PgRound {
    fn name(&self) -> &str {
        "round"
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() != 1
            || !matches!(
                args.args[0].data_type(),
                DataType::Float64 | DataType::Float32
            )
        {
            return self.inner.invoke_with_args(args);
        }
        let a = args.args[0].to_array(args.number_rows.max(1))?;
        let out: ArrayRef = match a.data_type() {
            DataType::Float64 => Arc::new(
                a.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                    .unary::<_, datafusion::arrow::datatypes::Float64Type>(f64::round_ties_even),
            ),
            _ => Arc::new(
                a.as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                    .unary::<_, datafusion::arrow::datatypes::Float32Type>(f32::round_ties_even),
            ),
        };
        super::timestamps::shaped_like(&[&args.args[0]], out)
    }
}

/// `grape_array_or_empty(a)`: `a`, with a NULL array as an empty one
/// (`ARRAY(subquery)` over no rows is `{}`; see
/// `sql::rewrite::array_subquery`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayOrEmpty {
    signature: Signature,
}

impl ScalarUDFImpl for ArrayOrEmpty {
    fn name(&self) -> &str {
        "grape_array_or_empty"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match &args[0] {
            DataType::Null => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            t => t.clone(),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ret = args.return_field.data_type().clone();
        let a = args.args[0].to_array(args.number_rows.max(1))?;
        let a = if a.data_type() == &DataType::Null {
            datafusion::arrow::array::new_null_array(&ret, a.len())
        } else {
            a
        };
        let shaped = |out| super::timestamps::shaped_like(&[&args.args[0]], out);
        let Some(list) = a.as_list_opt::<i32>() else {
            return shaped(a);
        };
        let (field, mut offsets, values, nulls) = list.clone().into_parts();
        if nulls.is_none() {
            return shaped(a);
        }
        // A NULL entry may still own values: rebuild the offsets so each
        // NULL becomes empty.
        let old = offsets.clone();
        let mut new = Vec::with_capacity(old.len());
        let mut take = Vec::new();
        new.push(0i32);
        for i in 0..list.len() {
            if !list.is_null(i) {
                take.extend((old[i]..old[i + 1]).map(|j| j as u32));
            }
            new.push(take.len() as i32);
        }
        offsets = datafusion::arrow::buffer::OffsetBuffer::new(new.into());
        let values = datafusion::arrow::compute::take(
            &values,
            &datafusion::arrow::array::UInt32Array::from(take),
            None,
        )?;
        let out = datafusion::arrow::array::ListArray::try_new(field, offsets, values, None)?;
        shaped(Arc::new(out))
    }
}

/// `array_upper(a, dim)` and `array_lower(a, dim)` of one-dimensional
/// arrays (lower bound 1): NULL for an empty array or another dimension,
/// as PostgreSQL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayBound {
    upper: bool,
    signature: Signature,
}

impl ScalarUDFImpl for ArrayBound {
    fn name(&self) -> &str {
        if self.upper {
            "array_upper"
        } else {
            "array_lower"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows.max(1);
        let a = args.args[0].to_array(n)?;
        let dims = datafusion::arrow::compute::cast(&args.args[1].to_array(n)?, &DataType::Int64)?;
        let dims = dims.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let out: datafusion::arrow::array::Int32Array = match a.as_list_opt::<i32>() {
            Some(l) => (0..a.len())
                .map(|i| {
                    if l.is_null(i) || dims.is_null(i) || dims.value(i) != 1 {
                        return None;
                    }
                    let len = l.value_length(i);
                    (len > 0).then_some(if self.upper { len } else { 1 })
                })
                .collect(),
            None => (0..a.len()).map(|_| None).collect(),
        };
        super::timestamps::shaped_like(&[&args.args[0], &args.args[1]], Arc::new(out))
    }
}

/// The functions `sql::query` runs before the statement (advisory locks,
/// `pg_sleep`: they wait, which a function inside DataFusion's execution
/// must not), declared here with their argument and result types so a
/// statement naming them plans and describes (`SELECT
/// pg_advisory_lock($1)` takes a bigint). By execution the calls have been
/// replaced by their values.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RunFirst {
    name: &'static str,
    ret: DataType,
    signature: Signature,
}

impl ScalarUDFImpl for RunFirst {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(df(PgError::unsupported(format!(
            "{} here (GrapeDB runs it with constant arguments, before its statement)",
            self.name
        ))))
    }
}

fn run_first_functions() -> Vec<ScalarUDF> {
    use datafusion::logical_expr::TypeSignature::{Exact, Nullary};
    let key = || {
        Signature::one_of(
            vec![
                Exact(vec![DataType::Int64]),
                Exact(vec![DataType::Int32, DataType::Int32]),
            ],
            Volatility::Volatile,
        )
    };
    let mut out = Vec::new();
    for name in ["pg_advisory_lock", "pg_advisory_xact_lock"] {
        out.push((name, DataType::Utf8, key()));
    }
    for name in [
        "pg_try_advisory_lock",
        "pg_try_advisory_xact_lock",
        "pg_advisory_unlock",
    ] {
        out.push((name, DataType::Boolean, key()));
    }
    out.push((
        "pg_advisory_unlock_all",
        DataType::Utf8,
        Signature::one_of(vec![Nullary], Volatility::Volatile),
    ));
    out.push((
        "pg_sleep",
        DataType::Utf8,
        Signature::exact(vec![DataType::Float64], Volatility::Volatile),
    ));
    out.into_iter()
        .map(|(name, ret, signature)| {
            ScalarUDF::new_from_impl(RunFirst {
                name,
                ret,
                signature,
            })
        })
        .collect()
}

/// `information_schema._pg_expandarray(a)` (pgjdbc's key queries): PostgreSQL
/// returns the set of (x, n), each element with its 1-based position; here
/// the list of those pairs, which the SQL rewrite unnests
/// (`sql/rewrite/pg_catalog_names.rs`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

impl ExpandArray {
    fn pair(item: &DataType) -> DataType {
        DataType::Struct(
            vec![
                Field::new("x", item.clone(), true),
                Field::new("n", DataType::Int32, false),
            ]
            .into(),
        )
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "grape_expandarray"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let item = match args.first() {
            Some(DataType::List(f)) => f.data_type().clone(),
            // int2vector columns (pg_index.indkey) are their text, "1 2".
            Some(DataType::Utf8) => DataType::Int16,
            _ => {
                return Err(df(PgError::new(
                    codes::UNDEFINED_FUNCTION,
                    "function information_schema._pg_expandarray takes an array",
                )));
            }
        };
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            Self::pair(&item),
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{Int32Array, ListArray, StructArray};
        use datafusion::arrow::buffer::OffsetBuffer;
        let n = args.number_rows.max(1);
        let lists = args.args[0].to_array(n)?;
        let lists = match lists.data_type() {
            DataType::Utf8 => Arc::new(int2vectors(lists.as_string::<i32>())?) as ArrayRef,
            _ => lists,
        };
        let lists = lists.as_list::<i32>();
        let DataType::Struct(fields) = Self::pair(&lists.value_type()) else {
            unreachable!("pair is a struct")
        };
        // Each element keeps its place in the flattened values; n counts
        // from 1 within its list.
        let offsets = lists.value_offsets();
        let (first, last) = (offsets[0] as usize, offsets[lists.len()] as usize);
        let values = lists.values().slice(first, last - first);
        let mut positions = Vec::with_capacity(last - first);
        for w in offsets.windows(2) {
            positions.extend(1..=(w[1] - w[0]));
        }
        let pairs = StructArray::try_new(
            fields.clone(),
            vec![values, Arc::new(Int32Array::from(positions))],
            None,
        )?;
        let rebased = OffsetBuffer::new(
            offsets
                .iter()
                .map(|o| o - offsets[0])
                .collect::<Vec<i32>>()
                .into(),
        );
        let out = ListArray::try_new(
            Arc::new(Field::new("item", DataType::Struct(fields), true)),
            rebased,
            Arc::new(pairs),
            lists.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `grape_int2vector(indkey)`: pg_index's int2vector/oidvector columns,
/// kept as their text ("1 2"), as the array PostgreSQL lets tools unnest
/// (`unnest(i.indkey)`, `generate_subscripts(i.indkey, 1)`: the SQL
/// rewrite wraps those columns in it).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Int2Vector {
    signature: Signature,
}

impl ScalarUDFImpl for Int2Vector {
    fn name(&self) -> &str {
        "grape_int2vector"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Int16,
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows.max(1);
        let texts = args.args[0].to_array(n)?;
        Ok(ColumnarValue::Array(Arc::new(int2vectors(
            texts.as_string::<i32>(),
        )?)))
    }
}

/// int2vector text ("1 2") as lists of smallints.
fn int2vectors(
    texts: &datafusion::arrow::array::StringArray,
) -> Result<datafusion::arrow::array::ListArray> {
    use datafusion::arrow::array::{Int16Builder, ListBuilder};
    let mut out = ListBuilder::new(Int16Builder::new());
    for t in texts.iter() {
        match t {
            Some(t) => {
                for w in t.split_whitespace() {
                    let v: i16 = w.parse().map_err(|_| {
                        df(PgError::new(
                            codes::INVALID_TEXT_REPRESENTATION,
                            format!("invalid input syntax for type smallint: \"{w}\""),
                        ))
                    })?;
                    out.values().append_value(v);
                }
                out.append(true);
            }
            None => out.append(false),
        }
    }
    Ok(out.finish())
}

/// Register the functions of this module.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(Int2Vector {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(ArrayFill {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
    for f in run_first_functions() {
        ctx.register_udf(f);
    }
    for upper in [true, false] {
        ctx.register_udf(ScalarUDF::new_from_impl(ArrayBound {
            upper,
            signature: Signature::any(2, Volatility::Immutable),
        }));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(ArrayOrEmpty {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(One {
        signature: Signature::one_of(
            vec![TypeSignature::Any(1), TypeSignature::Any(2)],
            Volatility::Immutable,
        ),
    }));
    ctx.register_udf(in_array());
    ctx.register_udf(ScalarUDF::new_from_impl(When {
        signature: Signature::any(2, Volatility::Immutable),
    }));
    ctx.register_udaf(AggregateUDF::new_from_impl(Mode {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    for name in ["jsonb_agg", "json_agg"] {
        ctx.register_udaf(AggregateUDF::new_from_impl(JsonAgg {
            name,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
    use datafusion::execution::FunctionRegistry;
    if let Ok(round) = ctx.udf("round") {
        ctx.register_udf(ScalarUDF::new_from_impl(PgRound { inner: round }));
    }
    if let Ok(var) = ctx.udaf("var_samp") {
        ctx.register_udaf(var.as_ref().clone().with_aliases(["variance"]));
    }
}

/// `grape_in_array(x, list)`: `x IN (subquery)` over the subquery's rows
/// gathered in a list (`sql::rewrite::order_subqueries`), with SQL's
/// three values: true when an element equals `x`; else NULL when `x` or
/// an element is NULL; else false. Both sides are compared in their
/// common type, as PostgreSQL compares them (`1 IN (SELECT 1.5::float8)`
/// is false); sides with none are an error, as there.
fn in_array() -> ScalarUDF {
    ScalarUDF::from(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "grape_in_array",
            Signature::any(2, Volatility::Immutable),
            DataType::Boolean,
            Arc::new(|args: &[ColumnarValue]| {
                let rows = crate::pg_catalog::functions::rows(args);
                let x = args[0].to_array(rows)?;
                let lists = args[1].to_array(rows)?;
                let mut out = datafusion::arrow::array::BooleanBuilder::with_capacity(rows);
                let Some(lists) = lists.as_list_opt::<i32>() else {
                    // ARRAY(subquery) over no rows may come as an untyped
                    // NULL: no element, so false.
                    out.append_n(rows, false);
                    return Ok(ColumnarValue::Array(Arc::new(out.finish())));
                };
                let DataType::List(item) = lists.data_type() else {
                    return Err(DataFusionError::Internal("a list without items".into()));
                };
                let common = datafusion::logical_expr::type_coercion::binary::comparison_coercion(
                    x.data_type(),
                    item.data_type(),
                )
                .ok_or_else(|| {
                    DataFusionError::External(Box::new(PgError::new(
                        codes::UNDEFINED_FUNCTION,
                        format!(
                            "operator does not exist: {} = {}",
                            x.data_type(),
                            item.data_type()
                        ),
                    )))
                })?;
                let x = datafusion::arrow::compute::cast(&x, &common)?;
                for i in 0..rows {
                    let items = if lists.is_null(i) {
                        None
                    } else {
                        Some(lists.value(i)).filter(|v| !v.is_empty())
                    };
                    let Some(items) = items else {
                        out.append_value(false);
                        continue;
                    };
                    if x.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let items = datafusion::arrow::compute::cast(&items, &common)?;
                    let needle =
                        datafusion::common::ScalarValue::try_from_array(&x, i)?.to_scalar()?;
                    let hits = datafusion::arrow::compute::kernels::cmp::eq(&items, &needle)?;
                    if hits.true_count() > 0 {
                        out.append_value(true);
                    } else if items.logical_null_count() > 0 {
                        out.append_null();
                    } else {
                        out.append_value(false);
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }),
        ),
    )
}
