//! The Linux crash formats as data: oops headers, title regexes, title formats, stack rules.
//!
//! Re-expressed from syzkaller's `pkg/report/linux.go` (Apache-2.0) so titles follow the grammar
//! Linux kernel developers know. Templates: `{{PC}}`, `{{FUNC}}` (captures a function),
//! `{{SRC}}` (captures `file.c:line`), `{{ADDR}}`; stack parts `{{RIP}}`, `{{CALLTRACE}}` and
//! `{{STACK}}` (parse a stack trace from here). Title formats use `{1}`, `{2}`... for the
//! regex captures followed by the guilty frame(s) the stack rules yield.
//!
//! Left out on purpose: syzkaller's `Booting the kernel.` ("unexpected kernel reboot"), because
//! the rig reboots guests on purpose.
//!
//! # Rules beyond syzkaller's (checked on `rig/testdata/real`, real pastes)
//!
//! - **Which `WARNING:` lines are kernel splats.** `WARNING: CPU: N PID: N at file:line`,
//!   `WARNING: at file:line` and the named checkers (lockdep, RCU, ODEBUG, ...) are. A
//!   subsystem's own message that merely starts with `WARNING:` is not: ZFS's
//!   `WARNING: Pool 'x' has encountered an uncorrectable I/O failure and has been suspended.`
//!   (directly or through SPL's `vcmn_err()`) is suppressed, so the hung task that follows is
//!   the crash read.
//! - **Soft lockup without `Call Trace:`.** A log cut before the trace still has the `RIP:`
//!   line (or the one frame of a lower-case `Call trace:`): with no dispatch anchor and a
//!   single frame, that frame names the lockup instead of `corrupted`.
//! - **Faults in a vCPU thread** (`Comm: CPU 7/KVM`, `vcpu0`): as syzkaller, the `RIP:`
//!   function names a NULL dereference, general protection or page fault; the task name is
//!   not a CPU and callers further down never win over `RIP:`.
//! - **How sure the title is.** `no_frame` when the title names no function (syzkaller's
//!   `in corrupted`, shown without it), `truncated` when the report is marked corrupted or
//!   the log ends inside its stack, `frame` otherwise.

use crate::crash::CrashKind::{self, *};

/// How the guilty frame is picked out of the frames that survived skipping.
#[derive(Clone, Copy, Debug)]
pub enum Extractor {
    /// The first frame.
    First,
    /// RCU stalls and lockups: the frame just above a dispatch "anchor" (syscall entry, ...).
    Stall,
    /// Hung tasks: group by `rtnl_lock`/`synchronize_rcu`, else skip scheduler frames.
    HungTask,
}

/// How to find the guilty function of one format.
#[derive(Clone, Copy, Debug)]
pub struct StackSpec {
    /// Regexes matched line by line, in order; `{{STACK}}` parses frames.
    pub parts: &'static [&'static str],
    /// Tried when `parts` yields no frame.
    pub parts2: &'static [&'static str],
    /// Extra function-name patterns to skip for this format.
    pub skip: &'static [&'static str],
    /// How to pick the frame.
    pub extractor: Extractor,
}

/// One way a crash of an [`OopsSpec`] can look, and the title it gets.
#[derive(Clone, Copy, Debug)]
pub struct FormatSpec {
    /// Matched against the report text (multi-line); earliest match wins.
    pub title: &'static str,
    /// When set, must also match; its captures feed the title instead of `title`'s.
    pub report: Option<&'static str>,
    /// The title template.
    pub fmt: &'static str,
    /// The frame rules, if the title names a function.
    pub stack: Option<StackSpec>,
    /// The report carries no stack trace by nature (do not call it corrupted for that).
    pub no_stack_trace: bool,
    /// Matching this format means the report is mangled.
    pub corrupted: bool,
    /// Overrides the oops's kind.
    pub kind: Option<CrashKind>,
}

/// A crash family recognised by a header substring on its first line.
#[derive(Clone, Copy, Debug)]
pub struct OopsSpec {
    /// The substring that starts a report.
    pub header: &'static str,
    /// The kind of crash unless a format says otherwise.
    pub kind: CrashKind,
    /// Title formats, tried in order.
    pub formats: &'static [FormatSpec],
    /// Lines holding the header that are not crashes.
    pub suppress: &'static [&'static str],
}

const fn f(title: &'static str, fmt: &'static str) -> FormatSpec {
    FormatSpec { title, report: None, fmt, stack: None, no_stack_trace: false, corrupted: false, kind: None }
}

impl FormatSpec {
    const fn report(self, report: &'static str) -> Self {
        Self { report: Some(report), ..self }
    }
    const fn stack(self, parts: &'static [&'static str], skip: &'static [&'static str]) -> Self {
        Self { stack: Some(StackSpec { parts, parts2: &[], skip, extractor: Extractor::First }), ..self }
    }
    const fn warn(self, skip: &'static [&'static str]) -> Self {
        let parts2 = CT;
        Self { stack: Some(StackSpec { parts: WARN, parts2, skip, extractor: Extractor::First }), ..self }
    }
    const fn with(self, extractor: Extractor, parts2: &'static [&'static str]) -> Self {
        match self.stack {
            Some(s) => Self { stack: Some(StackSpec { extractor, parts2, ..s }), ..self },
            None => self,
        }
    }
    const fn no_stack(self) -> Self {
        Self { no_stack_trace: true, ..self }
    }
    const fn corrupted(self) -> Self {
        Self { corrupted: true, ..self }
    }
    const fn kind(self, kind: CrashKind) -> Self {
        Self { kind: Some(kind), ..self }
    }
}

const RIP: &[&str] = &["{{RIP}}", "{{CALLTRACE}}", "{{STACK}}"];
const CT: &[&str] = &["{{CALLTRACE}}", "{{STACK}}"];
const WARN: &[&str] = &["(?:{{RIP}}|--- interrupt: [0-9]+ at {{FUNC}})", "{{STACK}}"];
const ONLY_RIP: &[&str] = &["{{RIP}}"];
const KMSAN: &[&str] = &["{{STACK}}", "(Local variable .* created at:|Uninit was created at:)", "{{STACK}}"];
const KFENCE: &[&str] = &["BUG: KFENCE: (?:[a-z\\- ]+) in {{FUNC}}", "{{STACK}}"];
const AT_AT: &[&str] = &["at: (?:{{PC}} +)?{{FUNC}}", "at: (?:{{PC}} +)?{{FUNC}}", "{{STACK}}"];
const PC_CT: &[&str] = &["{{PC}} +{{FUNC}}", "{{CALLTRACE}}", "{{STACK}}"];
const USB: &[&str] = &["usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg", "usb_control_msg"];
const UBSAN_SKIP: &[&str] = &["ubsan", "overflow"];
const RCU_SKIP: &[&str] = &["rcu", "kmem", "slab"];
const LOCK_SKIP: &[&str] = &["lock_sock", "release_sock"];

/// The Linux oops families, in matching order (the first header found on a line wins).
pub const OOPSES: &[OopsSpec] = &[
    OopsSpec {
        header: "BUG:",
        kind: Bug,
        formats: &[
            f("BUG: KASAN:", "KASAN: {1} {3} in {4}")
                .report("BUG: KASAN: ([a-z\\-]+) in {{FUNC}}(?:.*\\n)+?.*(Read|Write) (?:of size|at addr) (?:[0-9a-f]+)")
                .stack(
                    &["BUG: KASAN: (?:[a-z\\-]+) in {{FUNC}}", "{{CALLTRACE}}", "{{STACK}}"],
                    &["kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"],
                )
                .kind(MemorySafety),
            f("BUG: KASAN:", "KASAN: invalid-free in {2}")
                .report("BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}")
                .stack(
                    &[
                        "BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}",
                        "{{CALLTRACE}}",
                        "{{STACK}}",
                    ],
                    &["slab_", "kfree", "vunmap", "vfree"],
                )
                .kind(MemorySafety),
            f("BUG: KASAN: ([a-z\\-]+) on address(?:.*\\n)+?.*(Read|Write) of size ([0-9]+)", "KASAN: {1} {2}")
                .kind(MemorySafety),
            f("BUG: KASAN: (.*)", "KASAN: {1}").corrupted().kind(MemorySafety),
            f("BUG: KMSAN: kernel-usb-infoleak", "KMSAN: kernel-usb-infoleak in {2}")
                .report("BUG: KMSAN: kernel-usb-infoleak in {{FUNC}}")
                .stack(KMSAN, &["alloc_skb", "usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg", "usb_control_msg"])
                .no_stack()
                .kind(MemorySafety),
            f("BUG: KMSAN:", "KMSAN: {1} in {3}")
                .report("BUG: KMSAN: ([a-z\\-]+) in {{FUNC}}")
                .stack(KMSAN, &["alloc_skb", "netlink_ack", "netlink_rcv_skb"])
                .no_stack()
                .kind(MemorySafety),
            f("BUG: KCSAN:", "KCSAN: {1}").report("BUG: KCSAN: (.*)").no_stack().kind(MemorySafety),
            f("BUG: KFENCE: (use-after-free|out-of-bounds) ([a-z\\-]+) in {{FUNC}}", "KFENCE: {1} {2} in {4}")
                .stack(KFENCE, &[])
                .kind(MemorySafety),
            f("BUG: KFENCE: invalid free in {{FUNC}}", "KFENCE: invalid free in {2}")
                .stack(KFENCE, &[])
                .no_stack()
                .kind(MemorySafety),
            f("BUG: KFENCE: invalid (read|write) in {{FUNC}}", "KFENCE: invalid {1} in {3}")
                .stack(KFENCE, &[])
                .kind(MemorySafety),
            f("BUG: KFENCE: memory corruption in {{FUNC}}", "KFENCE: memory corruption in {2}")
                .stack(KFENCE, &[])
                .no_stack()
                .kind(MemorySafety),
            f(
                "BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)",
                "BUG: unable to handle kernel paging request in {1}",
            )
            .stack(RIP, &[])
            .kind(Trap),
            f(
                "BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)",
                "BUG: unable to handle kernel NULL pointer dereference in {1}",
            )
            .stack(RIP, &[])
            .kind(Trap),
            f("BUG: (?:unable to handle kernel|Unable to handle kernel)", "BUG: unable to handle kernel").corrupted().kind(Trap),
            f(
                "BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)",
                "BUG: {1} {2} in {3}",
            )
            .stack(CT, &["spin_", "_lock", "_unlock"])
            .kind(Locking),
            f("BUG: soft lockup", "BUG: soft lockup in {1}").stack(RIP, &[]).with(Extractor::Stall, &[]).kind(Lockup),
            f("BUG: .*still has locks held!", "BUG: still has locks held in {1}")
                .report("BUG: .*still has locks held!(?:.*\\n)+?.*{{PC}} +{{FUNC}}")
                .kind(Locking),
            f("BUG: scheduling while atomic", "BUG: scheduling while atomic in {1}").stack(CT, &["schedule"]),
            f("BUG: lock held when returning to user space", "BUG: lock held when returning to user space in {1}")
                .report("BUG: lock held when returning to user space(?:.*\\n)+?.*leaving the kernel with locks still held(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}")
                .no_stack()
                .kind(Locking),
            f("BUG: bad unlock balance detected!", "BUG: bad unlock balance in {1}").stack(PC_CT, &[]).kind(Locking),
            f("BUG: held lock freed!", "BUG: held lock freed in {1}")
                .report("BUG: held lock freed!(?:.*\\n)+?.*{{PC}} +{{FUNC}}")
                .kind(Locking),
            f("BUG: Bad rss-counter state", "BUG: Bad rss-counter state").no_stack(),
            f("BUG: non-zero nr_ptes on freeing mm", "BUG: non-zero nr_ptes on freeing mm").no_stack(),
            f("BUG: non-zero nr_pmds on freeing mm", "BUG: non-zero nr_pmds on freeing mm").no_stack(),
            f("BUG: Dentry .* still in use", "BUG: Dentry still in use in {1}")
                .report("BUG: Dentry .* still in use \\([0-9]+\\) \\[(unmount) of ([^\\]]+)\\]"),
            f("BUG: Bad page state", "BUG: Bad page state in {1}")
                .stack(
                    &["page last allocated via", "{{STACK}}"],
                    &["page_owner", "post_alloc_hook", "get_page_from_freelist", "alloc", "page_pool", "folio", "pagecache_get_page"],
                )
                .kind(HeapCorruption),
            f("BUG: Bad page map", "BUG: Bad page map").kind(HeapCorruption),
            f("BUG: workqueue lockup", "BUG: workqueue lockup").no_stack().kind(Lockup),
            f(
                "BUG: sleeping function called from invalid context at (.*)",
                "BUG: sleeping function called from invalid context in {2}",
            )
            .stack(CT, &[]),
            f("BUG: using ([a-z_]+)\\(\\) in preemptible", "BUG: using {1}() in preemptible code in {2}")
                .stack(CT, &["dump_stack", "preemption", "preempt", "debug_", "processor_id", "this_cpu"]),
            f("BUG: workqueue leaked lock or atomic", "BUG: workqueue leaked lock or atomic in {1}")
                .report("BUG: workqueue leaked lock or atomic(?:.*\\n)+?.*last function: ([a-zA-Z0-9_]+)\\n")
                .no_stack()
                .kind(Locking),
            f("BUG: memory leak", "memory leak in {1}")
                .stack(
                    &["backtrace:", "{{STACK}}"],
                    &[
                        "kmemleak", "mmap", "kmem", "slab", "alloc", "create_object", "idr_get", "list_lru_init",
                        "kasprintf", "kvasprintf", "pcpu_create", "strdup", "strndup", "memdup",
                    ],
                )
                .kind(MemorySafety),
            f("BUG: .*stack guard page was hit at", "BUG: stack guard page was hit in {1}")
                .stack(RIP, &[])
                .with(Extractor::Stall, &[]),
            f("BUG: Invalid wait context", "WARNING: locking bug in {1}").stack(CT, LOCK_SKIP).kind(Locking),
            f("BUG:[[:space:]]*(?:\\n|$)", "BUG: corrupted").corrupted(),
        ],
        suppress: &["ODEBUG:", "Boot_DEBUG:", "xlog_status:", "DEBUG:", "BUG: no syscalls can create resource"],
    },
    OopsSpec {
        header: "WARNING:",
        kind: Warning,
        formats: &[
            f("WARNING: .*lib/debugobjects\\.c.* (?:debug_print|debug_check|at )", "WARNING: ODEBUG bug in {1}").warn(&[
                "debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_", "vunmap", "vfree", "__free_", "debug_check",
                "kobject_",
            ]),
            f("WARNING: .*mm/usercopy\\.c.* usercopy_warn", "WARNING: bad usercopy in {1}").warn(&["usercopy", "__check"]),
            f("WARNING: .*lib/kobject\\.c.* kobject_", "WARNING: kobject bug in {1}").warn(&["kobject_"]),
            f("WARNING: .*fs/proc/generic\\.c.* proc_register", "WARNING: proc registration bug in {1}").warn(&["proc_"]),
            f("WARNING: .*lib/refcount\\.c.* (?:refcount_|at )", "WARNING: refcount bug in {1}").warn(&["refcount", "kobject_"]),
            f("WARNING: .*kernel/locking/lockdep\\.c.*lock_", "WARNING: locking bug in {1}").warn(LOCK_SKIP).kind(Locking),
            f("WARNING: .*still has locks held!", "WARNING: still has locks held in {1}")
                .report("WARNING: .*still has locks held!(?:.*\\n)+?.*at: {{FUNC}}")
                .kind(Locking),
            f("WARNING: Nested lock was not taken", "WARNING: nested lock was not taken in {1}").warn(&[]).kind(Locking),
            f("WARNING: lock held when returning to user space", "WARNING: lock held when returning to user space in {1}")
                .report("WARNING: lock held when returning to user space(?:.*\\n)+?.*leaving the kernel with locks still held(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}")
                .no_stack()
                .kind(Locking),
            f("WARNING: .*mm/.*\\.c.* k?.?malloc", "WARNING: kmalloc bug in {1}").warn(&["kmalloc", "krealloc", "slab", "kmem"]),
            f("WARNING: .*mm/vmalloc.c.*__vmalloc_node", "WARNING: zero-size vmalloc in {1}").warn(&[]),
            f("WARNING: .* usb_submit_urb", "WARNING in {1}/usb_submit_urb").warn(USB),
            f("WARNING: .* at {{SRC}} {{FUNC}}", "WARNING in {3}").warn(&[]),
            // Newer kernels: `WARNING: [cond] fs/dcache.c:829 at fast_dput+0x334/0x430, CPU#1: ...`.
            f("WARNING: (?:\\[[^\\]]*\\] )?{{SRC}} at ", "WARNING in {2}").warn(&[]),
            f("WARNING: possible circular locking dependency detected", "possible deadlock in {1}")
                .report("WARNING: possible circular locking dependency detected(?:.*\\n)+?.*is trying to acquire lock")
                .stack(AT_AT, &["process_one_work", "flush_workqueue", "drain_workqueue", "destroy_workqueue"])
                .kind(Locking),
            f("WARNING: possible irq lock inversion dependency detected", "possible deadlock in {1}")
                .report("WARNING: possible irq lock inversion dependency detected(?:.*\\n)+?.*just changed the state of lock(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}")
                .kind(Locking),
            f("WARNING: .*-safe -> .*-unsafe lock order detected", "possible deadlock in {1}")
                .stack(&["which became (?:.*) at:", "{{STACK}}"], &[])
                .kind(Locking),
            f("WARNING: possible recursive locking detected", "possible deadlock in {1}")
                .report("WARNING: possible recursive locking detected(?:.*\\n)+?.*is trying to acquire lock(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}")
                .kind(Locking),
            f("WARNING: inconsistent lock state", "inconsistent lock state in {2}")
                .report("WARNING: inconsistent lock state(?:.*\\n)+?.*takes(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}")
                .stack(CT, &[])
                .kind(Locking),
            f("WARNING: suspicious RCU usage", "WARNING: suspicious RCU usage in {2}")
                .report("WARNING: suspicious RCU usage(?:.*\\n)+?.*?{{SRC}}")
                .stack(CT, RCU_SKIP),
            f(
                "WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value",
                "WARNING: kernel stack regs has bad '{1}' value",
            )
            .no_stack(),
            f(
                "WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value",
                "WARNING: kernel stack frame pointer has bad value",
            )
            .no_stack(),
            f("WARNING: bad unlock balance detected!", "WARNING: bad unlock balance in {1}").stack(PC_CT, &[]).kind(Locking),
            f("WARNING: held lock freed!", "WARNING: held lock freed in {1}")
                .report("WARNING: held lock freed!(?:.*\\n)+?.*at:(?: {{PC}})? +{{FUNC}}")
                .kind(Locking),
            f("WARNING: kernel stack regs .* has bad 'bp' value", "WARNING: kernel stack regs has bad value").no_stack(),
            f("WARNING: kernel stack frame pointer .* has bad value", "WARNING: kernel stack regs has bad value").no_stack(),
            f("WARNING:[[:space:]]*(?:\\n|$)", "WARNING: corrupted").corrupted(),
        ],
        suppress: &[
            "WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
            "WARNING: workqueue cpumask: online intersect > possible intersect",
            "WARNING: [Tt]he mand mount option",
            "Speculative Return Stack Overflow: WARNING",
            "(?i)uses deprecated v2 capabilities",
            "(?i)uses wireless extensions",
            "WARNING: Reset corrupted AGFL",
            "WARNING: Unsupported flag value\\(s\\) of 0x%x in DT_FLAGS_1",
            "WARNING: Unprivileged eBPF is enabled with eIBRS",
            "WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size",
            // A filesystem's own warning through cmn_err (ZFS/SPL): no kernel splat, no stack
            // follows; what comes after (a hung task) is the crash. See the rules below.
            "WARNING: Pool '[^']*' has encountered an uncorrectable I/O failure",
            "vcmn_err\\(\\)\\) WARNING:",
        ],
    },
    OopsSpec {
        header: "INFO:",
        kind: Other,
        formats: &[
            f("INFO: possible circular locking dependency detected", "possible deadlock in {1}")
                .report("INFO: possible circular locking dependency detected \\](?:.*\\n)+?.*is trying to acquire lock(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}")
                .kind(Locking),
            f("INFO: possible irq lock inversion dependency detected", "possible deadlock in {1}")
                .report("INFO: possible irq lock inversion dependency detected \\](?:.*\\n)+?.*just changed the state of lock(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}")
                .kind(Locking),
            f("INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", "possible deadlock in {1}")
                .report("INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \\](?:.*\\n)+?.*is trying to acquire(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}")
                .kind(Locking),
            f("INFO: possible recursive locking detected", "possible deadlock in {1}")
                .report("INFO: possible recursive locking detected \\](?:.*\\n)+?.*is trying to acquire lock(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}")
                .kind(Locking),
            f("INFO: inconsistent lock state", "inconsistent lock state in {1}")
                .report("INFO: inconsistent lock state \\](?:.*\\n)+?.*takes(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}")
                .kind(Locking),
            f("INFO: rcu_(?:preempt|sched|bh) (?:self-)?detected(?: expedited)? stall", "INFO: rcu detected stall in {1}")
                .stack(&["apic_timer_interrupt", "{{RIP}}", "{{STACK}}"], &["apic_timer_interrupt", "rcu"])
                .with(Extractor::Stall, &["(?:apic_timer_interrupt|Exception stack|el1h_64_irq)", "{{STACK}}"])
                .kind(Lockup),
            f("INFO: trying to register non-static key", "INFO: trying to register non-static key in {1}")
                .stack(CT, &["stack", "lock", "IRQ"])
                .kind(Locking),
            f("INFO: suspicious RCU usage", "INFO: suspicious RCU usage in {2}")
                .report("INFO: suspicious RCU usage(?:.*\\n)+?.*?{{SRC}}")
                .stack(CT, RCU_SKIP),
            f("INFO: task .* blocked (?:in I/O wait )?for more than [0-9]+ seconds", "INFO: task hung in {1}")
                .stack(CT, &[])
                .with(Extractor::HungTask, &[])
                .kind(HungTask),
            f("INFO: task .* can't die for more than .* seconds", "INFO: task can't die in {1}")
                .stack(CT, &["schedule"])
                .kind(HungTask),
            f("INFO: (Freed|Allocated) in (.*)", "INFO: {1} in {2}").corrupted().kind(MemorySafety),
            f("INFO:[[:space:]]*(?:\\n|$)", "INFO: corrupted").corrupted(),
        ],
        suppress: &[
            "INFO: lockdep is turned off",
            "INFO: Stall ended before state dump start",
            "INFO: NMI handler",
            "INFO: recovery required on readonly filesystem",
            "(handler|interrupt).*took too long",
            "_INFO::",
            "INFO: sys_.* is not present in /proc/kallsyms",
            "INFO: no syscalls can create resource",
            "CAM_INFO:",
            "rmt_storage:INFO:",
            "BTF_INFO:",
        ],
    },
    OopsSpec {
        header: "Unable to handle kernel",
        kind: Trap,
        formats: &[f(
            "Unable to handle kernel (paging request|NULL pointer dereference|access to user memory)",
            "BUG: unable to handle kernel {1} in {2}",
        )
        .stack(RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "general protection fault",
        kind: Trap,
        formats: &[f("general protection fault.*:", "general protection fault in {1}").stack(RIP, &[])],
        suppress: &["general protection fault .* error:\\d+ in "],
    },
    OopsSpec {
        header: "stack segment: ",
        kind: Trap,
        formats: &[f("stack segment: ", "stack segment fault in {1}").stack(RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "Kernel panic",
        kind: Panic,
        formats: &[
            f("Kernel panic - not syncing: stack-protector:", "kernel panic: stack is corrupted in {1}")
                .report("Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: {{FUNC}}")
                .no_stack(),
            f("Kernel panic - not syncing: stack-protector:", "kernel panic: stack is corrupted in {1}")
                .report("Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: [a-f0-9]+")
                .stack(CT, &["stack_chk"]),
            f("Kernel panic - not syncing: corrupted stack end", "kernel panic: corrupted stack end in {1}")
                .report("Kernel panic - not syncing: corrupted stack end detected inside scheduler")
                .stack(CT, &["schedule", "retint_kernel"])
                .with(Extractor::Stall, &[]),
            f("Kernel panic - not syncing: kernel stack overflow", "kernel stack overflow in {1}")
                .stack(CT, &["bad_stack"])
                .with(Extractor::Stall, &[]),
            f("Kernel panic - not syncing: Attempted to kill init!", "kernel panic: Attempted to kill init!"),
            f(
                "Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+",
                "kernel panic: Couldn't open N_TTY ldisc",
            ),
            // Printed after a BUG/WARNING/hung task: seen first, the real header was lost.
            f("Kernel panic - not syncing: Fatal exception", "kernel panic: Fatal exception").corrupted(),
            f("Kernel panic - not syncing: panic_on_warn set", "kernel panic: panic_on_warn set").corrupted(),
            f("Kernel panic - not syncing: hung_task: blocked tasks", "kernel panic: hung_task: blocked tasks").corrupted(),
            f("Kernel panic - not syncing: (.*)", "kernel panic: {1}"),
        ],
        suppress: &[],
    },
    OopsSpec {
        header: "PANIC: double fault",
        kind: Trap,
        formats: &[f("PANIC: double fault", "PANIC: double fault in {1}").stack(ONLY_RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "kernel BUG",
        kind: Bug,
        formats: &[
            f("kernel BUG at mm/usercopy.c", "BUG: bad usercopy in {1}").stack(CT, &["usercopy", "__check"]),
            f("kernel BUG at lib/list_debug.c", "BUG: corrupted list in {1}").stack(CT, &[]),
            f("kernel BUG at (.*)", "kernel BUG in {2}").stack(RIP, &["^skb_"]),
        ],
        suppress: &[],
    },
    OopsSpec { header: "Kernel BUG", kind: Bug, formats: &[f("Kernel BUG (.*)", "kernel BUG {1}")], suppress: &[] },
    OopsSpec {
        header: "BUG kmalloc-",
        kind: HeapCorruption,
        formats: &[f("BUG kmalloc-.*: Object already free", "BUG: Object already free")],
        suppress: &[],
    },
    OopsSpec {
        header: "divide error:",
        kind: Trap,
        formats: &[f("divide error: ", "divide error in {1}").stack(ONLY_RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "divide_error:",
        kind: Trap,
        formats: &[f("divide_error: ", "divide error in {1}").stack(ONLY_RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "invalid opcode:",
        kind: Trap,
        formats: &[f("invalid opcode: ", "invalid opcode in {1}").stack(ONLY_RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "UBSAN:",
        kind: MemorySafety,
        formats: &[
            f("UBSAN:", "UBSAN: undefined-behaviour in {1}").report("UBSAN: Undefined behaviour in").stack(CT, UBSAN_SKIP),
            f("UBSAN: array-index-out-of-bounds in", "UBSAN: array-index-out-of-bounds in {1}").stack(CT, UBSAN_SKIP),
            f("UBSAN:", "UBSAN: {1} in {2}").report("UBSAN: (.*?) in").stack(CT, UBSAN_SKIP),
        ],
        suppress: &[],
    },
    OopsSpec {
        header: "unregister_netdevice: waiting for",
        kind: HungTask,
        formats: &[f(
            "unregister_netdevice: waiting for (?:.*) to become free",
            "unregister_netdevice: waiting for DEV to become free",
        )
        .no_stack()],
        suppress: &[],
    },
    OopsSpec {
        header: "VFS: Close: file count is 0",
        kind: MemorySafety,
        formats: &[f("VFS: Close: file count is 0", "VFS: Close: file count is zero (use-after-free)").no_stack()],
        suppress: &[],
    },
    OopsSpec {
        header: "VFS: Busy inodes after unmount",
        kind: MemorySafety,
        formats: &[f("VFS: Busy inodes after unmount", "VFS: Busy inodes after unmount (use-after-free)").no_stack()],
        suppress: &[],
    },
    OopsSpec {
        header: "Internal error:",
        kind: Trap,
        formats: &[f("Internal error:", "Internal error in {1}").stack(RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "Unhandled fault:",
        kind: Trap,
        formats: &[f("Unhandled fault:", "Unhandled fault in {1}").stack(RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "Alignment trap:",
        kind: Trap,
        formats: &[f("Alignment trap:", "Alignment trap in {1}").stack(RIP, &[])],
        suppress: &[],
    },
    OopsSpec {
        header: "trusty: panic",
        kind: Panic,
        formats: &[
            f("trusty: panic.* ASSERT FAILED", "trusty: ASSERT FAILED: {1}")
                .report("trusty: panic \\(.*?\\):(?: DEBUG)? ASSERT FAILED at \\(.*?\\): (.+)")
                .no_stack()
                .kind(Assertion),
            f("trusty: panic.* ASSERT FAILED.*: *(.*)", "trusty: ASSERT FAILED: {1}").corrupted().kind(Assertion),
            f("trusty: panic", "trusty: panic: {1}").report("trusty: panic \\(.*?\\): (.+)").no_stack(),
        ],
        suppress: &[],
    },
    OopsSpec {
        header: "SYZFAIL:",
        kind: Other,
        formats: &[f("SYZFAIL:(.*)", "SYZFAIL:{1}").no_stack()],
        suppress: &[],
    },
    OopsSpec {
        header: "SYZFATAL:",
        kind: Other,
        formats: &[f("SYZFATAL:(.*)", "SYZFATAL:{1}").no_stack()],
        suppress: &[],
    },
    OopsSpec {
        header: "panic:",
        kind: Panic,
        formats: &[f("panic:(.*)", "panic:{1}").no_stack()],
        suppress: &["_panic:", "xlog_status:", "ddb\\.onpanic:", "evtlog_status:"],
    },
    OopsSpec {
        header: "fatal error:",
        kind: Other,
        formats: &[f("fatal error:(.*)", "fatal error:{1}").no_stack()],
        suppress: &["ALSA"],
    },
];

/// Lines inside a report that do not start a second report.
pub const REPORT_START_IGNORES: &[&str] =
    &["invalid opcode: 0000", "Kernel panic - not syncing", "unregister_netdevice: waiting for", "PANIC: double fault"];

/// Reports that carry a stack but are not bugs: seen inside a report, they mean interleaving.
pub const INFO_WITH_STACK: &[&str] =
    &["vmalloc: allocation failure:", "FAULT_INJECTION: forcing a failure", "FAULT_FLAG_ALLOW_RETRY missing"];

/// Lines that hold an oops header but never start a crash, whatever the family.
pub const GLOBAL_IGNORES: &[&str] = &["---[ end Kernel panic"];

/// Lines that end a Linux report (the panic is over; the machine reboots or halts).
pub const END_MARKERS: &[&str] = &[
    "Kernel Offset:",
    "---[ end Kernel panic",
    "Rebooting in ",
    "reboot: Restarting system",
    "reboot: System halted",
    "reboot: Power down",
];

/// Lines that begin a stack trace.
pub const STACK_STARTS: &[&str] = &[
    "Call (?:T|t)race",
    "Allocated:",
    "Allocated by task [0-9]+:",
    "Freed:",
    "Freed by task [0-9]+:",
    "[^k] backtrace:",
    "Backtrace:",
    "Uninit was stored to memory at",
];

/// Lines that hold one stack frame (capturing the function).
pub const FRAME_LINES: &[&str] =
    &["^ *(?:{{PC}} ){0,2}{{FUNC}}", "^ *{{PC}} \\(([a-zA-Z0-9_.]+)\\) from {{PC}} \\({{FUNC}}"];

/// Frames seen while reading a stack that mean fault injection is interleaved.
pub const CORRUPTED_LINES: &[&str] = &["^( \\[<?(?:0x)?[0-9a-f]+>?\\])? should_fail(slab)?(\\.[a-z0-9.]+)?\\+0x"];

/// Syscall-entry prefixes stripped from frame names (`__x64_sys_read` reads as `sys_read`).
pub const STRIP_FRAME_PREFIXES: &[&str] = &[
    "SYSC_",
    "SyS_",
    "sys_",
    "__x64_",
    "__ia32_",
    "__arm64_",
    "____sys_",
    "___sys_",
    "__sys_",
    "__se_",
    "__do_sys_",
    "compat_SYSC_",
    "compat_SyS_",
    "ksys_",
];

/// Functions that never name a bug: sanitizers, reporting, locking, string and list helpers.
pub const SKIP_FRAMES: &[&str] = &[
    "__sanitizer",
    "__asan",
    "kasan",
    "__msan",
    "kmsan",
    "kcsan_setup_watchpoint",
    "check_memory_region",
    "check_heap_object",
    "check_object",
    "read_word_at_a_time",
    "(read|write)_once_.*nocheck",
    "print_address_description",
    "panic",
    "invalid_op",
    "report_bug",
    "fixup_bug",
    "print_report",
    "print_usage_bug",
    "do_error",
    "_trap$|do_trap",
    "show_stack",
    "dump_stack",
    "walk_stack",
    "dump_backtrace",
    "warn_slowpath",
    "warn_alloc",
    "warn_bogus",
    "__warn",
    "alloc_page",
    "k?v?(?:m|z|c)alloc",
    "krealloc",
    "kmem_cache",
    "allocate_slab",
    "slab_",
    "debug_object",
    "timer_is_static_object",
    "work_is_static_object",
    "__might_fault",
    "print_unlock",
    "imbalance_bug",
    "lockdep",
    "bh_enable",
    "bh_disable",
    "perf_trace",
    "lock_acquire",
    "lock_release",
    "lock_class",
    "mark_lock",
    "(reacquire|mark)_held_locks",
    "raw_spin_rq",
    "spin_lock",
    "spin_trylock",
    "spin_unlock",
    "read_lock",
    "read_trylock",
    "write_lock",
    "write_trylock",
    "read_unlock",
    "write_unlock",
    "^down$",
    "down_read",
    "down_write",
    "down_read_trylock",
    "down_write_trylock",
    "down_trylock",
    "up_read",
    "up_write",
    "^mutex_",
    "^__mutex_",
    "^rt_mutex_",
    "owner_on_cpu",
    "osq_lock",
    "osq_unlock",
    "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
    "(set|clear|change|test)_bit",
    "__wake_up",
    "^refcount_",
    "^kref_",
    "ref_tracker",
    "seqprop_assert",
    "memcpy",
    "memcmp",
    "memset",
    "memchr",
    "memmove",
    "memdup",
    "strcmp",
    "strncmp",
    "strcpy",
    "strlcpy",
    "strncpy",
    "strscpy",
    "strlen",
    "strnstr",
    "strnlen",
    "strchr",
    "strdup",
    "strndup",
    "copy_to_user",
    "copy_from_user",
    "copy_to_iter",
    "copy_from_iter",
    "^copyin$",
    "^copyout$",
    "put_user",
    "get_user",
    "might_fault",
    "might_sleep",
    "list_add",
    "list_del",
    "list_replace",
    "list_move",
    "list_splice",
    "^rb_",
    "^__rb_",
    "_indirect_thunk_",
    "string",
    "pointer",
    "snprintf",
    "scnprintf",
    "kasprintf",
    "kvasprintf",
    "printk",
    "va_format",
    "dev_info",
    "dev_notice",
    "dev_warn",
    "dev_err",
    "dev_alert",
    "dev_crit",
    "dev_emerg",
    "program_check_exception",
    "program_check_common",
    "del_timer",
    "flush_work",
    "__cancel_work_timer",
    "cancel_work_sync",
    "try_to_grab_pending",
    "flush_workqueue",
    "drain_workqueue",
    "destroy_workqueue",
    "queue_work",
    "finish_wait",
    "kthread_stop",
    "kobject_",
    "add_uevent_var",
    "get_device_parent",
    "device_add",
    "device_del",
    "device_unregister",
    "device_destroy",
    "device_release",
    "devres_release_all",
    "hwrng_unregister",
    "i2c_del_adapter",
    "__unregister_client",
    "device_for_each_child",
    "rollback_registered",
    "unregister_netdev",
    "sysfs_remove",
    "device_remove_file",
    "tty_unregister_device",
    "dummy_urb_enqueue",
    "usb_kill_urb",
    "usb_kill_anchored_urbs",
    "usb_control_msg",
    "usb_hcd_submit_urb",
    "usb_submit_urb",
    "^complete$",
    "wait_for_completion",
    "^kv?free$",
    "kfree_skb",
    "readb$",
    "readw$",
    "readl$",
    "readq$",
    "writeb$",
    "writew$",
    "writel$",
    "writeq$",
    "logic_in",
    "logic_out",
    "^crc\\d+",
    "crc_itu_t",
    "__might_resched",
    "assertfail",
    "^iput$",
    "^iput_final$",
    "^ihold$",
    "hex_dump_to_buffer",
    "print_hex_dump",
    "^klist_",
    "(trace|lockdep)_(hard|soft)irq",
    "^(un)?lock_page",
    "stack_trace_consume_entry",
    "arch_stack_walk",
    "stack_trace_save",
    "insert_work",
    "__queue_delayed_work",
    "queue_delayed_work_on",
    "do_(kernel|translation)_fault",
    "do_mem_abort",
    "el1_abort",
    "el1h_64_sync(?:_handler)?",
    "print_tainted",
];

/// Dispatch points: for stalls, the frame just above one of these names the bug.
pub const STALL_ANCHORS: &[&str] = &[
    "process_one_work",
    "do_syscall_",
    "do_fast_syscall_",
    "sysenter_dispatch",
    "tracesys_phase2",
    "el0_svc_handler",
    "invoke_syscall",
    "ret_fast_syscall",
    "netif_receive_skb",
    "do_softirq",
    "call_timer_fn",
    "_run_timers",
    "run_timer_softirq",
    "hrtimer_run",
    "run_ksoftirqd",
    "smpboot_thread_fn",
    "^kthread$",
    "start_secondary",
    "cpu_startup_entry",
    "ret_from_fork",
    "vfs_write",
    "vfs_read",
    "vfs_iter_read",
    "vfs_iter_write",
    "do_iter_read",
    "do_iter_write",
    "call_read_iter",
    "call_write_iter",
    "new_sync_read",
    "new_sync_write",
    "vfs_ioctl",
    "ksys_ioctl",
    "compat_ioctl",
    "compat_sys_ioctl",
    "blkdev_driver_ioctl",
    "blkdev_ioctl",
    "^call_read_iter",
    "^call_write_iter",
    "do_iter_readv_writev",
    "^call_mmap",
    "mmap_region",
    "do_mmap",
    "do_dentry_open",
    "vfs_open",
    "^sock_sendmsg",
    "^sock_recvmsg",
    "^sock_release",
    "^__sock_release",
    "^setsockopt$",
    "kernel_setsockopt",
    "sock_common_setsockopt",
    "^listen$",
    "kernel_listen",
    "sk_common_release",
    "^sock_mmap",
    "^accept$",
    "kernel_accept",
    "^sock_do_ioctl",
    "^sock_ioctl",
    "^compat_sock_ioctl",
    "^nfnetlink_rcv_msg",
    "^rtnetlink_rcv_msg",
    "^netlink_dump",
    "^(sys_)?(socketpair|connect|ioctl)",
    "__do_fault",
    "do_page_fault",
    "^page_fault$",
    "__fput",
    "task_work_run",
    "exit_to_usermode",
    "smp_call_function",
    "tasklet_action",
    "tasklet_hi_action",
];

/// Hung tasks: frames that group hangs into one bucket (`rtnl_lock`, or all RCU waits).
pub const HUNG_ANCHORS: &[(&str, Option<&str>)] = &[
    ("rtnl_lock", None),
    ("synchronize_rcu", Some("synchronize_rcu")),
    ("synchronize_srcu", Some("synchronize_rcu")),
    ("synchronize_net", Some("synchronize_rcu")),
    ("synchronize_sched", Some("synchronize_rcu")),
];

/// Hung tasks: frames that only say "this task sleeps".
pub const HUNG_SKIP: &[&str] = &[
    "sched",
    "_lock",
    "_slowlock",
    "down",
    "rwsem",
    "completion",
    "kthread",
    "wait",
    "synchronize",
    "context_switch",
    "__switch_to",
    "cancel_delayed_work",
    "rcu_barrier",
];
