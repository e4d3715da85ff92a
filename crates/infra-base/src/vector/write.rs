//! How a write is acknowledged: [`WriteOptions`] for
//! [`VectorPort::upsert_with`](super::VectorPort::upsert_with).
//!
//! Qdrant lets each write choose whether its reply waits until the write is applied
//! (`wait`) and how replicas order it (`ordering`). The port's writes wait and use the
//! adapter's configured ordering; a bulk load that can tolerate reading its own writes a
//! little later asks for neither, through `upsert_with`.

/// How a remote Qdrant orders the writes to one point across a collection's replicas
/// (Qdrant's `ordering`); it only matters with a replication factor above 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteOrdering {
    /// Replicas may apply writes to one point in different orders: the fastest, and
    /// Qdrant's default.
    Weak,
    /// Writes go through a leader chosen dynamically: consistent except for a short time
    /// after the leader changes.
    Medium,
    /// Writes go through the permanent leader: consistent, unavailable while it is down.
    Strong,
}

/// How one write is acknowledged. The default is what every other write of the port
/// does: wait until the write is applied, with the adapter's configured ordering.
///
/// ```
/// use infra_base::vector::{WriteOptions, WriteOrdering};
///
/// let bulk = WriteOptions::no_wait();
/// assert!(!bulk.wait);
/// let strict = WriteOptions::default().with_ordering(WriteOrdering::Strong);
/// assert!(strict.wait);
/// assert_eq!(strict.ordering, Some(WriteOrdering::Strong));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WriteOptions {
    /// `true`: the call returns once the write is applied, so a read that follows sees
    /// it. `false`: it returns once the server has accepted the write (journaled), which
    /// is faster for bulk loads; reads see it a little later, and a write the server
    /// accepted but then failed to apply is not reported to this call.
    pub wait: bool,
    /// The ordering of this write; `None` is the adapter's configured ordering (for the
    /// remote adapter `SOCIAL_QDRANT__WRITE_ORDERING`, Qdrant's `weak` by default).
    pub ordering: Option<WriteOrdering>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            wait: true,
            ordering: None,
        }
    }
}

impl WriteOptions {
    /// Returns as soon as the server accepted the write (`wait = false`), for bulk loads.
    pub const fn no_wait() -> Self {
        Self {
            wait: false,
            ordering: None,
        }
    }

    /// The same options with `ordering` instead of the adapter's.
    #[must_use]
    pub const fn with_ordering(mut self, ordering: WriteOrdering) -> Self {
        self.ordering = Some(ordering);
        self
    }
}
