//! The partition table of a raw disk image (MBR or GPT), read far enough to find where the
//! FAT partitions of a SmartOS USB image start and end. Pure: works on the first sectors.

/// One partition, in bytes from the start of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Its number in the table, from 1.
    pub index: usize,
    /// Byte offset of its first sector.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether its type says FAT (MBR 0x01/0x04/0x06/0x0b/0x0c/0x0e/0xef; GPT basic data or ESP).
    pub fat_type: bool,
}

const SECTOR: u64 = 512;
const MBR_FAT_TYPES: &[u8] = &[0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e, 0xef];
/// Microsoft basic data and EFI System partition type GUIDs, as stored (mixed-endian).
const GPT_FAT_TYPES: &[[u8; 16]] = &[
    [0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7],
    [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b],
];

fn u32_at(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as u64
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The MBR's partitions; `None` when sector 0 has no boot signature.
pub fn mbr(sector0: &[u8]) -> Option<Vec<(Partition, u8)>> {
    if sector0.len() < 512 || sector0[510..512] != [0x55, 0xaa] {
        return None;
    }
    let mut out = Vec::new();
    for i in 0..4 {
        let e = &sector0[446 + 16 * i..446 + 16 * (i + 1)];
        let (ty, lba, count) = (e[4], u32_at(e, 8), u32_at(e, 12));
        if ty != 0 && count != 0 {
            let p = Partition {
                index: i + 1,
                start: lba * SECTOR,
                len: count * SECTOR,
                fat_type: MBR_FAT_TYPES.contains(&ty),
            };
            out.push((p, ty));
        }
    }
    Some(out)
}

/// The GPT's partitions, given LBA 1 (the header) and a way to read the entry array.
pub fn gpt(
    header: &[u8],
    read: &mut dyn FnMut(u64, usize) -> std::io::Result<Vec<u8>>,
) -> std::io::Result<Option<Vec<Partition>>> {
    if header.len() < 92 || &header[0..8] != b"EFI PART" {
        return Ok(None);
    }
    let (entries_lba, count, size) = (u64_at(header, 72), u32_at(header, 80) as usize, u32_at(header, 84) as usize);
    if !(128..=4096).contains(&size) || count > 1024 {
        return Ok(None);
    }
    let table = read(entries_lba * SECTOR, count * size)?;
    let mut out = Vec::new();
    for i in 0..count {
        let e = &table[i * size..(i + 1) * size];
        let ty: [u8; 16] = e[0..16].try_into().expect("16 bytes");
        if ty == [0; 16] {
            continue;
        }
        let (first, last) = (u64_at(e, 32), u64_at(e, 40));
        if last >= first {
            out.push(Partition {
                index: i + 1,
                start: first * SECTOR,
                len: (last - first + 1) * SECTOR,
                fat_type: GPT_FAT_TYPES.contains(&ty),
            });
        }
    }
    Ok(Some(out))
}

/// Writes an MBR with one partition (for images made in tests): `start`/`len` in sectors.
pub fn write_mbr(sector0: &mut [u8], part_type: u8, start_lba: u32, sectors: u32) {
    let e = &mut sector0[446..462];
    e[4] = part_type;
    e[8..12].copy_from_slice(&start_lba.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    sector0[510] = 0x55;
    sector0[511] = 0xaa;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_mbr_entry() {
        let mut s = vec![0u8; 512];
        write_mbr(&mut s, 0x0c, 2048, 4096);
        let p = mbr(&s).unwrap();
        assert_eq!(p, vec![(Partition { index: 1, start: 2048 * 512, len: 4096 * 512, fat_type: true }, 0x0c)]);
        s[511] = 0;
        assert!(mbr(&s).is_none());
    }

    #[test]
    fn reads_a_gpt_entry() {
        let mut h = vec![0u8; 512];
        h[0..8].copy_from_slice(b"EFI PART");
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&2u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        let mut table = vec![0u8; 256];
        table[0..16].copy_from_slice(&GPT_FAT_TYPES[1]);
        table[32..40].copy_from_slice(&34u64.to_le_bytes());
        table[40..48].copy_from_slice(&99u64.to_le_bytes());
        let parts = gpt(&h, &mut |off, len| {
            assert_eq!((off, len), (1024, 256));
            Ok(table.clone())
        })
        .unwrap()
        .unwrap();
        assert_eq!(parts, vec![Partition { index: 1, start: 34 * 512, len: 66 * 512, fat_type: true }]);
    }
}
