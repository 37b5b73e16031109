//! The iteration indices a case × CPU × image was assigned, as its report keeps them: while the
//! run goes, its shard's arithmetic ([`Assigned`]: nothing held per iteration, whatever the
//! count); once merged from shards or read back from a file, a list. Written as a JSON list
//! of indices either way, so `report.json` reads as it always has.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::shard::Assigned;

/// The assigned iteration indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignedIndices {
    /// A run's own assignment: every `step`-th index.
    Every(Assigned),
    /// Listed (merged from shards, or read from a report).
    List(Vec<u32>),
}

impl Default for AssignedIndices {
    fn default() -> Self {
        AssignedIndices::List(Vec::new())
    }
}

impl AssignedIndices {
    /// How many.
    pub fn len(&self) -> usize {
        match self {
            AssignedIndices::Every(a) => a.len() as usize,
            AssignedIndices::List(l) => l.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The indices, in their order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            AssignedIndices::Every(a) => Box::new(a.iter()),
            AssignedIndices::List(l) => Box::new(l.iter().copied()),
        }
    }

    /// Adds another report's indices of the same case × CPU × image (merging shards): the
    /// union, sorted.
    pub fn merge(&mut self, other: &AssignedIndices) {
        let mut all: Vec<u32> = self.iter().chain(other.iter()).collect();
        all.sort_unstable();
        all.dedup();
        *self = AssignedIndices::List(all);
    }
}

impl From<Assigned> for AssignedIndices {
    fn from(a: Assigned) -> Self {
        AssignedIndices::Every(a)
    }
}

impl FromIterator<u32> for AssignedIndices {
    fn from_iter<I: IntoIterator<Item = u32>>(it: I) -> Self {
        AssignedIndices::List(it.into_iter().collect())
    }
}

impl Serialize for AssignedIndices {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for AssignedIndices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<u32>::deserialize(d).map(AssignedIndices::List)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::shard::{Shard, assign};

    #[test]
    fn written_as_the_list_and_merged_as_the_union() {
        let mine: AssignedIndices = assign(&[7], Some(Shard { index: 2, count: 3 }))[0].into();
        assert_eq!(serde_json::to_string(&mine).unwrap(), "[2,5]");
        let mut back: AssignedIndices = serde_json::from_str("[3,6,1]").unwrap();
        assert_eq!(back.len(), 3);
        back.merge(&mine);
        assert_eq!(back, AssignedIndices::List(vec![1, 2, 3, 5, 6]));
        // A huge run's own assignment holds nothing per iteration.
        let huge: AssignedIndices = Assigned::all(u32::MAX).into();
        assert_eq!((huge.len(), std::mem::size_of_val(&huge) <= 32), (u32::MAX as usize, true));
    }
}
