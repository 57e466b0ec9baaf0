//! Integration tests: real servers, real clients. One test binary so the
//! engine links once.

mod common;
mod copy;

mod durability;
mod errors;
mod protocol;
mod psql;
mod slt;
mod sql;
mod txn;
mod vectors;
