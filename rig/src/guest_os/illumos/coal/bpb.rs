//! The boot sector of a FAT partition (its BIOS parameter block), checked before `fatfs` sees
//! it. Pure: works on the sector's bytes.
//!
//! Why the rig checks what `fatfs` 0.3.6 also checks: `fatfs` computes the volume's layout in
//! `u32` before it compares (`fats * sectors_per_fat`, `sectors_per_fat * bytes_per_sector * 8`),
//! so a crafted BPB overflows there (a panic in a debug build, a wrong layout in a release one)
//! before its own checks run. Every value checked here is computed in `u64`; a BPB that passes
//! keeps all of `fatfs`'s sums and products of in-range cluster numbers below 2^32.

/// What kind of FAT, by its cluster count (the only rule, per Microsoft's specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatKind {
    /// Fewer than 4085 clusters, 12-bit entries.
    Fat12,
    /// Fewer than 65525 clusters, 16-bit entries.
    Fat16,
    /// 32-bit entries (28 used).
    Fat32,
}

/// Where things are in a FAT volume, in bytes from the start of its partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// Its FAT kind.
    pub kind: FatKind,
    /// Bytes in a cluster.
    pub cluster_size: u64,
    /// Data clusters: valid cluster numbers are 2 to `clusters + 1`.
    pub clusters: u32,
    /// Offset of the FAT `fatfs` reads (the first, or the active one when mirroring is off).
    pub fat_offset: u64,
    /// Offset of cluster 2.
    pub data_offset: u64,
    /// The root directory: its first cluster (FAT32) or its fixed region (FAT12/16).
    pub root: Root,
}

/// Where the root directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// A cluster chain from this cluster (FAT32).
    Cluster(u32),
    /// A fixed region between the FATs and the data: offset and length in bytes (FAT12/16).
    Region(u64, u64),
}

impl Geometry {
    /// The offset of cluster `c` (2 to `clusters + 1`).
    pub fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset + (c as u64 - 2) * self.cluster_size
    }
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}

fn u32_at(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as u64
}

/// Checks a partition's boot sector (at least 512 bytes) against the partition's length and
/// returns the volume's layout; the error names the field and what it should be.
pub fn check(boot: &[u8], partition_len: u64) -> Result<Geometry, String> {
    if boot.len() < 512 || boot[510..512] != [0x55, 0xaa] {
        return Err("its boot sector has no 55 aa signature".into());
    }
    let bps = u16_at(boot, 11);
    if ![512, 1024, 2048, 4096].contains(&bps) {
        return Err(format!("bytes per sector is {bps} (expected 512, 1024, 2048 or 4096)"));
    }
    let spc = boot[13] as u64;
    if !spc.is_power_of_two() || spc > 128 {
        return Err(format!("sectors per cluster is {spc} (expected a power of two from 1 to 128)"));
    }
    let reserved = u16_at(boot, 14);
    if reserved == 0 {
        return Err("reserved sectors is 0 (the boot sector is one)".into());
    }
    let fats = boot[16] as u64;
    if fats == 0 {
        return Err("number of FATs is 0".into());
    }
    let (root_entries, total16, spf16, total32) =
        (u16_at(boot, 17), u16_at(boot, 19), u16_at(boot, 22), u32_at(boot, 32));
    let fat32 = spf16 == 0;
    let spf = if fat32 { u32_at(boot, 36) } else { spf16 };
    if spf == 0 {
        return Err("sectors per FAT is 0".into());
    }
    let total = match (total16, total32) {
        (0, 0) => return Err("total sectors is 0 (both the 16- and the 32-bit field)".into()),
        (0, t) | (t, 0) => t,
        (a, b) => return Err(format!("total sectors is given twice ({a} and {b}); one field must be 0")),
    };
    if fat32 && (root_entries != 0 || total16 != 0) {
        return Err(format!(
            "a FAT32 BPB with {root_entries} root entries and 16-bit total sectors {total16} (both must be 0)"
        ));
    }
    if !fat32 && root_entries == 0 {
        return Err("root directory entries is 0 on FAT12/16".into());
    }
    if total * bps > partition_len {
        return Err(format!(
            "the volume ({total} sectors of {bps} bytes) is larger than its partition ({partition_len} bytes)"
        ));
    }
    let fat_bytes = spf * bps;
    // fatfs counts the FAT's entries as `sectors_per_fat * bytes_per_sector * 8` in a u32.
    if fat_bytes * 8 > u32::MAX as u64 {
        return Err(format!("sectors per FAT is {spf}: a FAT of {fat_bytes} bytes (fatfs reads at most 512 MiB)"));
    }
    let root_bytes = (root_entries * 32).next_multiple_of(bps);
    let first_data = reserved + fats * spf + root_bytes / bps;
    if first_data >= total {
        return Err(format!(
            "the reserved sectors ({reserved}), {fats} FAT(s) of {spf} sectors and the root directory fill all \
             {total} sectors"
        ));
    }
    let clusters = (total - first_data) / spc;
    let kind = match clusters {
        0..4085 => FatKind::Fat12,
        4085..65525 => FatKind::Fat16,
        _ => FatKind::Fat32,
    };
    if fat32 != (kind == FatKind::Fat32) {
        return Err(format!(
            "{clusters} clusters make it {kind:?}, but sectors per FAT (16-bit) is {spf16}, which says {}",
            if fat32 { "FAT32" } else { "FAT12/16" }
        ));
    }
    if clusters > 0x0fff_fff4 {
        return Err(format!("{clusters} clusters (FAT32 allows at most 268435444)"));
    }
    let bits = match kind {
        FatKind::Fat12 => 12,
        FatKind::Fat16 => 16,
        FatKind::Fat32 => 32,
    };
    if fat_bytes * 8 / bits < clusters + 2 {
        return Err(format!("a FAT of {spf} sectors cannot hold the entries of {clusters} clusters"));
    }
    let mut active = 0;
    let root = if fat32 {
        if u16_at(boot, 42) != 0 {
            return Err(format!("FAT32 version is {:#x} (only 0 is known)", u16_at(boot, 42)));
        }
        let (fs_info, backup) = (u16_at(boot, 48), u16_at(boot, 50));
        if fs_info >= reserved || backup >= reserved {
            return Err(format!(
                "the FSInfo sector ({fs_info}) or the backup boot sector ({backup}) is not among the {reserved} \
                 reserved sectors"
            ));
        }
        let flags = u16_at(boot, 40);
        if flags & 0x80 != 0 {
            active = flags & 0x0f;
            if active >= fats {
                return Err(format!("the active FAT is number {active} of {fats}"));
            }
        }
        let root = u32_at(boot, 44);
        if !(2..clusters + 2).contains(&root) {
            return Err(format!("the root directory's cluster is {root} (expected 2 to {})", clusters + 1));
        }
        Root::Cluster(root as u32)
    } else {
        Root::Region((reserved + fats * spf) * bps, root_bytes)
    };
    Ok(Geometry {
        kind,
        cluster_size: spc * bps,
        clusters: clusters as u32,
        fat_offset: (reserved + active * spf) * bps,
        data_offset: first_data * bps,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The BPB of a 64 MiB FAT32 volume as mkfs.fat writes it: 512-byte sectors, 1 sector per
    /// cluster, 32 reserved, 2 FATs of 1009 sectors, root at cluster 2.
    fn fat32() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0] = 0xeb;
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 1;
        b[14..16].copy_from_slice(&32u16.to_le_bytes());
        b[16] = 2;
        b[32..36].copy_from_slice(&131072u32.to_le_bytes());
        b[36..40].copy_from_slice(&1009u32.to_le_bytes());
        b[44..48].copy_from_slice(&2u32.to_le_bytes());
        b[48..50].copy_from_slice(&1u16.to_le_bytes());
        b[50..52].copy_from_slice(&6u16.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    const LEN: u64 = 64 << 20;

    #[test]
    fn reads_a_fat32_layout() {
        let g = check(&fat32(), LEN).unwrap();
        assert_eq!(g.kind, FatKind::Fat32);
        assert_eq!((g.cluster_size, g.fat_offset, g.root), (512, 32 * 512, Root::Cluster(2)));
        assert_eq!(g.data_offset, (32 + 2 * 1009) * 512);
        assert_eq!(g.clusters as u64, 131072 - 32 - 2 * 1009);
    }

    /// Each crafted field is refused with its name; none overflows (fatfs 0.3.6 panics on the
    /// FAT-size ones in a debug build).
    #[test]
    fn refuses_crafted_fields() {
        let refused = |at: usize, bytes: &[u8], want: &str| {
            let mut b = fat32();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            let e = check(&b, LEN).unwrap_err();
            assert!(e.contains(want), "patching {at} with {bytes:?}: {e}");
        };
        refused(11, &0u16.to_le_bytes(), "bytes per sector is 0");
        refused(11, &513u16.to_le_bytes(), "bytes per sector is 513");
        refused(13, &[0], "sectors per cluster is 0");
        refused(13, &[3], "sectors per cluster is 3");
        refused(14, &[0, 0], "reserved sectors is 0");
        refused(16, &[0], "number of FATs is 0");
        refused(16, &[255], "fill all");
        refused(36, &u32::MAX.to_le_bytes(), "a FAT of 2199023255040 bytes");
        refused(36, &200_000u32.to_le_bytes(), "fill all");
        refused(36, &0u32.to_le_bytes(), "sectors per FAT is 0");
        refused(32, &0u32.to_le_bytes(), "total sectors is 0");
        refused(32, &u32::MAX.to_le_bytes(), "larger than its partition");
        refused(19, &100u16.to_le_bytes(), "total sectors is given twice");
        refused(17, &16u16.to_le_bytes(), "FAT32 BPB with 16 root entries");
        refused(22, &1u16.to_le_bytes(), "root directory entries is 0 on FAT12/16");
        refused(44, &0u32.to_le_bytes(), "root directory's cluster is 0");
        refused(44, &u32::MAX.to_le_bytes(), "root directory's cluster is 4294967295");
        refused(48, &32u16.to_le_bytes(), "FSInfo sector (32)");
        refused(40, &0x0085u16.to_le_bytes(), "the active FAT is number 5 of 2");
        refused(42, &1u16.to_le_bytes(), "FAT32 version is 0x1");
        refused(510, &[0, 0], "no 55 aa signature");
        // A FAT16-style BPB (sectors per FAT in the 16-bit field) over FAT32's cluster count.
        let mut b = fat32();
        b[17..19].copy_from_slice(&512u16.to_le_bytes());
        b[22..24].copy_from_slice(&1u16.to_le_bytes());
        let e = check(&b, LEN).unwrap_err();
        assert!(e.contains("131006 clusters make it Fat32, but sectors per FAT (16-bit) is 1"), "{e}");
    }
}
