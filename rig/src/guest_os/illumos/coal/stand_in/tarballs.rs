//! The stand-in's inputs for `cargo xtask image coal`, in the shapes the rig reads: coal
//! tarballs holding a USB image (`*-8gb.img`, loader era; `4gb.img`, GRUB era) in a
//! `.vmwarevm` directory (as coal tarballs do), and platform tarballs laid out as `platform-<PI>/i86pc/kernel/amd64/unix` and
//! `platform-<PI>/i86pc/amd64/boot_archive` (see `crate::guest_os::illumos::coal::source::unpack_platform`).

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::recipe::unix_text;

/// The USB image's name inside the coal tarball.
pub const USB_IMAGE_NAME: &str = "coal-stand-in-8gb.img";
/// The directory it sits in, like coal's `coal-<branch>-<PI>-<sha>-4gb.vmwarevm/`.
pub const BUNDLE_DIR: &str = "coal-stand-in-20190101T000000Z-4gb.vmwarevm";

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_entry_type(kind);
    h.set_mtime(0);
    h.set_cksum();
    h
}

fn append_dir<W: std::io::Write>(t: &mut tar::Builder<W>, name: &str) -> std::io::Result<()> {
    t.append_data(&mut header(0, 0o755, tar::EntryType::Directory), name, std::io::empty())
}

/// The GRUB-era key's name inside its tarball, as `bin/build-coal-image` named it until 2022.
pub const GRUB_USB_IMAGE_NAME: &str = "4gb.img";

/// Writes `out` holding `usb_image` as `<bundle>/<name>`.
pub fn write_coal_tarball_as(usb_image: &Path, name: &str, out: &Path) -> Result<()> {
    let gz =
        GzEncoder::new(File::create(out).with_context(|| format!("creating {}", out.display()))?, Compression::fast());
    let mut t = tar::Builder::new(gz);
    append_dir(&mut t, &format!("{BUNDLE_DIR}/"))?;
    let vmx = b"# stand-in: coal's VMware machine description is not imitated\n";
    t.append_data(
        &mut header(vmx.len() as u64, 0o644, tar::EntryType::Regular),
        format!("{BUNDLE_DIR}/USB-headnode.vmx"),
        &vmx[..],
    )?;
    let img = File::open(usb_image).with_context(|| format!("opening {}", usb_image.display()))?;
    let len = img.metadata()?.len();
    t.append_data(&mut header(len, 0o644, tar::EntryType::Regular), format!("{BUNDLE_DIR}/{name}"), img)
        .with_context(|| format!("adding {} to {}", usb_image.display(), out.display()))?;
    t.into_inner()?.finish()?;
    Ok(())
}

/// Writes a platform tarball for `pi` whose `unix` says `DEBUG=` and `OS7410_FIXED=`.
pub fn write_platform_tarball(pi: &str, debug: bool, fixed: bool, out: &Path) -> Result<()> {
    write_platform_tarball_with(pi, fixed, &unix_text(pi, debug, fixed), out)
}

/// As [`write_platform_tarball`], with `unix` holding these words (a stand-in switch added).
pub fn write_platform_tarball_with(pi: &str, fixed: bool, unix: &str, out: &Path) -> Result<()> {
    let gz = GzEncoder::new(
        File::create(out).with_context(|| format!("creating {}", out.display()))?,
        Compression::default(),
    );
    let mut t = tar::Builder::new(gz);
    let top = format!("platform-{pi}");
    for d in ["", "/i86pc", "/i86pc/kernel", "/i86pc/kernel/amd64", "/i86pc/amd64"] {
        append_dir(&mut t, &format!("{top}{d}/"))?;
    }
    let flavour = if fixed { "with the OS-7410 fix" } else { "without the OS-7410 fix" };
    let files = [
        ("i86pc/kernel/amd64/unix", unix.to_string()),
        ("i86pc/amd64/boot_archive", format!("stand-in boot archive of platform {pi}, DEBUG, {flavour}\n")),
    ];
    for (rel, text) in files {
        t.append_data(
            &mut header(text.len() as u64, 0o644, tar::EntryType::Regular),
            format!("{top}/{rel}"),
            text.as_bytes(),
        )?;
    }
    t.into_inner()?.finish()?;
    Ok(())
}
