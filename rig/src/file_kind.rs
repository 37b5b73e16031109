//! What a path the user gave is (a regular file, a directory, a FIFO, ...), checked before it
//! is opened: opening a FIFO for reading blocks until a writer comes, and "no such file" for a
//! directory that exists misleads. Pure apart from one `stat`.

use std::fs::Metadata;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// The kind of file `meta` describes, as an error message names it.
pub fn describe(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Why `path` is not an existing regular file (following symlinks), if it is not: it does
/// not exist, or it is a directory, a FIFO, a device or a socket.
pub fn not_regular(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".into()),
        Err(e) => Some(format!("cannot be read: {e}")),
        Ok(m) if m.is_file() => None,
        Ok(m) => Some(format!("is {}, not a regular file", describe(&m))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_a_path_is() {
        let dir = std::env::temp_dir().join(format!("rig-file-kind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, "x").unwrap();
        let fifo = dir.join("p");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(not_regular(&file), None);
        assert_eq!(not_regular(&dir).unwrap(), "is a directory, not a regular file");
        assert_eq!(not_regular(&fifo).unwrap(), "is a FIFO (named pipe), not a regular file");
        assert_eq!(not_regular(Path::new("/dev/null")).unwrap(), "is a character device, not a regular file");
        assert_eq!(not_regular(&dir.join("none")).unwrap(), "does not exist");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
