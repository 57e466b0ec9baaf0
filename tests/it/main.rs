//! Integration tests: real servers, real clients. One test binary so the
//! engine links once. Modules are named after the client or the fault they
//! exercise; those driven by tokio-postgres after the SQL they cover.

mod common;

// Clients other than tokio-postgres.
mod clients;
mod pg_areas;
mod pg_dump;
mod pgvector;
mod psql;
mod psycopg;
mod sqllogictest;

// Faults: bad input on purpose, kill -9 of the real binary.
mod bad_input;
mod kill9;

// tokio-postgres, by subject.
mod copy;
mod ddl;
mod foreign_keys;
mod protocol;
mod sequences;
mod sql;
mod tools;
mod txn;
mod vectors;
