//! The PostgreSQL wire protocol front end (pgwire): startup, simple and
//! extended query, cancel, and errors with SQLSTATE.

pub mod connection;
mod copy;
pub mod deferred;
mod describe;
pub mod encode;
mod errors;
mod extended;
mod handler;
mod prepared;
mod respond;
mod session;
mod simple;
mod startup;

use std::sync::Arc;

use pgwire::api::PgWireServerHandlers;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};

pub use errors::{locate_name, to_error_info};
pub use handler::Frontend;
pub use session::SessionSlot;
pub use startup::Startup;

use crate::sql::Engine;

/// The handler set pgwire asks for per connection.
pub struct Handlers {
    pub frontend: Arc<Frontend>,
    pub startup: Arc<Startup>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>) -> Arc<Handlers> {
        let frontend = Frontend::new(engine);
        Arc::new(Handlers {
            startup: Arc::new(Startup {
                frontend: frontend.clone(),
            }),
            frontend,
        })
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.frontend.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.frontend.clone()
    }
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.frontend.manager.clone()))
    }
    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.frontend.clone()
    }
}
