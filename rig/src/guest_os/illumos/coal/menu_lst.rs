//! `boot/grub/menu.lst` of a GRUB-era coal key, edited the way [`super::loader`] edits
//! `loader.conf`: the same [`LoaderOptions`] become GRUB commands and kernel arguments.
//!
//! The menu is sdc-headnode's `boot/grub/menu.lst.tmpl` (before 252de200) with `/PLATFORM/`
//! replaced by `/os/<PI>/platform/`: globals (`default`, `timeout`, `variable os_console ...`),
//! then `title` entries whose `kernel$` line reads `<unix> [-kd] -B console=${os_console},...`
//! followed by `module` lines for `boot_archive` and its hash. The rig boots the first entry that
//! is a plain headnode boot (a platform `unix`, no `noimport=true`, no disaster recovery) and
//! changes only that entry and the globals; every other line is kept as it was.

use super::loader::{Kmdb, LoaderOptions, Nmi};

/// The `-B` property list of a kernel line, split at commas outside double quotes.
fn split_props(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A `kernel`/`kernel$` line taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLine {
    /// `kernel` or `kernel$` (the `$` form expands `${variables}`).
    pub command: String,
    /// The kernel's path.
    pub path: String,
    /// Flags before `-B` (`-k`, `-kd`, ...).
    pub flags: Vec<String>,
    /// `-B` properties, `name=value` as written.
    pub props: Vec<String>,
}

impl KernelLine {
    /// Parses `kernel$ /os/.../unix -kd -B a=b,c="x,y"`; `None` when it is no kernel line.
    pub fn parse(line: &str) -> Option<KernelLine> {
        let t = line.trim();
        let (command, rest) = t.split_once(char::is_whitespace)?;
        if command != "kernel" && command != "kernel$" {
            return None;
        }
        let mut words = rest.split_whitespace();
        let path = words.next()?.to_string();
        let (mut flags, mut props) = (Vec::new(), Vec::new());
        let mut rest: Vec<&str> = words.collect();
        if let Some(b) = rest.iter().position(|w| *w == "-B") {
            props = split_props(&rest[b + 1..].join(" "));
            rest.truncate(b);
        }
        flags.extend(rest.iter().map(|w| w.to_string()));
        Some(KernelLine { command: command.to_string(), path, flags, props })
    }

    /// The value of property `name`, as written.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props.iter().find_map(|p| p.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }

    fn set_prop(&mut self, name: &str, value: Option<&str>) {
        let at = self.props.iter().position(|p| p.split_once('=').map_or(p.as_str(), |(k, _)| k) == name);
        match (at, value) {
            (Some(i), Some(v)) => self.props[i] = format!("{name}={v}"),
            (None, Some(v)) => self.props.push(format!("{name}={v}")),
            (Some(i), None) => {
                self.props.remove(i);
            }
            (None, None) => {}
        }
    }

    fn render(&self) -> String {
        let mut s = format!("   {} {}", self.command, self.path);
        for f in &self.flags {
            s.push(' ');
            s.push_str(f);
        }
        if !self.props.is_empty() {
            s.push_str(" -B ");
            s.push_str(&self.props.join(","));
        }
        s
    }
}

/// The first word of a line (a GRUB command), unless it is blank or a comment.
fn command(line: &str) -> Option<&str> {
    let t = line.trim_start();
    (!t.is_empty() && !t.starts_with('#')).then(|| t.split_whitespace().next().unwrap_or(""))
}

/// The entries: (index from 0, first line, one past the last line).
fn entries(lines: &[&str]) -> Vec<(usize, usize, usize)> {
    let starts: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| command(l) == Some("title")).map(|e| e.0).collect();
    starts.iter().enumerate().map(|(i, s)| (i, *s, starts.get(i + 1).copied().unwrap_or(lines.len()))).collect()
}

/// The entry the rig boots: the first whose kernel is a platform's amd64 `unix` and that is
/// no rescue (`noimport=true`) or disaster-recovery boot. (index, first line, end).
fn boot_entry(lines: &[&str]) -> Option<(usize, usize, usize)> {
    entries(lines).into_iter().find(|(_, s, e)| {
        lines[*s..*e].iter().filter_map(|l| KernelLine::parse(l)).any(|k| {
            k.path.ends_with("/i86pc/kernel/amd64/unix")
                && k.prop("noimport").is_none()
                && k.prop("DISASTER_RECOVERY").is_none()
        })
    })
}

/// Replaces the platform directory of a key path (`/os/<PI>/platform/...` or the template's
/// `/PLATFORM/...`) with `pi`'s.
fn repoint(path: &str, pi: &str) -> String {
    let rest = if let Some(r) = path.strip_prefix("/PLATFORM/") {
        Some(r)
    } else {
        path.strip_prefix("/os/").and_then(|r| r.split_once("/platform/")).map(|(_, r)| r)
    };
    rest.map_or_else(|| path.to_string(), |r| format!("/os/{pi}/platform/{r}"))
}

/// The rig's kernel line for `opts` from the image's own.
fn kernel_for(k: &KernelLine, opts: &LoaderOptions) -> KernelLine {
    let mut k = k.clone();
    if let Some(pi) = &opts.platform {
        k.path = repoint(&k.path, pi);
    }
    // `-k` loads kmdb; `-d` would also break into it at boot (the template's `+kmdb` entry
    // has `-kd`): never `-d`, so the boot does not stop at a prompt.
    k.flags.retain(|f| !(f.starts_with('-') && f[1..].chars().all(|c| c == 'k' || c == 'd')));
    if opts.kmdb != Kmdb::Off {
        k.flags.insert(0, "-k".into());
    }
    k.command = "kernel$".into();
    k.set_prop("console", Some("${os_console}"));
    k.set_prop("${os_console}-mode", Some("\"115200,8,n,1,-\""));
    k.set_prop("nmi", Some(if opts.nmi == Nmi::Panic { "panic" } else { "kmdb" }));
    k.set_prop("smartos", None);
    k
}

/// Edits `menu` for `opts`. `on_key` tells whether a path exists on the key: a `module` line
/// whose file is not there (a platform tarball without `boot_archive.hash`) is dropped, as
/// GRUB would stop at it. Errors name what the menu lacks.
pub fn edit(menu: &str, opts: &LoaderOptions, on_key: &dyn Fn(&str) -> bool) -> Result<String, String> {
    let lines: Vec<&str> = menu.lines().collect();
    let (index, start, end) =
        boot_entry(&lines).ok_or("no entry boots a platform's i86pc/kernel/amd64/unix (a headnode boot)")?;
    let first_title = entries(&lines).first().map_or(lines.len(), |e| e.1);
    let globals = [
        ("default", format!("default {index}")),
        ("timeout", format!("timeout {}", opts.autoboot_delay_secs)),
        ("variable", "variable os_console ttyb".to_string()),
    ];
    let mut done = [false; 3];
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i < first_title {
            let cmd = command(line);
            let is_console_var = |l: &str| l.split_whitespace().nth(1) == Some("os_console");
            if let Some(g) =
                globals.iter().position(|(c, _)| Some(*c) == cmd && (*c != "variable" || is_console_var(line)))
            {
                if !done[g] {
                    out.push(globals[g].1.clone());
                    done[g] = true;
                }
                continue;
            }
        }
        if i == first_title {
            out.extend(globals.iter().zip(done).filter(|(_, d)| !d).map(|(g, _)| g.1.clone()));
        }
        if (start..end).contains(&i) {
            if let Some(k) = KernelLine::parse(line) {
                out.push(kernel_for(&k, opts).render());
                continue;
            }
            if command(line) == Some("module") || command(line) == Some("module$") {
                let mut words: Vec<String> = line.split_whitespace().map(String::from).collect();
                if let (Some(pi), Some(p)) = (&opts.platform, words.get_mut(1)) {
                    *p = repoint(p, pi);
                }
                if words.get(1).is_some_and(|p| !on_key(p)) {
                    continue;
                }
                out.push(format!("   {}", words.join(" ")));
                continue;
            }
        }
        out.push(line.to_string());
    }
    Ok(out.join("\n") + "\n")
}

/// Reads a written menu back and checks that it boots what `opts` asks; each mismatch named.
pub fn check(menu: &str, opts: &LoaderOptions) -> Result<(), String> {
    let lines: Vec<&str> = menu.lines().collect();
    let global = |cmd: &str| lines.iter().take_while(|l| command(l) != Some("title")).find(|l| command(l) == Some(cmd));
    let default: usize = global("default")
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .ok_or("no readable `default` line")?;
    let (_, start, end) = *entries(&lines).get(default).ok_or(format!("`default {default}` names no entry"))?;
    let k =
        lines[start..end].iter().find_map(|l| KernelLine::parse(l)).ok_or("the default entry has no kernel line")?;
    let mut wrong = Vec::new();
    if global("timeout").and_then(|l| l.split_whitespace().nth(1)) != Some(&opts.autoboot_delay_secs.to_string()) {
        wrong.push(format!("timeout is not {}", opts.autoboot_delay_secs));
    }
    if !lines.iter().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["variable", "os_console", "ttyb"]) {
        wrong.push("os_console is not ttyb".into());
    }
    if k.prop("console") != Some("${os_console}") || k.command != "kernel$" {
        wrong.push(format!("the kernel's console is {:?} on a `{}` line", k.prop("console"), k.command));
    }
    let want_k = opts.kmdb != Kmdb::Off;
    if k.flags.iter().any(|f| f.contains('d')) || k.flags.iter().any(|f| f == "-k") != want_k {
        wrong.push(format!("kernel flags {:?} (kmdb {:?})", k.flags, opts.kmdb));
    }
    let nmi = if opts.nmi == Nmi::Panic { "panic" } else { "kmdb" };
    if k.prop("nmi") != Some(nmi) {
        wrong.push(format!("nmi is {:?}, not {nmi}", k.prop("nmi")));
    }
    if let Some(pi) = &opts.platform {
        let modules = lines[start..end].iter().filter(|l| command(l).is_some_and(|c| c.starts_with("module")));
        for p in std::iter::once(k.path.as_str()).chain(modules.filter_map(|l| l.split_whitespace().nth(1))) {
            if !p.starts_with(&format!("/os/{pi}/platform/")) {
                wrong.push(format!("{p} is not under /os/{pi}/platform/"));
            }
        }
    }
    if wrong.is_empty() { Ok(()) } else { Err(wrong.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_commas_stay_in_their_property() {
        let k = KernelLine::parse(r#"  kernel$ /os/X/platform/i86pc/kernel/amd64/unix -kd -B console=${os_console},${os_console}-mode="115200,8,n,1,-",headnode=true"#).unwrap();
        assert_eq!(k.flags, ["-kd"]);
        assert_eq!(k.props.len(), 3, "{:?}", k.props);
        assert_eq!(k.prop("${os_console}-mode"), Some("\"115200,8,n,1,-\""));
        assert_eq!(k.prop("headnode"), Some("true"));
        assert!(KernelLine::parse("module /os/X/platform/i86pc/amd64/boot_archive").is_none());
    }

    #[test]
    fn repoints_template_and_stamped_paths() {
        assert_eq!(repoint("/PLATFORM/i86pc/amd64/boot_archive", "P"), "/os/P/platform/i86pc/amd64/boot_archive");
        assert_eq!(repoint("/os/Q/platform/i86pc/amd64/boot_archive", "P"), "/os/P/platform/i86pc/amd64/boot_archive");
        assert_eq!(repoint("/boot/ipxe.lkrn", "P"), "/boot/ipxe.lkrn");
    }
}
