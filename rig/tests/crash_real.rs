//! Real crash text from public threads (`rig/testdata/real`): every case must read right.
//!
//! Each file holds one paste as published (whole lines only) under a header naming its source,
//! OS, forms, expected title and certainty. The scorecard is held at 100%.

use rig::crash::corpus::load_dir;
use rig::crash::scorecard::{ScoreError, scorecard};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/real"))
}

#[test]
fn every_real_case_reads_right() {
    let cases = load_dir(&dir()).expect("real corpus");
    assert!(cases.len() >= 40, "only {} real cases", cases.len());
    let card = scorecard(&cases, &rig::guest_os::dialects(), None, None).expect("scorable");
    let mut report = String::new();
    for w in &card.wrong {
        report += &format!("  {}\n    want {}\n    got  {}\n", w.path.display(), w.want, w.got);
    }
    for (form, t) in &card.per_form {
        report += &format!("  {form}: {}/{}\n", t.right, t.total);
    }
    eprintln!("{report}");
    assert_eq!(card.all.right, card.all.total, "{}/{} right\n{report}", card.all.right, card.all.total);
}

#[test]
fn the_corpus_is_half_illumos_half_linux_and_sourced() {
    let cases = load_dir(&dir()).expect("real corpus");
    let card = scorecard(&cases, &rig::guest_os::dialects(), None, None).expect("scorable");
    let (illumos, linux) = (card.per_os["illumos"].total, card.per_os["linux"].total);
    assert!(illumos >= 20 && linux >= 20, "illumos {illumos}, linux {linux}");
    for c in &cases {
        assert!(c.origin.as_deref().is_some_and(|o| o.starts_with("https://")), "{} names no source", c.path.display());
        assert!(c.os.is_some() && !c.forms.is_empty(), "{} lacks OS: or FORM:", c.path.display());
    }
}

#[test]
fn an_empty_corpus_is_an_error_not_a_perfect_score() {
    assert!(matches!(scorecard(&[], &rig::guest_os::dialects(), None, None), Err(ScoreError::Empty)));
}

/// The first report of one real case, read with its header's OS.
fn first(name: &str) -> rig::crash::CrashReport {
    let path = dir().join(format!("{name}.txt"));
    let case = rig::crash::corpus::parse_case(&path, &std::fs::read(&path).expect("case file"));
    let os = rig::guest_os::dialect(case.os.expect("OS: header").name()).expect("a known OS");
    rig::crash::read_all(os, &case.text).into_iter().next().unwrap_or_else(|| panic!("{name}: no crash read"))
}

// One test per form that read wrong before the readers were fixed on this corpus.

#[test]
fn mdb_c_before_status_names_the_function() {
    let r = first("smartos-live-750-C-before-status-panicinfo");
    assert_eq!(r.title, "BAD TRAP: type=d (#gp General protection) in zfs_znode_free");
}

#[test]
fn demangled_c_skips_doubtful_assfail3_frames() {
    let r = first("propolis-908-status-C-demangle-assfail3");
    assert_eq!(r.title, "assertion failed: end <= vmm_gpt_node_end(node) in vmm_gpt_populate_region");
    assert_eq!(r.certainty, rig::crash::Certainty::Truncated, "the paste ends inside the stack");
}

#[test]
fn status_message_wrapped_by_the_terminal_is_joined() {
    let r = first("smartos-live-747-status-C-wrapped");
    assert_eq!(r.title, "BAD TRAP: type=e (#pf Page fault) due to a NULL pointer dereference in udp_do_open");
}

#[test]
fn mdb_stack_without_frame_pointers_after_its_prompt() {
    let r = first("illumos-joyent-482-status-stack-stacks");
    assert!(r.title.ends_with(" in hat_pte_unmap"), "{}", r.title);
}

#[test]
fn fmdump_json_panicstack_printed_before_panicstr() {
    let r = first("omicron-10283-fmd-json-panicstack");
    assert_eq!(r.title, "BAD TRAP: type=e (#pf Page fault) in read_kstat_data");
}

#[test]
fn a_stack_in_another_block_is_a_guess() {
    let r = first("smartos-live-661-bare-wrapped-C-apart");
    assert_eq!(r.title, "BAD TRAP: type=e (#pf Page fault) due to an illegal access to a user address in lx_mount");
    assert_eq!(r.certainty, rig::crash::Certainty::Guessed);
}

#[test]
fn soft_lockup_cut_before_its_call_trace_uses_rip() {
    let r = first("lf-edge-eve-2653-caller-id-softlockup-no-trace");
    assert_eq!(r.title, "BUG: soft lockup in memcg_kmem_enabled");
    assert_eq!(r.certainty, rig::crash::Certainty::Truncated);
}

#[test]
fn a_pool_warning_is_not_a_kernel_warning_splat() {
    assert_eq!(first("openzfs-8234-pool-warning-then-hung-task").title, "INFO: task hung in spa_all_configs");
    let path = dir().join("openzfs-spl-417-pool-warning-only.txt");
    let case = rig::crash::corpus::parse_case(&path, &std::fs::read(&path).unwrap());
    assert!(rig::crash::read_all(&rig::guest_os::linux::LinuxDialect, &case.text).is_empty());
}

#[test]
fn null_deref_in_a_vcpu_thread_is_named_by_rip() {
    // syzkaller's rule: `RIP:` names a fault; `Comm: CPU 7/KVM` is a task name, not a CPU.
    let r = first("openzfs-10642-syslog-cpu-kvm-null-deref");
    assert_eq!(r.title, "BUG: unable to handle kernel NULL pointer dereference in handle_removed_tdp_mmu_page");
}

#[test]
fn every_case_reads_the_same_with_crlf_line_ends() {
    // The same real pastes with Windows line ends (as a mail client or a Windows editor
    // saves them): the line ends must change nothing.
    for case in load_dir(&dir()).expect("real corpus") {
        let os = rig::guest_os::dialect(case.os.expect("OS: header").name()).expect("a known OS");
        let crlf: Vec<u8> =
            case.text.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
        let key = |text: &[u8]| rig::crash::read_all(os, text).first().map(|r| (r.headline().to_string(), r.certainty));
        assert_eq!(key(&crlf), key(&case.text), "{}", case.path.display());
    }
}
