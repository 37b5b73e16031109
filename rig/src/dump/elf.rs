//! Reading a dump's headers without `crash`: is it an ELF core or a kdump file (plain, or
//! in makedumpfile's flattened stream, which is what QEMU 7.2 writes for `kdump-zlib`), how
//! much memory its ELF load segments cover, and the kernel release from its VMCOREINFO. Pure.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// ELF `e_type` of a core file.
const ET_CORE: u16 = 4;
/// ELF program header type of a loadable segment.
const PT_LOAD: u32 = 1;
/// The kdump-compressed signature (`makedumpfile`'s `KDUMP_SIGNATURE`).
pub const KDUMP_SIGNATURE: &[u8; 8] = b"KDUMP   ";
/// The flattened-format signature: a 4 KiB header, then (offset, size) records, big-endian,
/// each followed by its data; `makedumpfile -R` turns it into a plain kdump file and
/// `crash` reads it as it is.
pub const FLATTENED_SIGNATURE: &[u8; 13] = b"makedumpfile\0";
/// Size of the flattened format's file header.
const FLATTENED_HEADER: usize = 4096;
/// How much of a dump's head is read: the headers, notes and VMCOREINFO live there.
const HEAD_BYTES: u64 = 1 << 20;

/// The kind of dump file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CoreKind {
    /// An ELF64 core (`ET_CORE`).
    Elf,
    /// A kdump-compressed file.
    Kdump,
}

/// What a dump's head says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoreSummary {
    /// ELF core or kdump.
    pub kind: CoreKind,
    /// A kdump file in makedumpfile's flattened format.
    pub flattened: bool,
    /// ELF: the number of `PT_LOAD` segments (0 for kdump).
    pub load_segments: usize,
    /// ELF: guest memory the `PT_LOAD` segments cover, in bytes (0 for kdump).
    pub load_bytes: u64,
    /// The kernel release from the VMCOREINFO note (`OSRELEASE=`), if there is one.
    pub osrelease: Option<String>,
}

/// Reads the head of the dump at `path`.
pub fn inspect(path: &Path) -> Result<CoreSummary> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut head))
        .with_context(|| format!("reading {}", path.display()))?;
    inspect_bytes(&head).with_context(|| format!("{} is not a dump", path.display()))
}

/// Reads a dump's head from memory (at least its headers, ideally the first MiB).
pub fn inspect_bytes(head: &[u8]) -> Result<CoreSummary> {
    let osrelease = osrelease(head);
    let kdump = |flattened| CoreSummary {
        kind: CoreKind::Kdump,
        flattened,
        load_segments: 0,
        load_bytes: 0,
        osrelease: osrelease.clone(),
    };
    if head.starts_with(KDUMP_SIGNATURE) {
        return Ok(kdump(false));
    }
    if head.starts_with(FLATTENED_SIGNATURE) {
        // The first record is the kdump header, written at offset 0 of the plain file.
        let first = head
            .get(FLATTENED_HEADER..FLATTENED_HEADER + 24)
            .context("flattened kdump file shorter than its header")?;
        if first[..8] != [0; 8] || &first[16..] != KDUMP_SIGNATURE {
            bail!("flattened makedumpfile stream whose first record is not a kdump header");
        }
        return Ok(kdump(true));
    }
    if !head.starts_with(b"\x7fELF") {
        bail!("neither the ELF magic nor the kdump signature");
    }
    if head.len() < 64 || head[4] != 2 || head[5] != 1 {
        bail!("not a little-endian ELF64 file");
    }
    let (e_type, phoff, phentsize, phnum) = (u16_at(head, 16), u64_at(head, 32), u16_at(head, 54), u16_at(head, 56));
    if e_type != ET_CORE {
        bail!("ELF e_type is {e_type}, not ET_CORE ({ET_CORE})");
    }
    let (mut load_segments, mut load_bytes) = (0, 0u64);
    for i in 0..phnum as usize {
        let at = phoff as usize + i * phentsize as usize;
        if at + 56 > head.len() {
            bail!("program header {i} lies past the bytes read");
        }
        if u32_at(head, at) == PT_LOAD {
            load_segments += 1;
            load_bytes += u64_at(head, at + 40);
        }
    }
    Ok(CoreSummary { kind: CoreKind::Elf, flattened: false, load_segments, load_bytes, osrelease })
}

fn osrelease(head: &[u8]) -> Option<String> {
    let key = b"OSRELEASE=";
    let at = head.windows(key.len()).position(|w| w == key)? + key.len();
    let end = head[at..].iter().position(|&b| b == b'\n' || b == 0).map_or(head.len(), |n| at + n);
    Some(String::from_utf8_lossy(&head[at..end]).into_owned())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 core: header, two PT_LOADs and a PT_NOTE, then a VMCOREINFO text.
    fn core(e_type: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&3u16.to_le_bytes());
        for (ty, memsz) in [(4u32, 100u64), (PT_LOAD, 0xa0000), (PT_LOAD, 0x1ff60000)] {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&ty.to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            b.extend(ph);
        }
        b.extend(b"VMCOREINFO\0\0OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\n");
        b
    }

    #[test]
    fn reads_an_elf_core() {
        let s = inspect_bytes(&core(ET_CORE)).unwrap();
        assert_eq!(s.kind, CoreKind::Elf);
        assert_eq!(s.load_segments, 2);
        assert_eq!(s.load_bytes, 0x20000000);
        assert_eq!(s.osrelease.as_deref(), Some("6.1.0-56-amd64"));
    }

    #[test]
    fn refuses_what_is_not_a_core() {
        assert!(inspect_bytes(&core(2)).unwrap_err().to_string().contains("not ET_CORE"));
        assert!(inspect_bytes(b"hello").is_err());
        let mut cut = core(ET_CORE);
        cut.truncate(100);
        assert!(inspect_bytes(&cut).unwrap_err().to_string().contains("past the bytes read"));
    }

    #[test]
    fn reads_a_kdump_file() {
        let mut b = KDUMP_SIGNATURE.to_vec();
        b.extend([0u8; 4096]);
        b.extend(b"OSRELEASE=6.1.0-56-amd64\n");
        let s = inspect_bytes(&b).unwrap();
        assert_eq!(s.kind, CoreKind::Kdump);
        assert!(!s.flattened);
        assert_eq!(s.osrelease.as_deref(), Some("6.1.0-56-amd64"));
    }

    #[test]
    fn reads_a_flattened_kdump_stream() {
        let mut b = FLATTENED_SIGNATURE.to_vec();
        b.resize(FLATTENED_HEADER, 0);
        b.extend(0u64.to_be_bytes());
        b.extend(0x1d0u64.to_be_bytes());
        b.extend(KDUMP_SIGNATURE);
        b.extend(b"\0OSRELEASE=6.1.0-56-amd64\n");
        let s = inspect_bytes(&b).unwrap();
        assert_eq!((s.kind, s.flattened), (CoreKind::Kdump, true));
        assert_eq!(s.osrelease.as_deref(), Some("6.1.0-56-amd64"));
        b[FLATTENED_HEADER + 16] = b'X';
        assert!(inspect_bytes(&b).unwrap_err().to_string().contains("not a kdump header"));
        assert!(inspect_bytes(&b[..FLATTENED_HEADER + 4]).is_err());
    }
}
