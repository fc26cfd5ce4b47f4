//! Namespaces (tenants). Every document and every cached tool result belongs to exactly one
//! namespace. The API names the namespace apart from the id (see the proto's conventions);
//! inside the engine a namespaced name travels as one *qualified* string:
//!
//! | namespace   | qualified form            |
//! |-------------|---------------------------|
//! | `default`   | `name`                    |
//! | `ns`        | `0x1F ns 0x1F name`       |
//!
//! Invariants this rests on:
//! - a name (document id, tool name) has no control character (`Limits::check_id`), so it
//!   never contains 0x1F and never starts with a byte below 0x20;
//! - a namespace name is 1..=63 bytes of `[a-z0-9._-]` starting with a letter or digit, and is
//!   not `default` (that one is the unqualified form).
//!
//! Hence the mapping is injective, a qualified name says its own namespace ([`split`]), the
//! default namespace's names all sort at or above `" "` (0x20) while every other namespace's
//! sort below it, and each namespace's names form one contiguous key range. Data written
//! before namespaces existed is the default namespace's, unchanged.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Separator of the qualified form (ASCII unit separator, a control character).
pub const SEP: char = '\u{1f}';
/// The name of the namespace whose names are stored unqualified.
pub const DEFAULT: &str = "default";
/// Longest namespace name, in bytes.
pub const MAX_NAME_BYTES: usize = 63;
/// The lowest key a default-namespace name can have: every qualified name of another
/// namespace sorts below it.
pub const DEFAULT_FLOOR: &str = " ";

/// A namespace. `Namespace::default()` is the `default` namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Namespace(
    /// None: the default namespace; Some: a valid name other than `default`.
    Option<String>,
);

impl Namespace {
    /// A namespace by name; "" and `default` are the default namespace. A malformed name is
    /// InvalidArgument naming `field`.
    pub fn parse(field: &str, name: &str) -> Result<Namespace> {
        if name.is_empty() || name == DEFAULT {
            return Ok(Namespace(None));
        }
        check_name(field, name)?;
        Ok(Namespace(Some(name.to_string())))
    }

    pub fn is_default(&self) -> bool {
        self.0.is_none()
    }

    /// The namespace's name (`default` for the default one).
    pub fn name(&self) -> &str {
        self.0.as_deref().unwrap_or(DEFAULT)
    }

    /// The qualified form of `name` (a document id, a tool name, or a prefix of one) in this
    /// namespace. An empty `name` stays recognisably empty: `public(qualify(""))` is "".
    pub fn qualify(&self, name: &str) -> String {
        match &self.0 {
            None => name.to_string(),
            Some(ns) => {
                let mut s = String::with_capacity(ns.len() + name.len() + 2);
                s.push(SEP);
                s.push_str(ns);
                s.push(SEP);
                s.push_str(name);
                s
            }
        }
    }

    /// Whether the qualified `name` belongs to this namespace.
    pub fn contains(&self, qualified: &str) -> bool {
        split(qualified).0 == self.0.as_deref()
    }

    /// The namespace a qualified name belongs to.
    pub fn of(qualified: &str) -> Namespace {
        Namespace(split(qualified).0.map(str::to_string))
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A qualified name's namespace (None: the default one) and its public part. A string that
/// starts with [`SEP`] but has no second one is treated as a default-namespace name (it then
/// fails `Limits::check_id` wherever it is checked).
pub fn split(qualified: &str) -> (Option<&str>, &str) {
    if let Some(rest) = qualified.strip_prefix(SEP) {
        if let Some((ns, name)) = rest.split_once(SEP) {
            return (Some(ns), name);
        }
    }
    (None, qualified)
}

/// The public part of a qualified name (what the API shows).
pub fn public(qualified: &str) -> &str {
    split(qualified).1
}

/// Replaces every qualified name inside `text` (an error message, say) by its public part:
/// `0x1F ns 0x1F` is dropped wherever it occurs. Nothing else in a message contains 0x1F.
pub fn publish_text(text: &str) -> String {
    if !text.contains(SEP) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(SEP) {
        out.push_str(&rest[..i]);
        let after = &rest[i + SEP.len_utf8()..];
        match after.find(SEP) {
            Some(j) => rest = &after[j + SEP.len_utf8()..],
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A namespace name: 1..=63 bytes of `[a-z0-9._-]`, starting with a letter or a digit.
pub fn check_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(
            field,
            format!("is {} bytes; the limit is {MAX_NAME_BYTES}", name.len()),
        ));
    }
    let ok = name.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
    }) && name.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        return Err(Error::invalid(
            field,
            "must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_round_trip_and_say_their_namespace() {
        let acme = Namespace::parse("ns", "acme").unwrap();
        let q = acme.qualify("doc-1");
        assert_eq!(q, "\u{1f}acme\u{1f}doc-1");
        assert_eq!(split(&q), (Some("acme"), "doc-1"));
        assert!(acme.contains(&q));
        assert!(!Namespace::default().contains(&q));
        assert_eq!(Namespace::of(&q), acme);
        let d = Namespace::default().qualify("doc-1");
        assert_eq!(d, "doc-1");
        assert!(Namespace::default().contains(&d));
        assert!(!acme.contains(&d));
        assert_eq!(public(&acme.qualify("")), "");
    }

    #[test]
    fn default_names_sort_above_the_floor_and_others_below() {
        let acme = Namespace::parse("ns", "acme").unwrap();
        for id in [" ", "!", "0", "a", "é", "\u{10ffff}"] {
            assert!(id >= DEFAULT_FLOOR, "{id:?}");
            assert!(acme.qualify(id).as_str() < DEFAULT_FLOOR);
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(Namespace::parse("ns", "").unwrap().is_default());
        assert!(Namespace::parse("ns", "default").unwrap().is_default());
        for bad in ["Acme", "-a", "a b", "a\u{1f}b", "ä", &"a".repeat(64)] {
            let e = Namespace::parse("ns", bad).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument { .. }), "{bad:?}: {e:?}");
        }
        for good in ["a", "0", "team-7", "a.b_c", &"a".repeat(63)] {
            assert_eq!(Namespace::parse("ns", good).unwrap().name(), good);
        }
    }

    #[test]
    fn messages_lose_the_qualification() {
        let acme = Namespace::parse("ns", "acme").unwrap();
        let msg = format!(
            "document {} not found; link to {}",
            acme.qualify("d1"),
            acme.qualify("d2")
        );
        assert_eq!(publish_text(&msg), "document d1 not found; link to d2");
        assert_eq!(publish_text("plain"), "plain");
    }
}
