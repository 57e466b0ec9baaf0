//! Startup: trust authentication, a fresh session, PostgreSQL's parameters.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::{
    DefaultServerParameterProvider, ServerParameterProvider, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, ConnectionGuard, ConnectionHandle, PidSecretKeyGenerator};

use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use super::handler::*;
use super::session::*;
use crate::sql::settings::SERVER_VERSION;

/// Startup: trust authentication, a fresh session, PostgreSQL's parameters.
pub struct Startup {
    pub(super) frontend: Arc<Frontend>,
}

pub(super) struct Params {
    pub(super) user: Option<String>,
    pub(super) app: Option<String>,
}

impl ServerParameterProvider for Params {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        let mut p = DefaultServerParameterProvider::default();
        p.server_version = SERVER_VERSION.to_string();
        p.time_zone = "UTC".into();
        p.date_style = "ISO, MDY".into();
        p.application_name = self.app.clone();
        p.session_authorization = self.user.clone();
        p.server_parameters(client)
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(ref startup) = message {
            protocol_negotiation(client, startup).await?;
            save_startup_parameters_to_metadata(client, startup);
            let (pid, key) = self.frontend.pids.generate(client);
            client.set_pid_and_secret_key(pid, key.clone());
            let (handle, guard): (Arc<ConnectionHandle>, ConnectionGuard) =
                self.frontend.manager.register(pid, key);
            client.session_extensions().insert::<ConnectionGuard>(guard);
            let meta = client.metadata();
            let user = meta.get("user").cloned().unwrap_or_else(|| "grape".into());
            let startup_settings: BTreeMap<String, String> = meta
                .iter()
                .filter(|(k, _)| k.as_str() != "user")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let session =
                crate::sql::context::new_session(&self.frontend.engine, &user, &startup_settings);
            session.facts.lock().pid = pid;
            let app = startup_settings.get("application_name").cloned();
            let canceller = handle.clone();
            let activity =
                self.frontend
                    .engine
                    .backends
                    .register(crate::sql::activity::Backend::new(
                        pid,
                        user.clone(),
                        startup_settings
                            .get("database")
                            .cloned()
                            .unwrap_or_else(|| user.clone()),
                        app.clone().unwrap_or_default(),
                        Some(client.socket_addr()),
                        Box::new(move || {
                            let h = canceller.clone();
                            tokio::spawn(async move {
                                h.cancel().await;
                            });
                        }),
                    ));
            let notify = self.frontend.engine.notify.register(pid);
            session.notify.attach(pid, notify.inbox.clone());
            client.session_extensions().insert(SessionSlot {
                session: Mutex::new(session),
                cancel: handle,
                copy_in: Default::default(),
                activity,
                notify,
                prepared: Default::default(),
            });
            finish_authentication(
                client,
                &Params {
                    user: Some(user),
                    app,
                },
            )
            .await?;
        }
        Ok(())
    }
}
