//! Timeout, retry with backoff and a circuit breaker, as layers around any port.
