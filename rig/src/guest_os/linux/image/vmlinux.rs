//! The uncompressed kernel: the ELF inside Debian's XZ-compressed bzImage.
//!
//! QEMU boots an ELF `vmlinux` through its PVH entry note, which skips the in-guest
//! decompression (~2.3 s per boot under TCG). The payload is one XZ stream that starts at
//! the XZ magic inside the bzImage; the first stream that decompresses to an ELF wins.

use anyhow::{Result, bail};
use liblzma::stream::{Action, Status};

const XZ_MAGIC: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];
const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Extracts the ELF kernel from a bzImage whose payload is XZ-compressed.
pub fn extract_elf(bzimage: &[u8]) -> Result<Vec<u8>> {
    let mut last_err = None;
    for start in find_all(bzimage, XZ_MAGIC) {
        match decompress_one_stream(&bzimage[start..]) {
            Ok(elf) if elf.starts_with(ELF_MAGIC) => return Ok(elf),
            Ok(_) => last_err = Some(format!("XZ stream at {start:#x} is not an ELF")),
            Err(e) => last_err = Some(format!("XZ stream at {start:#x}: {e}")),
        }
    }
    match last_err {
        Some(e) => bail!("no ELF kernel found in the bzImage: {e}"),
        None => {
            bail!("the bzImage holds no XZ stream (is the kernel compressed with another method?)")
        }
    }
}

/// Decompresses the XZ stream at the start of `input`, ignoring whatever follows it
/// (`liblzma::read::XzDecoder` would try to decode the trailing bytes and fail).
fn decompress_one_stream(input: &[u8]) -> Result<Vec<u8>, liblzma::stream::Error> {
    let mut stream = liblzma::stream::Stream::new_stream_decoder(u64::MAX, 0)?;
    let mut out = Vec::with_capacity(input.len() * 8);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let (consumed, produced) = (stream.total_in() as usize, out.len());
        match stream.process_vec(&input[consumed..], &mut out, Action::Finish)? {
            Status::StreamEnd => return Ok(out),
            // No progress with room left in `out`: the input ended mid-stream.
            _ if stream.total_in() as usize == consumed && out.len() == produced => {
                return Err(liblzma::stream::Error::Data);
            }
            Status::Ok | Status::GetCheck | Status::MemNeeded => {}
        }
    }
}

fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len()).enumerate().filter(move |(_, w)| *w == needle).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_elf_after_junk() {
        let payload = b"\x7fELF\x02\x01\x01 pretend kernel".repeat(100);
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(&payload).unwrap();
        let mut image = b"MZ setup code \xFD7zX".to_vec();
        image.extend(enc.finish().unwrap());
        image.extend(b"trailing");
        assert_eq!(extract_elf(&image).unwrap(), payload);
    }

    #[test]
    fn rejects_truncated_stream() {
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(&b"\x7fELF".repeat(10_000)).unwrap();
        let xz = enc.finish().unwrap();
        assert!(extract_elf(&xz[..xz.len() / 2]).is_err());
    }

    #[test]
    fn rejects_uncompressed() {
        assert!(extract_elf(b"MZ nothing here").is_err());
    }
}
