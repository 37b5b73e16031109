//! A third guest OS added from outside the library, through the public registry alone: "toy",
//! which boots the default Linux image under its own name and profile but speaks its own
//! console dialect (`TOY-OS FATAL: ...` starts a panic, `TOY-OS frame: f+0x1` lines are its
//! stack, `TOY-OS END` ends it; `TOY-OS WARN: ...` is a crash it survives). A case step writes
//! the toy's panic to the console (through `/dev/kmsg`), and the library's triage reader, the
//! engine's panic detection and the report handle it with no change anywhere in `rig/src`.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use async_trait::async_trait;

use rig::crash::{Certainty, CrashKind, CrashReport, Dialect, End, Frame, Os};
use rig::engine::campaign::{self, Plan};
use rig::guest_os::{GuestOs, Target};
use rig::machine::{Accel, CpuModel, MachineSpec, Shape, cpu};
use rig::profile::Profile;
use rig::results::{Outcome, Verdict};
use rig::ssh::SshKeys;

/// The toy's console dialect.
struct ToyConsole;

const TOY: Os = Os::new("toy");

/// The text after `TOY-OS <what>` in a line (after any printk prefix).
fn after<'l>(line: &'l str, what: &str) -> Option<&'l str> {
    line.split_once(&format!("TOY-OS {what}")).map(|(_, rest)| rest.trim())
}

impl Dialect for ToyConsole {
    fn os(&self) -> Os {
        TOY
    }

    fn markers(&self) -> &'static [(&'static str, u32)] {
        &[("TOY-OS ", 50)]
    }

    fn may_start(&self, raw: &[u8]) -> bool {
        raw.windows(7).any(|w| w == b"TOY-OS ")
    }

    fn start(&self, line: &str) -> Option<CrashKind> {
        (after(line, "FATAL:").is_some() || after(line, "WARN:").is_some()).then_some(CrashKind::Panic)
    }

    fn end(&self, line: &str) -> Option<End> {
        if after(line, "END").is_some() { Some(End::After) } else { self.start(line).map(|_| End::Before) }
    }

    /// Only FATAL is fatal: a WARN, though its kind is Panic (so that the kind alone would
    /// mislead: the rule is the dialect's), is survived.
    fn is_fatal(&self, r: &CrashReport) -> bool {
        r.message.starts_with("FATAL")
    }

    fn build(&self, lines: &[String], first: usize, ended: bool) -> CrashReport {
        let head = &lines[first];
        let (word, message) = match after(head, "FATAL:") {
            Some(m) => ("FATAL", m),
            None => ("WARN", after(head, "WARN:").unwrap_or_default()),
        };
        let frames: Vec<Frame> = lines[first..]
            .iter()
            .filter_map(|l| after(l, "frame:"))
            .map(|f| {
                let (function, offset) = f.split_once("+0x").unwrap_or((f, "0"));
                Frame {
                    function: function.to_string(),
                    module: None,
                    offset: u64::from_str_radix(offset, 16).ok(),
                    reliable: true,
                }
            })
            .collect();
        let title = match frames.first() {
            Some(f) => format!("toy {} in {}", message, f.function),
            None => format!("toy {message}"),
        };
        CrashReport {
            os: TOY,
            kind: CrashKind::Panic,
            title,
            message: format!("{word}: {message}"),
            certainty: if frames.is_empty() { Certainty::NoFrame } else { Certainty::Frame },
            corrupted: !ended,
            frames,
            text: lines[first..].join("\n"),
        }
    }
}

/// The toy's profile: the default Linux guest's way of talking, under the toy's name, with no
/// pvpanic (its panics are read off the console, as the toy says them).
static TOY_PROFILE: Profile = Profile { name: "toy", pvpanic: false, ..rig::guest_os::linux::LINUX };

/// The toy guest OS: image `toy` is the default Linux image.
struct Toy;

#[async_trait]
impl GuestOs for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &ToyConsole
    }

    fn profile_for(&self, name: &str) -> Option<&'static Profile> {
        (name == "toy").then_some(&TOY_PROFILE)
    }

    fn known(&self, _build_dir: Option<&Path>) -> Vec<String> {
        vec!["toy".into()]
    }

    fn parallel_ok(&self) -> bool {
        true
    }

    async fn load(&self, build_dir: &Path, _name: &str) -> Result<Arc<dyn Target>> {
        let inner = rig::guest_os::load(build_dir, &rig::guest_os::default_image()).await?;
        Ok(Arc::new(ToyTarget { inner }))
    }
}

/// A toy image: the default image's machine and keys, the toy's kind and profile.
#[derive(Debug)]
struct ToyTarget {
    inner: Arc<dyn Target>,
}

#[async_trait]
impl Target for ToyTarget {
    fn profile(&self) -> &'static Profile {
        &TOY_PROFILE
    }

    fn keys(&self) -> SshKeys {
        self.inner.keys()
    }

    fn machine(&self, shape: &Shape, cpu: &'static CpuModel, accel: Accel) -> Result<MachineSpec> {
        self.inner.machine(shape, cpu, accel)
    }

    fn guest_os(&self) -> &'static dyn GuestOs {
        &Toy
    }

    fn reusable(&self) -> bool {
        true
    }
}

/// Registers the toy once per test process.
fn toy() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| rig::guest_os::register(&Toy).expect("registering the toy OS"));
}

/// The toy's panic as a case step writes it to the console.
const TOY_PANIC: &str = "for l in 'TOY-OS WARN: gizmo wobble' 'TOY-OS FATAL: widget overflow' \
    'TOY-OS frame: frob_widget+0x1c' 'TOY-OS frame: toy_main+0x3' 'TOY-OS END'; do echo \"<0>$l\" > /dev/kmsg; done";

#[test]
fn the_registry_takes_the_toy_and_refuses_its_name_twice() {
    toy();
    let names: Vec<&str> = rig::guest_os::registry().iter().map(|k| k.name()).collect();
    assert_eq!(names, ["linux", "illumos", "toy"], "the built-ins first, then the registered");
    let again = rig::guest_os::register(&Toy).unwrap_err().to_string();
    assert!(again.contains("'toy' is already registered"), "{again}");
    assert_eq!(rig::guest_os::os_of("toy").map(|k| k.name()), Some("toy"));
    assert!(rig::guest_os::unknown_image("nope", None).contains("toy"), "unknown-image messages list it");
    let bad = rig::guest_os::triage_reader(Some("nope")).err().expect("an unknown OS is refused").to_string();
    assert!(bad.contains("unknown OS 'nope'") && bad.contains("toy"), "{bad}");
}

#[test]
fn triage_reads_the_toys_panic_by_its_own_dialect() {
    toy();
    let text = b"[    1.0] Linux version 6.1.0\n[    2.0] TOY-OS FATAL: widget overflow\n\
[    2.1] TOY-OS frame: frob_widget+0x1c\n[    2.2] TOY-OS END\n[    2.3] TOY-OS frame: not_in_it\n";
    // Forced, and guessed from the text (the toy's markers outweigh the Linux banner).
    for os in [Some("toy"), None] {
        let mut reader = rig::guest_os::triage_reader(os).unwrap();
        let mut got = reader.feed(text);
        got.extend(reader.finish());
        assert_eq!(reader.os(), Some(TOY), "{os:?}");
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(got[0].title, "toy widget overflow in frob_widget");
        assert_eq!(got[0].frames[0].offset, Some(0x1c));
        assert!(!got[0].corrupted);
    }
    // The Linux reader sees no crash in it: the dialect is the toy's alone.
    assert!(rig::crash::read_all(rig::guest_os::dialect("linux").unwrap(), text).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_and_the_report_handle_the_toys_panic() {
    toy();
    common::image();
    let c = common::case(
        "toy-panic",
        &format!(
            "name: toy-panic\nguest: {{ image: toy }}\nexpect: {{ outcome: panic, message: widget }}\n\
             steps:\n  - ssh: \"{}\"\n  - sleep: {{ min_ms: 20000, max_ms: 20000 }}\n",
            TOY_PANIC.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    );
    let run_dir = common::evidence_dir("toy-panic");
    let plan = Plan {
        seed: 7,
        ..Plan::new(vec![c], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    let it = &r.runs[0].iterations[0];
    let Outcome::Panic { report, title, triage, .. } = &it.outcome else {
        panic!("the toy's FATAL is a panic to the engine: {it:#?}")
    };
    let report = report.as_ref().expect("the toy's report was read off the console");
    assert_eq!(report.os, TOY);
    assert_eq!(title, "toy widget overflow in frob_widget", "the WARN before it was survived");
    assert_eq!(it.verdict, Verdict::Pass, "the case expected this panic: {it:#?}");
    assert!(triage.contains("toy widget overflow in frob_widget"), "{triage}");
    assert!(triage.contains("frob_widget+0x1c"), "{triage}");
    // The toy has no pvpanic: the evidence says the console alone told of the panic.
    assert!(triage.contains("no pvpanic device"), "{triage}");
    assert!(it.steps.iter().any(|s| s.step == "console" && s.result.contains("no pvpanic")), "{:#?}", it.steps);
    let page = std::fs::read_to_string(run_dir.join("index.html")).expect("the report page");
    assert!(page.contains("toy widget overflow in frob_widget"), "the page names the toy's panic");
    assert!(page.contains("<mark>"), "the page marks the toy's panic lines");
    let json = std::fs::read_to_string(run_dir.join("report.json")).unwrap();
    assert!(json.contains("\"os\": \"toy\""), "report.json says which dialect read it");
}
