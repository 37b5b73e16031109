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

/// Checks that `count` sectors from `lba` lie inside an image of `image_len` bytes; returns the
/// partition's byte offset and length. `what` names the partition in the error.
fn span(what: &str, lba: u64, count: u64, image_len: u64) -> Result<(u64, u64), String> {
    // When the end does not overflow, neither do the start and the length.
    match lba.checked_add(count).and_then(|end| end.checked_mul(SECTOR)) {
        Some(end) if end <= image_len => Ok((lba * SECTOR, count * SECTOR)),
        _ => Err(format!(
            "{what} ({count} sectors from sector {lba}) does not lie inside the image ({image_len} bytes, {} sectors)",
            image_len / SECTOR
        )),
    }
}

/// The MBR's partitions; `None` when sector 0 has no boot signature. An entry that does not lie
/// inside the image (`image_len` bytes) is an error naming it.
pub fn mbr(sector0: &[u8], image_len: u64) -> Result<Option<Vec<(Partition, u8)>>, String> {
    if sector0.len() < 512 || sector0[510..512] != [0x55, 0xaa] {
        return Ok(None);
    }
    let mut out = Vec::new();
    for i in 0..4 {
        let e = &sector0[446 + 16 * i..446 + 16 * (i + 1)];
        let (ty, lba, count) = (e[4], u32_at(e, 8), u32_at(e, 12));
        if ty == 0 || count == 0 {
            continue;
        }
        // The protective entry of a GPT disk (0xee) may claim more than the image (2^32-1 sectors).
        let (start, len) = if ty == 0xee {
            (lba * SECTOR, count * SECTOR)
        } else {
            span(&format!("MBR partition {} (type 0x{ty:02x})", i + 1), lba, count, image_len)?
        };
        out.push((Partition { index: i + 1, start, len, fat_type: MBR_FAT_TYPES.contains(&ty) }, ty));
    }
    Ok(Some(out))
}

/// Largest GPT partition entry array the rig reads (the usual one is 128 entries of 128 bytes).
const GPT_MAX_ENTRIES: u64 = 1024;

/// The GPT's partitions, given LBA 1 (the header), the image's length and a way to read the
/// entry array. Header fields and entries that do not fit the image are errors naming them.
pub fn gpt(
    header: &[u8],
    image_len: u64,
    read: &mut dyn FnMut(u64, usize) -> std::io::Result<Vec<u8>>,
) -> Result<Option<Vec<Partition>>, String> {
    if header.len() < 92 || &header[0..8] != b"EFI PART" {
        return Ok(None);
    }
    let (entries_lba, count, size) = (u64_at(header, 72), u32_at(header, 80), u32_at(header, 84));
    if !(128..=4096).contains(&size) || size % 8 != 0 {
        return Err(format!("GPT header: partition entry size {size} (expected a multiple of 8 from 128 to 4096)"));
    }
    if count > GPT_MAX_ENTRIES {
        return Err(format!("GPT header: {count} partition entries (the rig reads at most {GPT_MAX_ENTRIES})"));
    }
    // Both at most 4096 and 1024 by now: no overflow in the product, nor in `i * size` below.
    let (array_sectors, size) = ((count * size).div_ceil(SECTOR), size as usize);
    span("GPT partition entry array", entries_lba, array_sectors, image_len)?;
    let table = read(entries_lba * SECTOR, count as usize * size)
        .map_err(|e| format!("GPT partition entry array at sector {entries_lba}: {e}"))?;
    if table.len() < count as usize * size {
        return Err(format!("GPT partition entry array at sector {entries_lba}: short read"));
    }
    let mut out = Vec::new();
    for (i, e) in table.chunks_exact(size).enumerate() {
        let ty: [u8; 16] = e[0..16].try_into().expect("16 bytes");
        if ty == [0; 16] {
            continue;
        }
        let (first, last) = (u64_at(e, 32), u64_at(e, 40));
        let what = format!("GPT partition {}", i + 1);
        if last < first {
            return Err(format!("{what}: last sector {last} is before first sector {first}"));
        }
        // Saturating: 2^64-1 sectors lie outside any image just as well.
        let (start, len) = span(&what, first, (last - first).saturating_add(1), image_len)?;
        out.push(Partition { index: i + 1, start, len, fat_type: GPT_FAT_TYPES.contains(&ty) });
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
        let p = mbr(&s, 6144 * 512).unwrap().unwrap();
        assert_eq!(p, vec![(Partition { index: 1, start: 2048 * 512, len: 4096 * 512, fat_type: true }, 0x0c)]);
        let e = mbr(&s, 6143 * 512).unwrap_err();
        assert!(
            e.starts_with("MBR partition 1 (type 0x0c) (4096 sectors from sector 2048) does not lie inside"),
            "{e}"
        );
        s[511] = 0;
        assert!(mbr(&s, 6144 * 512).unwrap().is_none());
    }

    /// A GPT header with the entry array at `lba`, `count` entries of `size` bytes.
    fn gpt_header(lba: u64, count: u32, size: u32) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[0..8].copy_from_slice(b"EFI PART");
        h[72..80].copy_from_slice(&lba.to_le_bytes());
        h[80..84].copy_from_slice(&count.to_le_bytes());
        h[84..88].copy_from_slice(&size.to_le_bytes());
        h
    }

    /// One FAT-type GPT entry from `first` to `last` (sectors), in a 2-entry table.
    fn gpt_table(first: u64, last: u64) -> Vec<u8> {
        let mut table = vec![0u8; 256];
        table[0..16].copy_from_slice(&GPT_FAT_TYPES[1]);
        table[32..40].copy_from_slice(&first.to_le_bytes());
        table[40..48].copy_from_slice(&last.to_le_bytes());
        table
    }

    #[test]
    fn reads_a_gpt_entry() {
        let table = gpt_table(34, 99);
        let parts = gpt(&gpt_header(2, 2, 128), 100 * 512, &mut |off, len| {
            assert_eq!((off, len), (1024, 256));
            Ok(table.clone())
        })
        .unwrap()
        .unwrap();
        assert_eq!(parts, vec![Partition { index: 1, start: 34 * 512, len: 66 * 512, fat_type: true }]);
    }

    /// Crafted headers and entries are errors naming the field, never an overflow.
    #[test]
    fn refuses_crafted_gpts() {
        let image = 100 * 512;
        let err = |header: Vec<u8>, table: Vec<u8>| gpt(&header, image, &mut |_, _| Ok(table.clone())).unwrap_err();
        let e = err(gpt_header(2, 2, 0), gpt_table(34, 99));
        assert_eq!(e, "GPT header: partition entry size 0 (expected a multiple of 8 from 128 to 4096)");
        let e = err(gpt_header(2, u32::MAX, 128), gpt_table(34, 99));
        assert_eq!(e, "GPT header: 4294967295 partition entries (the rig reads at most 1024)");
        let e = err(gpt_header(u64::MAX / 8, 2, 128), gpt_table(34, 99));
        assert!(e.starts_with("GPT partition entry array (1 sectors from sector 2305843009213693951) does not"), "{e}");
        let e = err(gpt_header(2, 2, 128), gpt_table(0, u64::MAX));
        assert!(e.starts_with("GPT partition 1 (18446744073709551615 sectors from sector 0) does not lie"), "{e}");
        let e = err(gpt_header(2, 2, 128), gpt_table(u64::MAX, u64::MAX));
        assert!(e.starts_with("GPT partition 1 (1 sectors from sector 18446744073709551615) does not lie"), "{e}");
        let e = err(gpt_header(2, 2, 128), gpt_table(50, 49));
        assert_eq!(e, "GPT partition 1: last sector 49 is before first sector 50");
        let e = err(gpt_header(2, 2, 128), gpt_table(34, 100));
        assert!(e.contains("inside the image (51200 bytes, 100 sectors)"), "{e}");
    }
}
