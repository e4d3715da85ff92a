//! Collection aliases: a second name for a collection, switched atomically.
//!
//! An alias lets services read and write `items` while the collection behind it is
//! `items_v7`; a reindex fills `items_v8` and then moves the alias in one
//! [`update_aliases`](super::VectorPort::update_aliases) call (blue/green), so no request
//! ever sees a half-built collection. Every point operation and `collection_info` accept an
//! alias where they take a collection name, as Qdrant's do.

use std::collections::BTreeMap;

use super::VECTOR_BACKEND;
use super::name::CollectionName;
use crate::error::{ErrorKind, InfraError, InfraResult};

/// One change of [`VectorPort::update_aliases`](super::VectorPort::update_aliases); the
/// changes of one call apply together, in order. Exhaustive on purpose: these are Qdrant's
/// three alias actions, and every adapter must handle each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasChange {
    /// Points `alias` at `collection`, replacing where it pointed before. The collection
    /// must exist; `alias` must not be the name of a collection.
    Create {
        /// The alias.
        alias: String,
        /// The collection it names.
        collection: String,
    },
    /// Removes `alias`; removing an alias that does not exist changes nothing.
    Delete {
        /// The alias.
        alias: String,
    },
    /// Renames the alias `from` to `to` (which then names the same collection); `from`
    /// must exist.
    Rename {
        /// The current name.
        from: String,
        /// The new name.
        to: String,
    },
}

impl AliasChange {
    /// [`AliasChange::Create`].
    pub fn create(alias: impl Into<String>, collection: impl Into<String>) -> Self {
        Self::Create {
            alias: alias.into(),
            collection: collection.into(),
        }
    }

    /// [`AliasChange::Delete`].
    pub fn delete(alias: impl Into<String>) -> Self {
        Self::Delete {
            alias: alias.into(),
        }
    }

    /// [`AliasChange::Rename`].
    pub fn rename(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self::Rename {
            from: from.into(),
            to: to.into(),
        }
    }

    /// The changes that move `alias` to `collection` atomically: delete it (if it exists),
    /// then create it. Qdrant's documented way to switch an alias.
    pub fn switch(alias: &str, collection: &str) -> [Self; 2] {
        [Self::delete(alias), Self::create(alias, collection)]
    }

    /// Checks every name against the collection name rule ([`CollectionName`]), so that
    /// every backend refuses the same changes as `InvalidInput`.
    pub fn validate(&self) -> InfraResult<()> {
        const OP: &str = "update_aliases";
        match self {
            Self::Create { alias, collection } => {
                CollectionName::parse(alias, OP)?;
                CollectionName::parse(collection, OP)?;
            }
            Self::Delete { alias } => {
                CollectionName::parse(alias, OP)?;
            }
            Self::Rename { from, to } => {
                CollectionName::parse(from, OP)?;
                CollectionName::parse(to, OP)?;
            }
        }
        Ok(())
    }
}

impl AliasChange {
    /// Checks every change of a call ([`validate`](Self::validate)).
    ///
    /// # Errors
    ///
    /// The first change's `InvalidInput`.
    pub fn validate_all(changes: &[Self]) -> InfraResult<()> {
        changes.iter().try_for_each(Self::validate)
    }

    /// The aliases after a whole call's `changes`, all applied in order to a copy of
    /// `aliases` or none: what a store that keeps aliases itself swaps in on success.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate) and [`apply`](Self::apply), for the first change that
    /// fails; `aliases` is untouched.
    pub fn apply_all(
        changes: &[Self],
        aliases: &BTreeMap<String, String>,
        exists: impl Fn(&str) -> bool,
    ) -> InfraResult<BTreeMap<String, String>> {
        Self::validate_all(changes)?;
        let mut next = aliases.clone();
        for change in changes {
            change.apply(&mut next, &exists)?;
        }
        Ok(next)
    }

    /// Applies this change to `aliases` (alias -> collection) with Qdrant's rules, for
    /// stores that keep aliases themselves (the embedded store, the in-memory fake);
    /// `exists` says whether a collection of that name exists. On error `aliases` may be
    /// partly changed: apply a call's changes to a copy and keep it only when all succeed.
    ///
    /// # Errors
    ///
    /// `NotFound` for a collection or a renamed alias that does not exist; `Conflict` for
    /// an alias named like a collection.
    pub fn apply(
        &self,
        aliases: &mut BTreeMap<String, String>,
        exists: impl Fn(&str) -> bool,
    ) -> InfraResult<()> {
        const OP: &str = "update_aliases";
        let fail = |kind, message: String| Err(InfraError::new(kind, VECTOR_BACKEND, OP, message));
        let taken = |name: &str| {
            fail(
                ErrorKind::Conflict,
                format!("{name} is a collection: an alias cannot take its name"),
            )
        };
        match self {
            Self::Create { alias, collection } => {
                if !exists(collection) {
                    return fail(
                        ErrorKind::NotFound,
                        format!("collection {collection} does not exist"),
                    );
                }
                if exists(alias) {
                    return taken(alias);
                }
                aliases.insert(alias.clone(), collection.clone());
            }
            Self::Delete { alias } => {
                aliases.remove(alias);
            }
            Self::Rename { from, to } => {
                if exists(to) {
                    return taken(to);
                }
                let Some(collection) = aliases.remove(from) else {
                    return fail(ErrorKind::NotFound, format!("alias {from} does not exist"));
                };
                aliases.insert(to.clone(), collection);
            }
        }
        Ok(())
    }
}

/// An alias and the collection it names, as
/// [`VectorPort::list_aliases`](super::VectorPort::list_aliases) reports them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Alias {
    /// The alias.
    pub alias: String,
    /// The collection it names.
    pub collection: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn a_switch_is_a_delete_then_a_create() {
        assert_eq!(
            AliasChange::switch("items", "items_v2"),
            [
                AliasChange::delete("items"),
                AliasChange::create("items", "items_v2")
            ]
        );
    }

    #[test]
    fn changes_follow_qdrants_rules() {
        let exists = |name: &str| matches!(name, "v1" | "v2");
        let mut aliases = BTreeMap::new();
        AliasChange::create("items", "v1")
            .apply(&mut aliases, exists)
            .unwrap();
        for change in AliasChange::switch("items", "v2") {
            change.apply(&mut aliases, exists).unwrap();
        }
        assert_eq!(aliases.get("items").map(String::as_str), Some("v2"));
        AliasChange::rename("items", "things")
            .apply(&mut aliases, exists)
            .unwrap();
        assert_eq!(aliases.get("things").map(String::as_str), Some("v2"));
        AliasChange::delete("absent")
            .apply(&mut aliases, exists)
            .unwrap();

        let kind = |change: AliasChange, aliases: &mut BTreeMap<String, String>| {
            change.apply(aliases, exists).unwrap_err().kind()
        };
        assert_eq!(
            kind(AliasChange::create("x", "v9"), &mut aliases),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(AliasChange::create("v1", "v2"), &mut aliases),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind(AliasChange::rename("absent", "y"), &mut aliases),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(AliasChange::rename("things", "v1"), &mut aliases),
            ErrorKind::Conflict
        );
        assert_eq!(aliases.len(), 1, "failed changes leave the map as it was");

        let before = aliases.clone();
        let all = [
            AliasChange::create("z", "v1"),
            AliasChange::create("y", "v9"),
        ];
        let err = AliasChange::apply_all(&all, &aliases, exists).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            aliases, before,
            "apply_all changes nothing when one change fails"
        );
        let next = AliasChange::apply_all(&all[..1], &aliases, exists).unwrap();
        assert_eq!(next.get("z").map(String::as_str), Some("v1"));
    }

    #[test]
    fn names_follow_the_collection_name_rule() {
        assert!(AliasChange::create("items", "items_v2").validate().is_ok());
        for bad in [
            AliasChange::create("", "items"),
            AliasChange::create("items", "a/b"),
            AliasChange::delete("white space"),
            AliasChange::rename("items", ""),
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert_eq!(err.operation(), "update_aliases");
        }
    }
}
