//! A slab of generation-checked slots: the home of every object, timer and Io-owned buffer.

use crate::op::{FOREIGN, IoId, Key};

/// Why `key` names nothing in the slab of the Io `io`.
#[cold]
fn missing(io: IoId, key: Key) -> iox::Error {
    if key.io == io {
        iox::Error::CLOSED
    } else {
        FOREIGN
    }
}

#[derive(Debug)]
enum Slot<T> {
    Full(T),
    Free { next: u32 },
}

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    slot: Slot<T>,
}

const NONE: u32 = u32::MAX;
/// The free-list link of a retired slot (on no list).
const RETIRED: u32 = u32::MAX - 1;

/// The last generation a slot may have: a slot whose value is removed at this generation
/// is retired, never reused, so a generation never wraps and a stale key can never match
/// again (a slot is retired after 2^32 - 1 reuses, at the cost of its few bytes).
const LAST_GENERATION: u32 = u32::MAX;

/// A `Vec` of slots with a free list. Removing a value bumps its slot's generation, so a
/// [`Key`] that outlived its value no longer matches, even after the slot is reused.
/// Keys carry the owning Io's identity, and a key of another Io matches nothing.
/// Inserting allocates only when every slot is full.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: u32,
    len: usize,
    io: IoId,
}

impl<T> Slab<T> {
    pub(crate) fn with_capacity(n: usize, io: IoId) -> Slab<T> {
        Slab {
            entries: Vec::with_capacity(n),
            free: NONE,
            len: 0,
            io,
        }
    }

    /// The value `key` names, or why not: `FOREIGN` for another Io's key, `Closed` for a
    /// stale one.
    #[inline]
    pub(crate) fn lookup(&self, key: Key) -> iox::Result<&T> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    /// [`lookup`](Slab::lookup), mutably.
    #[inline]
    pub(crate) fn lookup_mut(&mut self, key: Key) -> iox::Result<&mut T> {
        // The error is made only on the miss (`instructions` bench: making it up front cost
        // every hit about a dozen instructions).
        let io = self.io;
        self.get_mut(key).ok_or_else(|| missing(io, key))
    }

    /// Why `key` names nothing here.
    #[inline]
    pub(crate) fn missing(&self, key: Key) -> iox::Error {
        missing(self.io, key)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The Io whose keys this slab makes.
    pub(crate) fn io(&self) -> IoId {
        self.io
    }

    /// The key the next [`insert`](Slab::insert) will return.
    pub(crate) fn next_key(&self) -> Key {
        if self.free == NONE {
            Key::new(self.entries.len() as u32, 0, self.io)
        } else {
            Key::new(
                self.free,
                self.entries[self.free as usize].generation,
                self.io,
            )
        }
    }

    /// Stores `value`; the key names it until it is removed.
    pub(crate) fn insert(&mut self, value: T) -> Key {
        if self.free == NONE {
            let idx = self.entries.len();
            assert!(idx < (u32::MAX - 2) as usize, "slab index space exhausted");
            self.entries.push(Entry {
                generation: 0,
                slot: Slot::Full(value),
            });
            self.len += 1;
            return Key::new(idx as u32, 0, self.io);
        }
        let idx = self.free;
        let e = &mut self.entries[idx as usize];
        let Slot::Free { next } = e.slot else {
            unreachable!("free list points at a full slot")
        };
        self.free = next;
        e.slot = Slot::Full(value);
        self.len += 1;
        Key::new(idx, e.generation, self.io)
    }

    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        if key.io != self.io {
            return None;
        }
        match self.entries.get(key.idx as usize) {
            Some(Entry {
                generation,
                slot: Slot::Full(v),
            }) if *generation == key.generation => Some(v),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        if key.io != self.io {
            return None;
        }
        match self.entries.get_mut(key.idx as usize) {
            Some(Entry {
                generation,
                slot: Slot::Full(v),
            }) if *generation == key.generation => Some(v),
            _ => None,
        }
    }

    /// The value in slot `idx` and its key, whatever the generation.
    #[inline]
    pub(crate) fn by_index_mut(&mut self, idx: u32) -> Option<(Key, &mut T)> {
        match self.entries.get_mut(idx as usize) {
            Some(Entry {
                generation,
                slot: Slot::Full(v),
            }) => Some((Key::new(idx, *generation, self.io), v)),
            _ => None,
        }
    }

    /// Takes the value out; the slot's generation moves on.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        if key.io != self.io {
            return None;
        }
        let e = self.entries.get_mut(key.idx as usize)?;
        if e.generation != key.generation || matches!(e.slot, Slot::Free { .. }) {
            return None;
        }
        let retire = e.generation == LAST_GENERATION;
        let next = if retire { RETIRED } else { self.free };
        let old = core::mem::replace(&mut e.slot, Slot::Free { next });
        if !retire {
            e.generation += 1;
            self.free = key.idx;
        }
        self.len -= 1;
        match old {
            Slot::Full(v) => Some(v),
            Slot::Free { .. } => unreachable!("checked above"),
        }
    }

    /// The keys of every stored value.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e.slot {
                Slot::Full(_) => Some(Key::new(i as u32, e.generation, self.io)),
                Slot::Free { .. } => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_key_misses_after_reuse() {
        let mut s = Slab::with_capacity(2, IoId(1));
        let a = s.insert("a");
        assert_eq!(s.get(a), Some(&"a"));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None);
        let b = s.insert("b");
        assert_eq!(b.idx, a.idx, "the slot is reused");
        assert_ne!(b.generation, a.generation);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn next_key_predicts_insert_and_keys_lists_live_values() {
        let mut s = Slab::with_capacity(4, IoId(1));
        let keys: Vec<Key> = (0..4).map(|i| s.insert(i)).collect();
        s.remove(keys[1]);
        s.remove(keys[2]);
        let predicted = s.next_key();
        assert_eq!(s.insert(9), predicted);
        let live: Vec<Key> = s.keys().collect();
        assert_eq!(live.len(), 3);
        assert!(live.contains(&keys[0]) && live.contains(&keys[3]) && live.contains(&predicted));
    }

    #[test]
    fn a_slot_at_its_last_generation_is_retired_not_reused() {
        let mut s = Slab::with_capacity(2, IoId(1));
        let a = s.insert("a");
        s.entries[a.idx as usize].generation = LAST_GENERATION;
        let a = Key::new(a.idx, LAST_GENERATION, IoId(1));
        assert_eq!(s.get(a), Some(&"a"));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.get(a), None, "stale after removal");
        let b = s.insert("b");
        assert_ne!(b.idx, a.idx, "the retired slot is never handed out again");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s.keys().collect::<Vec<_>>(), [b]);
    }

    #[test]
    fn another_slabs_key_matches_nothing_and_says_so() {
        let mut mine = Slab::with_capacity(1, IoId(1));
        let mut theirs = Slab::with_capacity(1, IoId(2));
        let k = theirs.insert(5u8);
        mine.insert(7u8);
        assert_eq!(
            (k.idx, k.generation),
            (0, 0),
            "same index and generation as mine's"
        );
        assert_eq!(mine.get(k), None);
        assert_eq!(mine.get_mut(k), None);
        assert_eq!(mine.remove(k), None);
        assert_eq!(mine.lookup(k).unwrap_err(), FOREIGN);
        let stale = Key::new(0, 9, IoId(1));
        assert_eq!(mine.lookup(stale).unwrap_err(), iox::Error::CLOSED);
        assert_eq!(mine.len(), 1);
    }
}
