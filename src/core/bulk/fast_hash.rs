//! A fast hasher for the bulk import's per-row maps.
//!
//! The import hashes every row's address and group cell, and a hostile
//! file's cells hold megabytes of names; std's SipHash dominates that cost,
//! and a word-at-a-time multiply hash is still a step per eight bytes.
//! `foldhash`'s fixed-seed hasher folds long input many bytes per step. It
//! is not DoS-resistant, which is fine here: a file holds at most 1000 rows
//! and a cell at most 21 distinct names before it is refused, so even
//! adversarial collisions stay cheap. The seed is fixed: the core stays
//! deterministic.

use std::collections::{HashMap, HashSet};

pub(crate) type FastBuild = foldhash::fast::FixedState;
pub(crate) type FastHashMap<K, V> = HashMap<K, V, FastBuild>;
pub(crate) type FastHashSet<K> = HashSet<K, FastBuild>;
