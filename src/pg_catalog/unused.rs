//! Catalogs for features GrapeDB does not have (row security policies,
//! extended statistics, publications, triggers, inheritance, role
//! membership, materialized views, shared comments, default
//! privileges), empty, and the fixed rows of `pg_collation` and
//! `pg_tablespace`: psql's `\d` and tools join them, so they must exist
//! with PostgreSQL 15's columns, and with nothing in them they say what
//! is true here.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table, typed};

/// The columns of each empty catalog, `name:type` with type one of oid,
/// text, char, bool, int2, int4, oid[], text[], int2[].
const EMPTY: &[(&str, &str)] = &[
    (
        "pg_policy",
        "oid:oid polname:text polrelid:oid polcmd:char polpermissive:bool polroles:oid[] \
         polqual:text polwithcheck:text",
    ),
    (
        "pg_statistic_ext",
        "oid:oid stxrelid:oid stxname:text stxnamespace:oid stxowner:oid stxstattarget:int4 \
         stxkeys:int2[] stxkind:text[] stxexprs:text",
    ),
    (
        "pg_publication",
        "oid:oid pubname:text pubowner:oid puballtables:bool pubinsert:bool pubupdate:bool \
         pubdelete:bool pubtruncate:bool pubviaroot:bool",
    ),
    (
        "pg_publication_namespace",
        "oid:oid pnpubid:oid pnnspid:oid",
    ),
    (
        "pg_publication_rel",
        "oid:oid prpubid:oid prrelid:oid prqual:text prattrs:int2[]",
    ),
    (
        "pg_trigger",
        "oid:oid tgrelid:oid tgparentid:oid tgname:text tgfoid:oid tgtype:int2 tgenabled:char \
         tgisinternal:bool tgconstrrelid:oid tgconstrindid:oid tgconstraint:oid \
         tgdeferrable:bool tginitdeferred:bool tgnargs:int2 tgattr:int2[] tgargs:text \
         tgqual:text tgoldtable:text tgnewtable:text",
    ),
    (
        "pg_inherits",
        "inhrelid:oid inhparent:oid inhseqno:int4 inhdetachpending:bool",
    ),
    (
        "pg_auth_members",
        "roleid:oid member:oid grantor:oid admin_option:bool",
    ),
    (
        "pg_partitioned_table",
        "partrelid:oid partstrat:char partnatts:int2 partdefid:oid partattrs:int2[] \
         partclass:oid[] partcollation:oid[] partexprs:text",
    ),
    (
        "pg_foreign_table",
        "ftrelid:oid ftserver:oid ftoptions:text[]",
    ),
    (
        "pg_matviews",
        "schemaname:text matviewname:text matviewowner:text tablespace:text hasindexes:bool \
         ispopulated:bool definition:text",
    ),
    // Comments on roles and databases (COMMENT ON ROLE/DATABASE is not
    // taken).
    (
        "pg_shdescription",
        "objoid:oid classoid:oid description:text",
    ),
    (
        "pg_default_acl",
        "oid:oid defaclrole:oid defaclnamespace:oid defaclobjtype:char defaclacl:text[]",
    ),
    (
        "pg_event_trigger",
        "oid:oid evtname:text evtevent:text evtowner:oid evtfoid:oid evtenabled:char \
         evttags:text[]",
    ),
    (
        "pg_ts_parser",
        "oid:oid prsname:text prsnamespace:oid prsstart:oid prstoken:oid prsend:oid \
         prsheadline:oid prslextype:oid",
    ),
    (
        "pg_ts_template",
        "oid:oid tmplname:text tmplnamespace:oid tmplinit:oid tmpllexize:oid",
    ),
    (
        "pg_ts_dict",
        "oid:oid dictname:text dictnamespace:oid dictowner:oid dicttemplate:oid \
         dictinitoption:text",
    ),
    (
        "pg_ts_config",
        "oid:oid cfgname:text cfgnamespace:oid cfgowner:oid cfgparser:oid",
    ),
    (
        "pg_foreign_data_wrapper",
        "oid:oid fdwname:text fdwowner:oid fdwhandler:oid fdwvalidator:oid fdwacl:text[] \
         fdwoptions:text[]",
    ),
    (
        "pg_foreign_server",
        "oid:oid srvname:text srvowner:oid srvfdw:oid srvtype:text srvversion:text \
         srvacl:text[] srvoptions:text[]",
    ),
    (
        "pg_user_mapping",
        "oid:oid umuser:oid umserver:oid umoptions:text[]",
    ),
    (
        "pg_conversion",
        "oid:oid conname:text connamespace:oid conowner:oid conforencoding:int4 \
         contoencoding:int4 conproc:oid condefault:bool",
    ),
    (
        "pg_transform",
        "oid:oid trftype:oid trflang:oid trffromsql:oid trftosql:oid",
    ),
    (
        "pg_subscription",
        "oid:oid subdbid:oid subname:text subowner:oid subenabled:bool subbinary:bool \
         substream:bool subtwophasestate:char subdisableonerr:bool subconninfo:text \
         subslotname:text subsynccommit:text subpublications:text[]",
    ),
    (
        "pg_largeobject_metadata",
        "oid:oid lomowner:oid lomacl:text[]",
    ),
    // Initial privileges of extension objects: none are granted here.
    (
        "pg_init_privs",
        "objoid:oid classoid:oid objsubid:int4 privtype:char initprivs:text[]",
    ),
    (
        "pg_seclabel",
        "objoid:oid classoid:oid objsubid:int4 provider:text label:text",
    ),
    (
        "pg_seclabels",
        "objoid:oid classoid:oid objsubid:int4 objtype:text objnamespace:oid objname:text \
         provider:text label:text",
    ),
];

/// Catalogs of PostgreSQL's built-in objects that GrapeDB does not list
/// yet (its functions, operators, casts and operator families exist, but
/// these catalogs are empty): pg_dump reads them for user-defined ones,
/// of which there are none here.
const NOT_LISTED: &[(&str, &str)] = &[
    (
        "pg_proc",
        "oid:oid proname:text pronamespace:oid proowner:oid prolang:oid procost:float4 \
         prorows:float4 provariadic:oid prosupport:oid prokind:char prosecdef:bool \
         proleakproof:bool proisstrict:bool proretset:bool provolatile:char \
         proparallel:char pronargs:int2 pronargdefaults:int2 prorettype:oid \
         proargtypes:oid[] proallargtypes:oid[] proargmodes:char[] proargnames:text[] \
         proargdefaults:text prosrc:text probin:text prosqlbody:text proconfig:text[] \
         proacl:text[]",
    ),
    (
        "pg_aggregate",
        "aggfnoid:oid aggkind:char aggnumdirectargs:int2 aggtransfn:oid aggfinalfn:oid \
         aggcombinefn:oid aggserialfn:oid aggdeserialfn:oid aggmtransfn:oid \
         aggminvtransfn:oid aggmfinalfn:oid aggfinalextra:bool aggmfinalextra:bool \
         aggfinalmodify:char aggmfinalmodify:char aggsortop:oid aggtranstype:oid \
         aggtransspace:int4 aggmtranstype:oid aggmtransspace:int4 agginitval:text \
         aggminitval:text",
    ),
    (
        "pg_operator",
        "oid:oid oprname:text oprnamespace:oid oprowner:oid oprkind:char oprcanmerge:bool \
         oprcanhash:bool oprleft:oid oprright:oid oprresult:oid oprcom:oid oprnegate:oid \
         oprcode:oid oprrest:oid oprjoin:oid",
    ),
    (
        "pg_cast",
        "oid:oid castsource:oid casttarget:oid castfunc:oid castcontext:char \
         castmethod:char",
    ),
    (
        "pg_opfamily",
        "oid:oid opfmethod:oid opfname:text opfnamespace:oid opfowner:oid",
    ),
    (
        "pg_amop",
        "oid:oid amopfamily:oid amoplefttype:oid amoprighttype:oid amopstrategy:int2 \
         amoppurpose:char amopopr:oid amopmethod:oid amopsortfamily:oid",
    ),
    (
        "pg_amproc",
        "oid:oid amprocfamily:oid amproclefttype:oid amprocrighttype:oid amprocnum:int2 \
         amproc:oid",
    ),
];

/// Every empty catalog answered here, with its columns.
fn specs() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    EMPTY.iter().chain(NOT_LISTED)
}

/// Whether `name` is one of the catalogs that are always empty here.
pub fn is_empty(name: &str) -> bool {
    specs().any(|(n, _)| *n == name)
}

/// The names answered here.
pub fn names() -> impl Iterator<Item = &'static str> {
    specs()
        .map(|(n, _)| *n)
        .chain(["pg_collation", "pg_tablespace", "pg_language"])
}

fn field(spec: &str) -> Field {
    let (name, ty) = spec.split_once(':').expect("name:type");
    let list = |item: DataType| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("item", item, true))),
            true,
        )
    };
    match ty {
        "oid" => oid(name),
        "char" => char1(name),
        "text" => Field::new(name, DataType::Utf8, true),
        "bool" => Field::new(name, DataType::Boolean, false),
        "int2" => Field::new(name, DataType::Int16, false),
        "int4" => Field::new(name, DataType::Int32, false),
        "oid[]" => list(DataType::Int64),
        "text[]" => list(DataType::Utf8),
        "int2[]" => list(DataType::Int16),
        "char[]" => list(DataType::Utf8),
        "float4" => typed(name, DataType::Float32, "float4"),
        other => panic!("column type {other}"),
    }
}

/// The catalog `name` if it is answered here.
pub fn relation(name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    match name {
        "pg_collation" => return pg_collation().map(Some),
        "pg_tablespace" => return pg_tablespace().map(Some),
        "pg_language" => return pg_language().map(Some),
        _ => {}
    }
    let Some((_, spec)) = specs().find(|(n, _)| *n == name) else {
        return Ok(None);
    };
    let schema = Arc::new(Schema::new(
        spec.split_whitespace().map(field).collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| new_empty_array(f.data_type()))
        .collect();
    table(schema, columns).map(Some)
}

/// `pg_collation`: the three collations every PostgreSQL database has
/// (text columns use "default", 100).
fn pg_collation() -> DfResult<Arc<dyn TableProvider>> {
    let rows: [(i64, &str, &str, Option<&str>); 3] = [
        (100, "default", "d", None),
        (950, "C", "c", Some("C")),
        (951, "POSIX", "c", Some("POSIX")),
    ];
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("collname", DataType::Utf8, false),
        oid("collnamespace"),
        oid("collowner"),
        char1("collprovider"),
        Field::new("collisdeterministic", DataType::Boolean, false),
        typed("collencoding", DataType::Int32, "int4"),
        text("collcollate"),
        text("collctype"),
        text("colliculocale"),
        text("collversion"),
    ]));
    let opt = |f: &dyn Fn(&(i64, &str, &str, Option<&str>)) -> Option<String>| -> ArrayRef {
        Arc::new(datafusion::arrow::array::StringArray::from_iter(
            rows.iter().map(f),
        ))
    };
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.0)),
            strs(rows.iter().map(|r| r.1.to_string())),
            i64s(rows.iter().map(|_| 11)),
            i64s(rows.iter().map(|_| super::oids::OWNER)),
            strs(rows.iter().map(|r| r.2.to_string())),
            Arc::new(datafusion::arrow::array::BooleanArray::from(vec![true; 3])),
            Arc::new(datafusion::arrow::array::Int32Array::from(vec![-1; 3])),
            opt(&|r| r.3.map(str::to_string)),
            opt(&|r| r.3.map(str::to_string)),
            opt(&|_| None),
            opt(&|_| None),
        ],
    )
}

/// `pg_tablespace`: PostgreSQL's two (everything is in pg_default).
fn pg_tablespace() -> DfResult<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("spcname", DataType::Utf8, false),
        oid("spcowner"),
        Field::new(
            "spcacl",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new(
            "spcoptions",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]));
    let nulls = || -> ArrayRef {
        Arc::new(datafusion::arrow::array::ListArray::new_null(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            2,
        ))
    };
    table(
        schema,
        vec![
            i64s([1663, 1664]),
            strs(["pg_default".to_string(), "pg_global".to_string()]),
            i64s([super::oids::OWNER; 2]),
            nulls(),
            nulls(),
        ],
    )
}

/// `pg_language`: PostgreSQL 15's four, with their OIDs (plpgsql is the
/// plpgsql extension's member, as `pg_extension` lists it).
fn pg_language() -> DfResult<Arc<dyn TableProvider>> {
    let rows: [(i64, &str, bool, bool, i64, i64, i64); 4] = [
        (12, "internal", false, false, 0, 0, 2246),
        (13, "c", false, false, 0, 0, 2247),
        (14, "sql", false, true, 0, 0, 2248),
        (
            super::oids::PLPGSQL_LANGUAGE,
            "plpgsql",
            true,
            true,
            13560,
            13561,
            13562,
        ),
    ];
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("lanname", DataType::Utf8, false),
        oid("lanowner"),
        Field::new("lanispl", DataType::Boolean, false),
        Field::new("lanpltrusted", DataType::Boolean, false),
        oid("lanplcallfoid"),
        oid("laninline"),
        oid("lanvalidator"),
        Field::new(
            "lanacl",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]));
    let bools = |f: fn(&(i64, &str, bool, bool, i64, i64, i64)) -> bool| -> ArrayRef {
        Arc::new(datafusion::arrow::array::BooleanArray::from(
            rows.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.0)),
            strs(rows.iter().map(|r| r.1.to_string())),
            i64s(rows.iter().map(|_| super::oids::OWNER)),
            bools(|r| r.2),
            bools(|r| r.3),
            i64s(rows.iter().map(|r| r.4)),
            i64s(rows.iter().map(|r| r.5)),
            i64s(rows.iter().map(|r| r.6)),
            Arc::new(datafusion::arrow::array::ListArray::new_null(
                Arc::new(Field::new("item", DataType::Utf8, true)),
                rows.len(),
            )),
        ],
    )
}
