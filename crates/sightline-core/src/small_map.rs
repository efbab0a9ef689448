//! A map from names to values kept as a vector sorted by name: what a
//! resource's tags and a violation's evidence are (a finding keeps its
//! evidence as text: `crate::finding::EvidenceJson`).
//!
//! A `BTreeMap` allocates its first node for eleven entries, whatever it
//! holds: about 540 bytes for one tag, 630 for a finding's four fields of
//! evidence. A scan holds one per resource and one per finding, a million
//! of each at the largest estates, and those nodes were a quarter of a
//! scan's memory (issue 16). This keeps only what is there, in the same
//! order, serialised as the same JSON object.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Names to values, sorted by name, one value per name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SmallMap<V> {
    entries: Vec<(String, V)>,
}

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<V> SmallMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn position<Q>(&self, name: &Q) -> Result<usize, usize>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries
            .binary_search_by(|(k, _)| Borrow::<Q>::borrow(k).cmp(name))
    }

    /// Set `name` to `value`; the value it replaced, if any.
    pub fn insert(&mut self, name: String, value: V) -> Option<V> {
        match self.position(name.as_str()) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (name, value));
                None
            }
        }
    }

    pub fn get<Q>(&self, name: &Q) -> Option<&V>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(name).ok().map(|at| &self.entries[at].1)
    }

    pub fn contains_key<Q>(&self, name: &Q) -> bool
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(name).is_ok()
    }

    pub fn remove<Q>(&mut self, name: &Q) -> Option<V>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(name).ok().map(|at| self.entries.remove(at).1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// In order of name, as a `BTreeMap` iterates.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &V)> + DoubleEndedIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + DoubleEndedIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> + DoubleEndedIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Give back the room a growing vector kept in reserve.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl<V: fmt::Debug> fmt::Debug for SmallMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `map["name"]`, like a `BTreeMap`'s: a name that is not there panics.
impl<V, Q> std::ops::Index<&Q> for SmallMap<V>
where
    String: Borrow<Q>,
    Q: Ord + fmt::Debug + ?Sized,
{
    type Output = V;

    fn index(&self, name: &Q) -> &V {
        self.get(name)
            .unwrap_or_else(|| panic!("no entry named {name:?}"))
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for SmallMap<V> {
    /// The last value given for a name wins, as in a `BTreeMap`.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(String, V)> = iter.into_iter().map(|(k, v)| (k.into(), v)).collect();
        // A stable sort keeps equal names in the order given; the last stays.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(String, V)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match unique.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => unique.push((k, v)),
            }
        }
        Self { entries: unique }
    }
}

impl<V> From<BTreeMap<String, V>> for SmallMap<V> {
    fn from(map: BTreeMap<String, V>) -> Self {
        // Already sorted and unique.
        Self {
            entries: map.into_iter().collect(),
        }
    }
}

impl<V> IntoIterator for SmallMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for SmallMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SmallMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = SmallMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = access.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(entries.into_iter().collect())
            }
        }

        deserializer.deserialize_map(Entries(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_behaves_as_a_btreemap_does() {
        let pairs = [
            ("team", "b"),
            ("Name", "web"),
            ("env", "prod"),
            ("team", "a"),
        ];
        let mut small = SmallMap::new();
        let mut btree = BTreeMap::new();
        for (k, v) in pairs {
            assert_eq!(
                small.insert(k.to_string(), v.to_string()),
                btree.insert(k.to_string(), v.to_string())
            );
        }
        assert_eq!(
            small.iter().collect::<Vec<_>>(),
            btree.iter().collect::<Vec<_>>()
        );
        assert_eq!(small.get("team").map(String::as_str), Some("a"));
        assert_eq!(small["env"], "prod");
        assert!(small.contains_key("Name") && !small.contains_key("name"));
        assert_eq!(small.len(), 3);
        let collected: SmallMap<String> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        assert_eq!(collected, small, "the last value for a name wins");
        assert_eq!(SmallMap::from(btree.clone()), small);
        assert_eq!(small.remove("env").as_deref(), Some("prod"));
        assert_eq!(small.get("env"), None);
    }

    #[test]
    fn json_is_the_same_object_a_btreemap_writes_and_reads() {
        let btree: BTreeMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"size_gib": 8, "attachments": [], "state": "available", "nested": {"b": 1, "a": 2}}"#,
        )
        .unwrap();
        let small = SmallMap::from(btree.clone());
        assert_eq!(
            serde_json::to_string(&small).unwrap(),
            serde_json::to_string(&btree).unwrap()
        );
        let back: SmallMap<serde_json::Value> =
            serde_json::from_str(r#"{"state": "in-use", "size_gib": 8, "state": "available"}"#)
                .unwrap();
        assert_eq!(back["state"], "available", "a repeated name: the last wins");
        assert_eq!(back.keys().collect::<Vec<_>>(), ["size_gib", "state"]);
        let err = serde_json::from_str::<SmallMap<String>>("[1]").unwrap_err();
        assert!(
            err.to_string().contains("an object of names to values"),
            "{err}"
        );
    }

    #[test]
    #[should_panic(expected = "no entry named \"missing\"")]
    fn indexing_a_missing_name_panics_naming_it() {
        let map: SmallMap<u8> = SmallMap::new();
        let _ = map["missing"];
    }
}
