//! Free TCP ports on 127.0.0.1.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};

/// The loopback address every test server binds to.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Ports already handed out by this process, so two servers started at the same time never
/// get the same one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A TCP port on 127.0.0.1 that is free now and was not handed out before by this process.
///
/// The port is found by binding port 0 and releasing it, so another process can still take
/// it before the server binds: starters retry with a new port when the bind fails.
pub fn free_port() -> Result<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let listener = TcpListener::bind((LOOPBACK, 0))
            .map_err(|e| Error::new(format!("cannot bind a free port on {LOOPBACK}: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::new(format!("cannot read a bound port: {e}")))?
            .port();
        // Redis cluster buses default to port + 10000; keep that range usable too.
        if port < 55_000 && handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(Error::new(format!(
        "found no free port on {LOOPBACK} after 100 attempts"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..20).map(|_| free_port().unwrap()).collect();
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len());
        assert!(ports.iter().all(|&p| p != 0));
    }
}
