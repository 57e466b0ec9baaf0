//! `ALTER { TABLE | SEQUENCE | VIEW | INDEX | TYPE | SCHEMA } name OWNER
//! TO role` (pg_dump writes one after every object it creates). GrapeDB
//! has one role, the user, which owns everything: giving an object to it
//! is a no-op once the object is found; giving it to another role is
//! refused (42704 for a role that does not exist, as PostgreSQL says).

use datafusion::sql::sqlparser::ast::Function;

use super::output::Output;
use super::parse::{schema_and_name, split_qualified};
use super::session::Session;
use crate::error::{PgError, PgResult, codes};

pub fn owner_to(session: &Session, f: &Function) -> PgResult<Output> {
    let [kind, name, role] = super::parse::call_text_args(f)
        .try_into()
        .map_err(|_| PgError::new(codes::SYNTAX_ERROR, "syntax error in ALTER ... OWNER TO"))?;
    let cat = session.catalog();
    let path = session.search_path();
    let parts = split_qualified(&name);
    let (schema, n) = schema_and_name(&parts).ok_or_else(|| PgError::undefined_table(&name))?;
    let tag = match kind.as_str() {
        "SCHEMA" => {
            if !cat.schemas.contains(n) {
                return Err(PgError::new(
                    codes::INVALID_SCHEMA_NAME,
                    format!("schema \"{n}\" does not exist"),
                ));
            }
            "ALTER SCHEMA"
        }
        "TYPE" => {
            if cat.resolve_type(schema, n, &path).is_none() {
                return Err(PgError::new(
                    codes::UNDEFINED_OBJECT,
                    format!("type \"{name}\" does not exist"),
                ));
            }
            "ALTER TYPE"
        }
        "TABLE" | "SEQUENCE" | "VIEW" | "INDEX" => {
            let found = cat.resolve(schema, n, &path).is_some()
                || cat.resolve_relation(schema, n, &path).is_some()
                || (kind == "INDEX"
                    && cat.tables.values().any(|t| {
                        schema.is_none_or(|s| s == t.schema)
                            && t.indexes.iter().any(|i| i.name == n)
                    }));
            if !found {
                return Err(PgError::undefined_table(&name));
            }
            match kind.as_str() {
                "TABLE" => "ALTER TABLE",
                "SEQUENCE" => "ALTER SEQUENCE",
                "VIEW" => "ALTER VIEW",
                _ => "ALTER INDEX",
            }
        }
        other => {
            return Err(PgError::unsupported(format!("ALTER {other} ... OWNER TO")));
        }
    };
    let me = matches!(
        role.as_str(),
        "current_user" | "session_user" | "current_role"
    ) || role == session.user;
    // `public` belongs to pg_database_owner already.
    let public = role == "pg_database_owner" && kind == "SCHEMA" && n == "public";
    if me || public {
        return Ok(Output::Command(tag.into()));
    }
    if role.starts_with("pg_") {
        return Err(PgError::unsupported(format!(
            "giving an object to role \"{role}\" (GrapeDB's objects belong to the one user)"
        )));
    }
    Err(PgError::new(
        codes::UNDEFINED_OBJECT,
        format!("role \"{role}\" does not exist"),
    ))
}
