//! `DEALLOCATE [PREPARE] name | ALL`: forgets statements the client
//! prepared with the extended protocol's Parse (or SQL PREPARE, kept in
//! the session). They live in pgwire's
//! per-connection store, which lists no names, so the names Parse stored
//! are kept here (psycopg 3 sends `DEALLOCATE ALL` after every schema
//! change and on ROLLBACK; pools send it between clients).

use std::collections::BTreeSet;

use datafusion::sql::sqlparser::ast::Ident;
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::PortalStore;

use crate::error::{PgError, codes};
use crate::sql::parse::folded;
use crate::sql::session::Session;

/// The names of the connection's named prepared statements.
#[derive(Default)]
pub struct PreparedNames(parking_lot::Mutex<BTreeSet<String>>);

impl PreparedNames {
    /// Parse stored a statement under `name` ("" is the unnamed one, which
    /// DEALLOCATE cannot name).
    pub fn parsed(&self, name: &str) {
        if !name.is_empty() {
            self.0.lock().insert(name.to_owned());
        }
    }

    /// The client closed statement `name` (the protocol's Close).
    pub fn closed(&self, name: &str) {
        self.0.lock().remove(name);
    }

    /// Run `DEALLOCATE name` (an unquoted ALL: every statement).
    pub fn deallocate<S: PortalStore + ?Sized>(
        &self,
        store: &S,
        session: &mut Session,
        name: &Ident,
    ) -> Result<Response, PgError> {
        if session.block_failed() {
            return Err(PgError::in_failed_block());
        }
        if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
            for n in std::mem::take(&mut *self.0.lock()) {
                store.rm_statement(&n);
            }
            session.sql_prepared.clear();
            return Ok(Response::Execution(Tag::new("DEALLOCATE ALL")));
        }
        let folded = folded(name);
        // One made by SQL PREPARE.
        if session.sql_prepared.remove(&folded).is_some() {
            return Ok(Response::Execution(Tag::new("DEALLOCATE")));
        }
        if folded.is_empty() || store.get_statement(&folded).is_none() {
            return Err(PgError::new(
                codes::INVALID_SQL_STATEMENT_NAME,
                format!("prepared statement \"{folded}\" does not exist"),
            ));
        }
        store.rm_statement(&folded);
        self.0.lock().remove(&folded);
        Ok(Response::Execution(Tag::new("DEALLOCATE")))
    }
}
