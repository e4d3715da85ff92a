//! In-process single flight: one computation per key, however many callers ask at once.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OnceCell;

/// A type-erased result shared by the callers of one flight.
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// The flights in progress, by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
}

/// One computation and the callers waiting for it.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    cell: OnceCell<Shared>,
}

/// A caller's place in a flight. Dropping it (the caller finished, was cancelled or
/// panicked) removes the flight from the map once it is done or nobody else waits for it,
/// so no key is ever wedged and the map holds only flights in progress.
pub(crate) struct Ticket<'a> {
    flights: &'a Flights,
    key: String,
    flight: Arc<Flight>,
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Flight>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the flight of `key`, starting one if there is none.
    pub(crate) fn join(&self, key: String) -> Ticket<'_> {
        let flight = Arc::clone(self.lock().entry(key.clone()).or_default());
        Ticket {
            flights: self,
            key,
            flight,
        }
    }

    /// How many flights are in progress (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Ticket<'_> {
    /// The flight's result: computed by `leader` if this caller is the first to get there
    /// (then `true`), else the result of the caller that did. When the leading caller is
    /// cancelled or panics, a waiting caller leads with its own `leader`.
    pub(crate) async fn run<F, Fut>(&self, leader: F) -> (Shared, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Shared>,
    {
        let mut led = false;
        let shared = self
            .flight
            .cell
            .get_or_init(|| {
                led = true;
                leader()
            })
            .await
            .clone();
        // Done: later callers start a new flight (they may have to see a newer state).
        self.release(true);
        (shared, led)
    }

    /// Removes the flight from the map when it is done, or when this is its last caller.
    fn release(&self, done: bool) {
        let mut map = self.flights.lock();
        let ours = map
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight));
        // The map holds one reference and this ticket another; clones happen under the lock.
        if ours && (done || self.flight.cell.initialized() || Arc::strong_count(&self.flight) == 2)
        {
            map.remove(&self.key);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.release(false);
    }
}
