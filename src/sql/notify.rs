//! LISTEN / NOTIFY / pg_notify between the sessions of this node.
//!
//! As in PostgreSQL: a NOTIFY (or `pg_notify`) is sent when its
//! transaction commits, never if it rolls back; the same channel and
//! payload twice in one transaction is sent once; UNLISTEN in a block
//! takes effect at its commit; LISTEN in a block hears what is sent from
//! then on (delivered after the commit; a rollback undoes the LISTEN and
//! drops it), as PostgreSQL does; a session hears its own
//! notifications. Each session has an inbox in the node's [`Hub`]; the
//! connection loop (frontend/connection.rs) sends what arrives as
//! NotificationResponse while the session is idle outside a block.
//! Sessions on other nodes of a cluster do not hear them (yet).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{PgError, PgResult, codes};

/// One notification as the client receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The notifying session's process id.
    pub pid: i32,
    pub channel: String,
    pub payload: String,
}

/// A session's inbox: the channels it listens on and what has arrived.
#[derive(Default)]
pub struct Inbox {
    channels: Mutex<BTreeSet<String>>,
    queue: Mutex<VecDeque<Notification>>,
    /// Woken when a notification arrives (a permit is kept if no one waits).
    pub arrived: tokio::sync::Notify,
}

impl Inbox {
    /// What has arrived, oldest first.
    pub fn drain(&self) -> Vec<Notification> {
        self.queue.lock().drain(..).collect()
    }

    pub fn channels(&self) -> Vec<String> {
        self.channels.lock().iter().cloned().collect()
    }
}

/// The node's inboxes, by session pid.
#[derive(Default)]
pub struct Hub {
    inboxes: Mutex<HashMap<i32, Arc<Inbox>>>,
}

/// A session's place in the hub; dropping it (the connection ended)
/// stops its listening.
pub struct Registration {
    hub: Arc<Hub>,
    pid: i32,
    pub inbox: Arc<Inbox>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.inboxes.lock().remove(&self.pid);
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    pub fn register(self: &Arc<Self>, pid: i32) -> Registration {
        let inbox = Arc::new(Inbox::default());
        self.inboxes.lock().insert(pid, inbox.clone());
        Registration {
            hub: self.clone(),
            pid,
            inbox,
        }
    }

    /// Deliver committed notifications to every session listening.
    fn publish(&self, sent: &[Notification]) {
        let inboxes: Vec<Arc<Inbox>> = self.inboxes.lock().values().cloned().collect();
        for inbox in inboxes {
            let mine: Vec<Notification> = {
                let channels = inbox.channels.lock();
                sent.iter()
                    .filter(|n| channels.contains(&n.channel))
                    .cloned()
                    .collect()
            };
            if !mine.is_empty() {
                inbox.queue.lock().extend(mine);
                inbox.arrived.notify_one();
            }
        }
    }
}

enum Action {
    Listen(String),
    Unlisten(String),
    UnlistenAll,
}

/// What a transaction will send and how it changes the session's channels.
#[derive(Default)]
pub struct Pending {
    notifications: Vec<Notification>,
    /// LISTEN / UNLISTEN in order, applied at commit.
    actions: Vec<Action>,
    /// COMMIT has accepted them: sent when the statement ends.
    committed: bool,
}

/// A session's side: what its open transaction will send and listen to.
pub struct SessionNotify {
    hub: Arc<Hub>,
    pid: Mutex<i32>,
    inbox: Mutex<Option<Arc<Inbox>>>,
    /// The channels as of the last commit (the inbox's may also hold the
    /// open transaction's LISTENs, heard already).
    listening: Mutex<BTreeSet<String>>,
    pending: Mutex<Pending>,
}

/// PostgreSQL's limit on a payload (bytes).
const MAX_PAYLOAD: usize = 7999;

impl SessionNotify {
    pub fn new(hub: Arc<Hub>) -> Arc<SessionNotify> {
        Arc::new(SessionNotify {
            hub,
            pid: Mutex::new(0),
            inbox: Mutex::new(None),
            listening: Mutex::new(BTreeSet::new()),
            pending: Mutex::new(Pending::default()),
        })
    }

    /// The session's connection is registered: its pid and inbox.
    pub fn attach(&self, pid: i32, inbox: Arc<Inbox>) {
        *self.pid.lock() = pid;
        *self.inbox.lock() = Some(inbox);
    }

    /// NOTIFY channel, 'payload' / pg_notify(channel, payload).
    pub fn notify(&self, channel: &str, payload: &str) -> PgResult<()> {
        if channel.is_empty() {
            return Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                "channel name cannot be empty",
            ));
        }
        if channel.len() > 63 {
            return Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                "channel name too long",
            ));
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                "payload string too long",
            ));
        }
        let n = Notification {
            pid: *self.pid.lock(),
            channel: channel.to_string(),
            payload: payload.to_string(),
        };
        let mut p = self.pending.lock();
        if !p.notifications.contains(&n) {
            p.notifications.push(n);
        }
        Ok(())
    }

    /// LISTEN: heard from now on (delivered once the transaction is over),
    /// kept if it commits.
    pub fn listen(&self, channel: &str) {
        self.pending
            .lock()
            .actions
            .push(Action::Listen(channel.to_string()));
        if let Some(inbox) = self.inbox.lock().clone() {
            inbox.channels.lock().insert(channel.to_string());
        }
    }

    /// UNLISTEN channel, or UNLISTEN * (None): at commit.
    pub fn unlisten(&self, channel: Option<&str>) {
        self.pending.lock().actions.push(match channel {
            Some(c) => Action::Unlisten(c.into()),
            None => Action::UnlistenAll,
        });
    }

    /// COMMIT accepted the transaction's notifications and listens.
    pub fn commit(&self) {
        self.pending.lock().committed = true;
    }

    /// The open transaction's work, taken out while its COMMIT runs
    /// ([`Self::committed`] or [`Self::abandon`] after).
    pub fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock())
    }

    /// Its COMMIT succeeded: sent when the statement ends.
    pub fn committed(&self, mut p: Pending) {
        p.committed = true;
        *self.pending.lock() = p;
    }

    /// Its COMMIT failed: as a rollback.
    pub fn abandon(&self, p: Pending) {
        drop(p);
        self.undo_listens();
    }

    /// The transaction rolled back (or its statement failed outside a
    /// block): nothing of it is sent, its LISTENs are undone. Committed
    /// work is kept for [`Self::flush`].
    pub fn discard_uncommitted(&self) {
        let listened = {
            let mut p = self.pending.lock();
            if p.committed {
                return;
            }
            std::mem::take(&mut *p)
                .actions
                .iter()
                .any(|a| matches!(a, Action::Listen(_)))
        };
        // (A committing block's work was taken out first: nothing to undo.)
        if listened {
            self.undo_listens();
        }
    }

    /// The inbox hears what was committed again; what arrived only for
    /// the undone LISTENs goes.
    fn undo_listens(&self) {
        let Some(inbox) = self.inbox.lock().clone() else {
            return;
        };
        let listening = self.listening.lock().clone();
        *inbox.channels.lock() = listening.clone();
        inbox
            .queue
            .lock()
            .retain(|n| listening.contains(&n.channel));
    }

    /// Apply committed listens and send committed notifications.
    pub fn flush(&self) {
        let p = std::mem::take(&mut *self.pending.lock());
        if !p.committed {
            // Not committed: keep it for the block's COMMIT.
            *self.pending.lock() = p;
            return;
        }
        if !p.actions.is_empty() {
            let mut listening = self.listening.lock();
            for a in p.actions {
                match a {
                    Action::Listen(c) => {
                        listening.insert(c);
                    }
                    Action::Unlisten(c) => {
                        listening.remove(&c);
                    }
                    Action::UnlistenAll => listening.clear(),
                }
            }
            if let Some(inbox) = self.inbox.lock().clone() {
                *inbox.channels.lock() = listening.clone();
                // Delivery checks the channels now listened to.
                inbox
                    .queue
                    .lock()
                    .retain(|n| listening.contains(&n.channel));
            }
        }
        if !p.notifications.is_empty() {
            self.hub.publish(&p.notifications);
        }
    }

    /// The channels the session listens on (`pg_listening_channels()`).
    pub fn listening(&self) -> Vec<String> {
        self.listening.lock().iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(hub: &Arc<Hub>, pid: i32) -> (Arc<SessionNotify>, Registration) {
        let s = SessionNotify::new(hub.clone());
        let r = hub.register(pid);
        s.attach(pid, r.inbox.clone());
        (s, r)
    }

    #[test]
    fn sent_at_commit_once_and_never_after_rollback() {
        let hub = Hub::new();
        let (a, ra) = session(&hub, 1);
        let (b, rb) = session(&hub, 2);
        b.listen("jobs");
        b.commit();
        b.flush();
        let (c, rc) = session(&hub, 3);
        c.listen("jobs");
        a.notify("jobs", "x").unwrap();
        a.notify("jobs", "x").unwrap();
        a.notify("other", "y").unwrap();
        assert!(rb.inbox.drain().is_empty(), "nothing before commit");
        a.commit();
        a.flush();
        let got = rb.inbox.drain();
        assert_eq!(got.len(), 1, "duplicates fold, other channels not heard");
        assert_eq!((got[0].pid, got[0].payload.as_str()), (1, "x"));
        a.notify("jobs", "lost").unwrap();
        a.discard_uncommitted();
        a.commit();
        a.flush();
        assert!(rb.inbox.drain().is_empty(), "a rollback sends nothing");
        assert_eq!(rc.inbox.drain().len(), 1, "heard since its LISTEN");
        c.discard_uncommitted();
        assert!(
            rc.inbox.channels().is_empty(),
            "its rollback undid the LISTEN"
        );
        assert!(ra.inbox.drain().is_empty(), "a does not listen");
        drop(rb);
        a.notify("jobs", "nobody").unwrap();
        a.commit();
        a.flush();
    }

    #[test]
    fn listen_actions_apply_in_order_at_commit() {
        let hub = Hub::new();
        let (a, ra) = session(&hub, 1);
        a.listen("x");
        a.listen("y");
        a.commit();
        a.flush();
        a.unlisten(None);
        a.listen("y");
        a.commit();
        a.flush();
        assert_eq!(a.listening(), ["y"], "UNLISTEN * then LISTEN y keeps y");
        assert_eq!(ra.inbox.channels(), ["y"]);
        let p = a.take();
        a.abandon(p);
        assert_eq!(ra.inbox.channels(), ["y"]);
    }

    #[test]
    fn long_payloads_and_empty_channels_are_refused() {
        let hub = Hub::new();
        let (a, _r) = session(&hub, 1);
        assert!(a.notify("c", &"x".repeat(8000)).is_err());
        assert!(a.notify("", "x").is_err());
        assert!(a.notify("c", &"x".repeat(7999)).is_ok());
    }
}
