//! The OIDs GrapeDB gives its objects in the catalogs. They are derived
//! from what the catalog stores (relation and index ids, schema names), so
//! they stay the same across restarts and on every node.

/// PostgreSQL's first OID for user objects.
const FIRST_USER_OID: i64 = 16384;

/// The role that owns everything (PostgreSQL's bootstrap superuser).
pub const OWNER: i64 = 10;

/// PostgreSQL 15's owner of `public`.
pub const DATABASE_OWNER: i64 = 6171;
/// The one database's OID (`pg_database.oid`).
pub const DATABASE: i64 = 16_383;

/// `pg_catalog.pg_class`'s own OID (`classoid` of relations in
/// `pg_description`), and the other catalogs tools name with `::regclass`.
pub const SYSTEM_RELATIONS: &[(&str, i64)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_database", 1262),
    ("pg_namespace", 2615),
    ("pg_constraint", 2606),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_am", 2601),
    ("pg_extension", 3079),
    ("pg_roles", 12001),
    ("pg_attrdef", 2604),
    ("pg_trigger", 2620),
    ("pg_rewrite", 2618),
    ("pg_operator", 2617),
    ("pg_opclass", 2616),
    ("pg_collation", 3456),
    ("pg_inherits", 2611),
    ("pg_depend", 2608),
    ("pg_sequence", 2224),
    ("pg_enum", 3501),
    ("pg_authid", 1260),
    ("pg_default_acl", 826),
    ("pg_tablespace", 1213),
    ("pg_shdepend", 1214),
    ("pg_auth_members", 1261),
    ("pg_foreign_server", 1417),
    ("pg_user_mapping", 1418),
    ("pg_foreign_data_wrapper", 2328),
    ("pg_shdescription", 2396),
    ("pg_aggregate", 2600),
    ("pg_amop", 2602),
    ("pg_amproc", 2603),
    ("pg_cast", 2605),
    ("pg_conversion", 2607),
    ("pg_language", 2612),
    ("pg_largeobject", 2613),
    ("pg_statistic", 2619),
    ("pg_opfamily", 2753),
    ("pg_db_role_setting", 2964),
    ("pg_largeobject_metadata", 2995),
    ("pg_foreign_table", 3118),
    ("pg_policy", 3256),
    ("pg_partitioned_table", 3350),
    ("pg_statistic_ext", 3381),
    ("pg_init_privs", 3394),
    ("pg_statistic_ext_data", 3429),
    ("pg_event_trigger", 3466),
    ("pg_range", 3541),
    ("pg_transform", 3576),
    ("pg_shseclabel", 3592),
    ("pg_seclabel", 3596),
    ("pg_ts_dict", 3600),
    ("pg_ts_parser", 3601),
    ("pg_ts_config", 3602),
    ("pg_ts_config_map", 3603),
    ("pg_ts_template", 3764),
    ("pg_replication_origin", 6000),
    ("pg_subscription", 6100),
    ("pg_subscription_rel", 6102),
    ("pg_publication", 6104),
    ("pg_publication_rel", 6106),
    ("pg_publication_namespace", 6237),
    ("pg_parameter_acl", 6243),
];

/// A table's, view's, sequence's or index's OID: they share one id space
/// in the catalog.
pub fn relation(id: u32) -> i64 {
    FIRST_USER_OID + id as i64
}

/// An index's OID. A primary key's index shares its table's id in the
/// catalog (its entries are the rows), so it gets one above every other
/// OID given here.
pub fn index(table: &crate::catalog::Table, index: &crate::catalog::Index) -> i64 {
    if index.id == table.id {
        3_000_000_000 + table.id as i64
    } else {
        relation(index.id)
    }
}

/// FNV-1a of `s`: the OIDs of objects the catalog keeps no id for.
fn fnv(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A constraint's OID, from its table and name (2,200,000,000 ..
/// 2,736,870,911: clear of the other ranges here).
pub fn constraint(table: u32, name: &str) -> i64 {
    2_200_000_000 + (fnv(&format!("{table}:{name}")) >> 3) as i64
}

/// A column default's OID (`pg_attrdef.oid`), from its table and column
/// (3,100,000,000 .. 3,368,435,455).
pub fn attrdef(table: u32, column: u32) -> i64 {
    3_100_000_000 + (fnv(&format!("{table}:{column}")) >> 4) as i64
}

/// An enum label's OID (`pg_enum.oid`), from its type and label
/// (3,370,000,000 .. 3,638,435,455).
pub fn enum_label(type_id: u32, label: &str) -> i64 {
    3_370_000_000 + (fnv(&format!("{type_id}:{label}")) >> 4) as i64
}

/// The OID of an enum type CREATE TYPE made (above the others here, so
/// clear of the built-in and pgvector types' OIDs).
pub fn enum_type(id: u32) -> i64 {
    3_900_000_000 + id as i64
}

/// The OID of a view's `_RETURN` rule (`pg_rewrite.oid`).
pub fn view_rule(id: u32) -> i64 {
    3_650_000_000 + id as i64
}
/// The OID of a table's or view's row type (`pg_class.reltype`).
pub fn row_type(id: u32) -> i64 {
    3_700_000_000 + id as i64
}

/// A schema's OID: PostgreSQL's for its own, else one derived from the
/// name (FNV-1a, above the relation OIDs), since schemas have no ids.
pub fn namespace(name: &str) -> i64 {
    match name {
        "pg_catalog" => 11,
        "public" => 2200,
        "information_schema" => 13_000,
        // 1,000,000,000 .. 2,073,741,823: clear of relation OIDs.
        other => 1_000_000_000 + (fnv(other) >> 2) as i64,
    }
}

/// The OIDs of the two extensions `pg_extension` lists.
pub const PLPGSQL_EXTENSION: i64 = 13_560;
/// The plpgsql language's OID (`pg_language`), its extension's member.
pub const PLPGSQL_LANGUAGE: i64 = 13_563;
/// pgvector's is a user object's (above 16383), so pg_dump dumps its
/// CREATE EXTENSION as it does PostgreSQL's.
pub const VECTOR_EXTENSION: i64 = 2_150_000_000;

/// The access methods: PostgreSQL's built-in ones and pgvector's.
pub const ACCESS_METHODS: &[(i64, &str, &str, &str)] = &[
    (2, "heap", "heap_tableam_handler", "t"),
    (403, "btree", "bthandler", "i"),
    (405, "hash", "hashhandler", "i"),
    (783, "gist", "gisthandler", "i"),
    (2742, "gin", "ginhandler", "i"),
    (4000, "spgist", "spghandler", "i"),
    (3580, "brin", "brinhandler", "i"),
    (16_001, "ivfflat", "ivfflathandler", "i"),
    (16_002, "hnsw", "hnswhandler", "i"),
];

pub fn am_oid(name: &str) -> i64 {
    ACCESS_METHODS
        .iter()
        .find(|a| a.1 == name)
        .map_or(403, |a| a.0)
}
