//! The cluster chains and directories of a FAT volume, checked before `fatfs` follows them.
//!
//! `fatfs` 0.3.6 follows whatever the FAT says: a chain that loops makes it read one directory
//! for ever (listing it grows memory without bound), and a cluster number outside the volume
//! underflows or overflows its `u32` arithmetic (cluster 1 gives `1 - 2`). So before the volume
//! is handed to it, the rig reads the FAT `fatfs` will read and every directory once: every
//! link and every directory entry's first cluster must be a cluster of the volume, no chain
//! may loop, and no directory may be longer than FAT's 65536 entries. On an image that passes,
//! every chain ends and every cluster number `fatfs` meets is in range.

use std::collections::{HashSet, VecDeque};

use super::bpb::{FatKind, Geometry, Root};

/// The longest directory FAT allows: 65536 entries of 32 bytes.
pub const MAX_DIR_BYTES: u64 = 65536 * 32;

/// Reads `len` bytes at an offset from the start of the partition.
pub type ReadAt<'a> = dyn FnMut(u64, usize) -> std::io::Result<Vec<u8>> + 'a;

/// Checks the volume laid out as `g`; the error says which cluster or directory is wrong.
pub fn check(g: &Geometry, read: &mut ReadAt) -> Result<(), String> {
    let next = links(g, read)?;
    no_loops(&next)?;
    directories(g, &next, read)
}

/// The FAT's links: `next[c - 2]` is the cluster after `c`, or 0 at the end of a chain (or for a
/// free or bad cluster). Every link is checked to be a cluster of the volume.
fn links(g: &Geometry, read: &mut ReadAt) -> Result<Vec<u32>, String> {
    let entries = g.clusters as u64 + 2;
    let bytes = match g.kind {
        FatKind::Fat12 => (entries * 3).div_ceil(2),
        FatKind::Fat16 => entries * 2,
        FatKind::Fat32 => entries * 4,
    };
    let fat = read(g.fat_offset, bytes as usize).map_err(|e| format!("reading the FAT: {e}"))?;
    let byte = |i: u64| fat.get(i as usize).copied().unwrap_or(0) as u32;
    let mut next = Vec::with_capacity(g.clusters as usize);
    for c in 2..entries {
        let (value, end) = match g.kind {
            FatKind::Fat12 => {
                let pair = byte(c + c / 2) | byte(c + c / 2 + 1) << 8;
                (if c % 2 == 0 { pair & 0xfff } else { pair >> 4 }, 0xff7)
            }
            FatKind::Fat16 => (byte(2 * c) | byte(2 * c + 1) << 8, 0xfff7),
            FatKind::Fat32 => {
                let at = 4 * c;
                ((byte(at) | byte(at + 1) << 8 | byte(at + 2) << 16 | byte(at + 3) << 24) & 0x0fff_ffff, 0x0fff_fff7)
            }
        };
        // 0 is free, `end` is bad and above it the end of a chain: no next cluster.
        let link = if value >= end { 0 } else { value };
        if link != 0 && !(2..entries).contains(&(link as u64)) {
            return Err(format!(
                "the FAT links cluster {c} to {link}, not a cluster of the volume (2 to {})",
                entries - 1
            ));
        }
        next.push(link);
    }
    Ok(next)
}

/// Fails on the first chain that comes back to a cluster it has passed. Linear: each cluster
/// is walked once.
fn no_loops(next: &[u32]) -> Result<(), String> {
    const NEW: u8 = 0;
    const WALKING: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; next.len()];
    let mut path = Vec::new();
    for start in 0..next.len() {
        let mut i = start;
        while state[i] == NEW {
            state[i] = WALKING;
            path.push(i);
            match next[i] {
                0 => break,
                n => i = n as usize - 2,
            }
        }
        if state[i] == WALKING && next[i] != 0 {
            return Err(format!("the cluster chain through cluster {} loops", i + 2));
        }
        for p in path.drain(..) {
            state[p] = DONE;
        }
    }
    Ok(())
}

/// The clusters of the chain from `first`, refused past `limit` bytes.
fn chain(g: &Geometry, next: &[u32], first: u32, limit: u64) -> Option<Vec<u32>> {
    let mut out = vec![first];
    let mut c = first;
    while next[c as usize - 2] != 0 {
        c = next[c as usize - 2];
        out.push(c);
        if out.len() as u64 * g.cluster_size > limit {
            return None;
        }
    }
    Some(out)
}

/// An entry's 8.3 name, for messages.
fn short_name(e: &[u8]) -> String {
    let base = String::from_utf8_lossy(&e[0..8]).trim_end().to_string();
    let ext = String::from_utf8_lossy(&e[8..11]).trim_end().to_string();
    if ext.is_empty() { base } else { format!("{base}.{ext}") }
}

/// Reads every directory once, from the root: each entry's first cluster must be a cluster of
/// the volume and each directory at most [`MAX_DIR_BYTES`]. A directory reached twice (the tree
/// is cross-linked) is read once; all of them together may not hold more than the volume's data
/// area, which no real tree does (each cluster belongs to one directory at most).
fn directories(g: &Geometry, next: &[u32], read: &mut ReadAt) -> Result<(), String> {
    let valid = 2..g.clusters as u64 + 2;
    let mut budget = g.clusters as u64 * g.cluster_size;
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([("/".to_string(), g.root)]);
    while let Some((path, at)) = queue.pop_front() {
        let regions: Vec<(u64, u64)> = match at {
            Root::Region(offset, len) => vec![(offset, len)],
            Root::Cluster(first) => chain(g, next, first, MAX_DIR_BYTES)
                .ok_or_else(|| format!("directory {path} is longer than FAT's 65536 entries"))?
                .into_iter()
                .map(|c| (g.cluster_offset(c), g.cluster_size))
                .collect(),
        };
        'dir: for (offset, len) in regions {
            budget = budget.checked_sub(len).ok_or("the directories hold more than the volume: they share clusters")?;
            let bytes = read(offset, len as usize).map_err(|e| format!("reading directory {path}: {e}"))?;
            for e in bytes.chunks_exact(32) {
                let attr = e[11];
                match e[0] {
                    0 => break 'dir,
                    0xe5 => continue,
                    _ if attr & 0x0f == 0x0f => continue,
                    _ => {}
                }
                let hi = if g.kind == FatKind::Fat32 { u16::from_le_bytes([e[20], e[21]]) as u64 } else { 0 };
                let first = hi << 16 | u16::from_le_bytes([e[26], e[27]]) as u64;
                let name = short_name(e);
                if first != 0 && !valid.contains(&first) {
                    return Err(format!(
                        "{path}{name}: its first cluster is {first}, not a cluster of the volume (2 to {})",
                        valid.end - 1
                    ));
                }
                if attr & 0x10 != 0 && first != 0 && name != "." && name != ".." && seen.insert(first) {
                    queue.push_back((format!("{path}{name}/"), Root::Cluster(first as u32)));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FAT16 layout of 5000 clusters of 512 bytes, FAT at 512, root region at 16 KiB.
    fn fat16() -> Geometry {
        Geometry {
            kind: FatKind::Fat16,
            cluster_size: 512,
            clusters: 5000,
            fat_offset: 512,
            data_offset: 32 * 1024,
            root: Root::Region(16 * 1024, 16 * 1024),
        }
    }

    /// A disk holding `g`'s FAT with `links` ((from, to) pairs) and, in the root, one directory
    /// entry `name` whose first cluster is `first`.
    fn disk(g: &Geometry, links: &[(u32, u16)], name: &[u8; 11], first: u16) -> Vec<u8> {
        let mut d = vec![0u8; (g.data_offset + g.clusters as u64 * 512) as usize];
        for (c, to) in links {
            let at = g.fat_offset as usize + 2 * *c as usize;
            d[at..at + 2].copy_from_slice(&to.to_le_bytes());
        }
        let root = 16 * 1024;
        d[root..root + 11].copy_from_slice(name);
        d[root + 11] = 0x10;
        d[root + 26..root + 28].copy_from_slice(&first.to_le_bytes());
        d
    }

    fn run(g: &Geometry, d: &[u8]) -> Result<(), String> {
        check(g, &mut |off, len| Ok(d[off as usize..off as usize + len].to_vec()))
    }

    #[test]
    fn a_sound_tree_passes() {
        let g = fat16();
        assert_eq!(run(&g, &disk(&g, &[(3, 4), (4, 0xffff)], b"OS         ", 3)), Ok(()));
    }

    /// A directory whose chain comes back to itself is refused instead of read for ever.
    #[test]
    fn refuses_loops_and_strays() {
        let g = fat16();
        let e = run(&g, &disk(&g, &[(3, 4), (4, 3)], b"OS         ", 3)).unwrap_err();
        assert_eq!(e, "the cluster chain through cluster 3 loops");
        let e = run(&g, &disk(&g, &[(7, 7)], b"OS         ", 3)).unwrap_err();
        assert_eq!(e, "the cluster chain through cluster 7 loops");
        let e = run(&g, &disk(&g, &[(3, 1)], b"OS         ", 3)).unwrap_err();
        assert_eq!(e, "the FAT links cluster 3 to 1, not a cluster of the volume (2 to 5001)");
        let e = run(&g, &disk(&g, &[(3, 0xffff)], b"OS         ", 6000)).unwrap_err();
        assert_eq!(e, "/OS: its first cluster is 6000, not a cluster of the volume (2 to 5001)");
        // 4097 clusters of 512 bytes: one entry more than a directory may hold.
        let long: Vec<(u32, u16)> = (3..4099).map(|c| (c, c as u16 + 1)).chain([(4099, 0xffff)]).collect();
        let e = run(&g, &disk(&g, &long, b"OS         ", 3)).unwrap_err();
        assert_eq!(e, "directory /OS/ is longer than FAT's 65536 entries");
    }
}
