//! Redis Cluster's key rules: which slot a key hashes to, and hash tags that put keys
//! used together in one slot.
//!
//! A cluster splits the keyspace into 16384 slots; a command (or a pipeline, or a script)
//! whose keys hash to different slots is refused by the server (`CROSSSLOT`), which every
//! port reports as [`InvalidInput`](crate::ErrorKind::InvalidInput). Only the part of a
//! key inside its first `{...}` is hashed, when that part is not empty: `{user:42}:profile`
//! and `{user:42}:visits` share a slot. Give keys used together one hash tag
//! ([`hash_tag`]); spread unrelated keys over different tags, or one node gets all the
//! load.
//!
//! Multi-key commands that the cluster client splits per slot itself (`DEL`, `UNLINK`,
//! `EXISTS`, `MGET`, `MSET` through `infra-redis`) accept keys of any slots; every other
//! multi-key command (`SUNIONSTORE`, `ZUNIONSTORE`, `RENAME`, `LMOVE`, `EVAL` with keys,
//! ...) and every atomic pipeline needs one slot.

/// The number of slots of a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// `{tag}`: the hash tag to start keys with so that they share one cluster slot.
///
/// ```
/// use infra_base::redis::{hash_tag, key_slot};
///
/// let tag = hash_tag("user:42");
/// assert_eq!(tag, "{user:42}");
/// let (profile, visits) = (format!("{tag}:profile"), format!("{tag}:visits"));
/// assert_eq!(key_slot(&profile), key_slot(&visits));
/// ```
///
/// A `tag` containing `}` would end the tag early; it is hashed as Redis would, but use
/// ids without braces.
pub fn hash_tag(tag: &str) -> String {
    format!("{{{tag}}}")
}

/// The cluster slot of `key` (`CLUSTER KEYSLOT`): CRC16 (XMODEM) of the key, or of its hash
/// tag when it has one, modulo 16384.
///
/// Written here rather than taken from a crate: the one implementation in the dependency
/// tree is redis-rs' (`redis::cluster_routing::Slot::for_key`, over the `crc16` crate),
/// and infra-base must not depend on redis-rs; the CRC16 is ten lines. infra-redis' tests
/// check this function against redis-rs' for many keys.
pub fn key_slot(key: &str) -> u16 {
    crc16_xmodem(hashed_part(key.as_bytes())) % SLOT_COUNT
}

/// The bytes Redis hashes: the content of the first `{...}` when it is not empty, else the
/// whole key.
fn hashed_part(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum of Redis Cluster's
/// key hashing.
fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_reference_check_value() {
        // The check value of CRC-16/XMODEM, and the one Redis' cluster spec gives.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_follow_redis() {
        // Values of CLUSTER KEYSLOT on a Redis 7 cluster.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(key_slot(""), 0);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
    }

    #[test]
    fn only_the_first_non_empty_tag_is_hashed() {
        assert_eq!(key_slot("{a}:x"), key_slot("a"));
        assert_eq!(key_slot("x{a}y{b}"), key_slot("a"));
        // An empty tag or an unclosed brace: the whole key is hashed.
        assert_eq!(hashed_part(b"{}a"), b"{}a");
        assert_eq!(hashed_part(b"a{b"), b"a{b");
        assert_eq!(hashed_part(b"{{a}}"), b"{a");
        assert!(key_slot("anything at all") < SLOT_COUNT);
    }

    #[test]
    fn hash_tags_group_keys() {
        assert_eq!(hash_tag("user:42"), "{user:42}");
        let tag = hash_tag("order:7");
        assert_eq!(key_slot(&format!("{tag}:a")), key_slot(&format!("{tag}:b")));
    }
}
