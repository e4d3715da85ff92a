//! [`ExclusiveConnection`]: a pooled connection held by one caller, discarded when its state
//! is unknown.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use infra_base::REDIS_BACKEND;
use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::pool::{Object, Pooled};
use crate::shared::{ClaimGuard, HotSlots};

/// The future a [`RedisAdapter::with_connection`](crate::RedisAdapter::with_connection)
/// closure returns: it borrows the connection for `'c`.
pub type ConnectionFuture<'c, T> = Pin<Box<dyn Future<Output = RedisResult<T>> + Send + 'c>>;

/// A pooled connection checked out for one caller, from
/// [`RedisAdapter::exclusive`](crate::RedisAdapter::exclusive).
///
/// It implements [`redis::aio::ConnectionLike`], so any redis-rs command or pipeline runs on
/// it (`redis::cmd("BLPOP")...query_async(&mut conn)`, `redis::pipe().atomic()...`). No
/// [`RedisPort`](infra_base::RedisPort) call uses the socket while it is held.
///
/// When dropped, it goes back to the pool only if its state is known to be clean. It is
/// closed instead (and the pool opens a replacement when needed) when:
///
/// - a command was still in flight: its future was dropped (cancelled, timed out), so a
///   reply may still arrive on this socket;
/// - a command failed with an error (I/O error, timeout, protocol error);
/// - a `MULTI` or `WATCH` was not ended by `EXEC`, `DISCARD` or `UNWATCH`;
/// - a command changed the connection itself (`SELECT`, `AUTH`, `HELLO`, `CLIENT ...`,
///   `RESET`, `READONLY`, `READWRITE`, `(P|S)SUBSCRIBE`, `MONITOR`, `QUIT`).
///
/// In cluster mode, send transactions as atomic pipelines (`redis::pipe().atomic()`), which
/// redis-rs routes to the keys' node; a separate `MULTI` has no key to route by.
pub struct ExclusiveConnection {
    object: Option<Object>,
    guard: Option<ClaimGuard>,
    hot: Arc<HotSlots>,
    /// A command was sent and its reply not received yet (stays set if its future is dropped).
    in_flight: bool,
    /// A command failed (I/O error, timeout, protocol error).
    failed: bool,
    session: Session,
}

/// Connection state that commands leave behind.
#[derive(Debug, Default, Clone, Copy)]
struct Session {
    in_multi: bool,
    watching: bool,
    altered: bool,
}

impl fmt::Debug for ExclusiveConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExclusiveConnection")
            .field("reusable", &self.discard_reason().is_none())
            .finish_non_exhaustive()
    }
}

/// What a command does to the connection's state.
enum Effect {
    None,
    Multi,
    EndTransaction,
    Watch,
    Unwatch,
    Alter,
}

fn effect(cmd: &Cmd) -> Effect {
    let mut args = cmd.args_iter();
    let Some(Arg::Simple(name)) = args.next() else {
        return Effect::None;
    };
    let is = |word: &str| name.eq_ignore_ascii_case(word.as_bytes());
    if is("MULTI") {
        Effect::Multi
    } else if is("EXEC") || is("DISCARD") {
        Effect::EndTransaction
    } else if is("WATCH") {
        Effect::Watch
    } else if is("UNWATCH") {
        Effect::Unwatch
    } else if [
        "SELECT",
        "AUTH",
        "HELLO",
        "CLIENT",
        "RESET",
        "READONLY",
        "READWRITE",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "MONITOR",
        "QUIT",
    ]
    .iter()
    .any(|word| is(word))
    {
        Effect::Alter
    } else {
        Effect::None
    }
}

impl ExclusiveConnection {
    pub(crate) fn new(object: Object, guard: ClaimGuard, hot: Arc<HotSlots>) -> Self {
        Self {
            object: Some(object),
            guard: Some(guard),
            hot,
            in_flight: false,
            failed: false,
            session: Session::default(),
        }
    }

    /// Whether the connection would go back to the pool if dropped now.
    pub fn is_reusable(&self) -> bool {
        self.discard_reason().is_none()
    }

    fn discard_reason(&self) -> Option<&'static str> {
        if self.in_flight {
            Some("a command was cancelled in flight")
        } else if self.failed {
            Some("a command failed")
        } else if self.session.in_multi {
            Some("a MULTI was left open")
        } else if self.session.watching {
            Some("a WATCH was left open")
        } else if self.session.altered {
            Some("the connection state was changed")
        } else if self.object.as_ref().is_some_and(|o| o.state.is_broken()) {
            Some("the connection is broken")
        } else {
            None
        }
    }

    fn track<'a>(&mut self, cmds: impl IntoIterator<Item = &'a Cmd>) {
        for cmd in cmds {
            match effect(cmd) {
                Effect::None => {}
                Effect::Multi => self.session.in_multi = true,
                Effect::EndTransaction => {
                    self.session.in_multi = false;
                    self.session.watching = false;
                }
                Effect::Watch => self.session.watching = true,
                Effect::Unwatch => self.session.watching = false,
                Effect::Alter => self.session.altered = true,
            }
        }
    }

    fn pooled(&mut self) -> &mut Pooled {
        // Only `Drop` takes the object out.
        self.object
            .as_deref_mut()
            .expect("an exclusive connection holds its object until dropped")
    }

    fn settle<T>(&mut self, result: &RedisResult<T>) {
        self.in_flight = false;
        if result.is_err() {
            self.failed = true;
        }
    }
}

impl ConnectionLike for ExclusiveConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.track([cmd]);
            // Stays set if this future is dropped before the reply: see `Drop`.
            self.in_flight = true;
            let result = self.pooled().conn.req_packed_command(cmd).await;
            self.settle(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.track(pipeline.cmd_iter());
            self.in_flight = true;
            let result = self
                .pooled()
                .conn
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.settle(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.object.as_ref().map_or(0, |o| o.conn.get_db())
    }
}

impl Drop for ExclusiveConnection {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        match self.discard_reason() {
            None => {
                // Release the socket for shared use, then return it to the pool.
                drop(self.guard.take());
                drop(object);
            }
            Some(reason) => {
                object.state.mark_broken();
                // Port calls may keep a clone for later use: drop it, so the socket closes.
                self.hot.forget(&object.state);
                drop(self.guard.take());
                // Out of the pool for good; dropping the last handle closes the socket, and
                // the server forgets its MULTI/WATCH state and unread replies with it.
                drop(Object::take(object));
                tracing::debug!(
                    backend = REDIS_BACKEND,
                    operation = "exclusive",
                    reason,
                    "exclusive redis connection discarded"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_effects() {
        assert!(matches!(effect(&redis::cmd("multi")), Effect::Multi));
        assert!(matches!(
            effect(&redis::cmd("EXEC")),
            Effect::EndTransaction
        ));
        assert!(matches!(
            effect(&redis::cmd("Discard")),
            Effect::EndTransaction
        ));
        assert!(matches!(
            effect(redis::cmd("WATCH").arg("k")),
            Effect::Watch
        ));
        assert!(matches!(effect(&redis::cmd("UNWATCH")), Effect::Unwatch));
        assert!(matches!(effect(redis::cmd("SELECT").arg(2)), Effect::Alter));
        assert!(matches!(
            effect(redis::cmd("CLIENT").arg("REPLY").arg("OFF")),
            Effect::Alter
        ));
        assert!(matches!(
            effect(redis::cmd("GET").arg("MULTI")),
            Effect::None
        ));
    }
}
