//! What the cache stores: the envelope around a value, the generation of a namespace, and
//! the early-refresh (XFetch) decision.

use std::time::Duration;

/// First byte of every envelope: the format's version.
const ENVELOPE_V1: u8 = 1;
/// Kind byte of an envelope holding a value.
const KIND_VALUE: u8 = 0;
/// Kind byte of an envelope recording "no value" (negative caching).
const KIND_NONE: u8 = 1;
/// Bytes before the payload: version, kind, compute time (u32 ms), expiry (u64 ms).
pub(crate) const HEADER_LEN: usize = 14;

/// A stored entry: the codec's bytes (or none), how long computing it took, and when it
/// expires (milliseconds since the Unix epoch, by the writer's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// The codec's bytes; `None` for a negative entry.
    pub(crate) payload: Option<&'a [u8]>,
    /// How long the computation took, for XFetch.
    pub(crate) compute_ms: u32,
    /// When the entry expires.
    pub(crate) expires_at_ms: u64,
}

impl<'a> Envelope<'a> {
    /// The stored bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let payload = self.payload.unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.push(ENVELOPE_V1);
        out.push(if self.payload.is_some() {
            KIND_VALUE
        } else {
            KIND_NONE
        });
        out.extend_from_slice(&self.compute_ms.to_be_bytes());
        out.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Reads stored bytes; `None` when they are not an envelope of this version.
    pub(crate) fn decode(bytes: &'a [u8]) -> Option<Self> {
        if bytes.len() < HEADER_LEN || bytes[0] != ENVELOPE_V1 {
            return None;
        }
        let compute_ms = u32::from_be_bytes(bytes[2..6].try_into().ok()?);
        let expires_at_ms = u64::from_be_bytes(bytes[6..14].try_into().ok()?);
        let payload = match bytes[1] {
            KIND_VALUE => Some(&bytes[HEADER_LEN..]),
            KIND_NONE if bytes.len() == HEADER_LEN => None,
            _ => return None,
        };
        Some(Self {
            payload,
            compute_ms,
            expires_at_ms,
        })
    }
}

/// A namespace's generation: a random token, and, after a write whose outcome is unknown,
/// the end of its uncertainty window (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generation {
    /// 16 lowercase hex digits; part of every value key of the namespace.
    pub(crate) token: String,
    /// Until when the namespace's entries must be neither read nor written.
    pub(crate) uncertain_until_ms: Option<u64>,
}

impl Generation {
    /// A fresh generation: a random token that no earlier generation had (64 random bits).
    pub(crate) fn fresh(uncertain_until_ms: Option<u64>) -> Self {
        Self {
            token: format!("{:016x}", fastrand::u64(..)),
            uncertain_until_ms,
        }
    }

    /// `g1:<token>` or `g1:<token>:<until>`.
    pub(crate) fn encode(&self) -> String {
        match self.uncertain_until_ms {
            None => format!("g1:{}", self.token),
            Some(until) => format!("g1:{}:{until}", self.token),
        }
    }

    /// Reads a stored generation; `None` when it is not one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.strip_prefix("g1:")?.split(':');
        let token = parts.next()?;
        if token.len() != 16 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let uncertain_until_ms = match parts.next() {
            None => None,
            Some(until) => Some(until.parse().ok()?),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            token: token.to_owned(),
            uncertain_until_ms,
        })
    }

    /// Whether the namespace is within an uncertainty window at `now_ms`.
    pub(crate) fn is_uncertain(&self, now_ms: u64) -> bool {
        self.uncertain_until_ms.is_some_and(|until| now_ms < until)
    }
}

/// The XFetch decision ("Optimal Probabilistic Cache Stampede Prevention", Vattani, Chierichetti
/// and Lowenstein, VLDB 2015): recompute an entry before it expires when
///
/// ```text
/// now - compute_time * beta * ln(u) >= expiry,   u uniform in (0, 1]
/// ```
///
/// so the probability grows as expiry nears, faster for entries that take long to compute,
/// and a busy key is refreshed by about one caller before it expires instead of by every
/// caller after. `beta` 1 is the paper's optimum; 0 never refreshes early. `u` outside
/// `(0, 1]` counts as 1 (no early refresh).
pub fn should_refresh_early(
    now_ms: u64,
    expires_at_ms: u64,
    compute_time: Duration,
    beta: f64,
    u: f64,
) -> bool {
    if now_ms >= expires_at_ms {
        return true;
    }
    if !(u > 0.0 && u <= 1.0) || beta <= 0.0 || !beta.is_finite() {
        return false;
    }
    // Millisecond counts fit f64 exactly for any realistic time.
    #[allow(clippy::cast_precision_loss)]
    let (gap, delta) = (
        (expires_at_ms - now_ms) as f64,
        compute_time.as_secs_f64() * 1000.0,
    );
    delta * beta * -u.ln() >= gap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_foreign_bytes_are_refused() {
        let value = Envelope {
            payload: Some(b"[1,2]"),
            compute_ms: 42,
            expires_at_ms: 1_700_000_000_123,
        };
        let bytes = value.encode();
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        assert_eq!(Envelope::decode(&bytes), Some(value));
        let none = Envelope {
            payload: None,
            compute_ms: 0,
            expires_at_ms: 9,
        };
        assert_eq!(Envelope::decode(&none.encode()), Some(none));
        for foreign in [
            &b""[..],
            b"[1,2]",
            b"\x02\0\0\0\0\0\0\0\0\0\0\0\0\0",
            &[1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(Envelope::decode(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn generations_round_trip_and_are_never_reused() {
        let plain = Generation::fresh(None);
        assert_eq!(
            Generation::decode(plain.encode().as_bytes()),
            Some(plain.clone())
        );
        let uncertain = Generation::fresh(Some(1_000));
        assert_eq!(
            Generation::decode(uncertain.encode().as_bytes()),
            Some(uncertain.clone())
        );
        assert!(uncertain.is_uncertain(999) && !uncertain.is_uncertain(1_000));
        assert!(!plain.is_uncertain(0));
        assert_ne!(plain.token, Generation::fresh(None).token);
        for foreign in [
            "",
            "7",
            "g1:xyz",
            "g1:0123456789abcdef:x",
            "g1:0123456789abcdef:1:2",
            "g2:0123456789abcdef",
        ] {
            assert_eq!(Generation::decode(foreign.as_bytes()), None, "{foreign}");
        }
    }

    #[test]
    fn early_refresh_follows_the_xfetch_formula() {
        let second = Duration::from_secs(1);
        // Expired: always.
        assert!(should_refresh_early(10, 10, second, 1.0, 0.5));
        // gap 1000 ms, delta 1000 ms: refresh when -ln(u) >= 1, i.e. u <= 1/e.
        assert!(should_refresh_early(0, 1_000, second, 1.0, 0.36));
        assert!(!should_refresh_early(0, 1_000, second, 1.0, 0.37));
        // beta scales the window: beta 2 refreshes when u <= e^-0.5.
        assert!(should_refresh_early(0, 1_000, second, 2.0, 0.60));
        assert!(!should_refresh_early(0, 1_000, second, 2.0, 0.61));
        // Off, or no compute time, or a u out of range: never early.
        assert!(!should_refresh_early(0, 1_000, second, 0.0, 0.01));
        assert!(!should_refresh_early(0, 1_000, Duration::ZERO, 1.0, 0.01));
        assert!(!should_refresh_early(0, 1_000, second, 1.0, 0.0));
        assert!(!should_refresh_early(0, 1_000, second, f64::NAN, 0.5));
    }
}
