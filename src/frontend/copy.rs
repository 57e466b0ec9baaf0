//! The COPY FROM STDIN sub-protocol: CopyData, CopyDone, CopyFail.

use std::fmt::Debug;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::Tag;

use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use super::errors::*;
use super::handler::*;
use crate::error::{PgError, codes};

#[async_trait]
impl CopyHandler for Frontend {
    async fn on_copy_data<C>(&self, client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (slot, st) = self.take_copy(client).await?;
        let Some(mut st) = st else { return Ok(()) };
        let mut session = slot.session.lock().await;
        if st.failed.is_none() {
            if let Err(e) = st.copy.feed(&self.engine, &mut session, &data.data).await {
                st.copy.abort().await;
                Self::fail_block(&mut session);
                st.failed = Some(e);
            }
        }
        *slot.copy_in.lock() = Some(st);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (slot, st) = self.take_copy(client).await?;
        let Some(mut st) = st else { return Ok(()) };
        let mut session = slot.session.lock().await;
        if let Some(e) = st.failed.take() {
            session.statement_done();
            return Err(pg_err(e));
        }
        match st.copy.finish(&self.engine, &mut session).await {
            Ok(n) => {
                session.statement_done();
                drop(session);
                client
                    .send(PgWireBackendMessage::CommandComplete(
                        Tag::new("COPY").with_rows(n as usize).into(),
                    ))
                    .await?;
                Ok(())
            }
            Err(e) => {
                st.copy.abort().await;
                Self::fail_block(&mut session);
                session.statement_done();
                Err(pg_err(e))
            }
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok((slot, Some(mut st))) = self.take_copy(client).await {
            st.copy.abort().await;
            let mut session = slot.session.lock().await;
            Self::fail_block(&mut session);
            session.statement_done();
        }
        pg_err(PgError::new(
            codes::QUERY_CANCELED,
            format!("COPY from stdin failed: {}", fail.message),
        ))
    }
}
