//! The user's own kernel: two Debian kernel packages from the archive (what a user could have
//! without building one) become images, boot through the default cases, and a comparison
//! between them tells which one panics. Bad kernel packages are refused before any boot.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::case;
use rig::engine::campaign::{self, Plan};
use rig::guest_os::linux::image::user_kernel::{self, KernelInput};
use rig::machine::{Accel, cpu};
use rig::results::Verdict;
use rig::results::compare::Status;

/// The two newest `linux-image-6.1.0-<abi>-amd64` packages apt offers, downloaded once into
/// the build directory. (Which ABIs the archive keeps changes; any two distinct ones do.)
fn two_archive_kernels() -> [PathBuf; 2] {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _downloading = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("apt-cache")
        .args(["search", "--names-only", r"^linux-image-6\.1\.0-[0-9]+-amd64$"])
        .output()
        .expect("running apt-cache (the image builds need apt too)");
    let mut abis: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace().next()?.strip_prefix("linux-image-6.1.0-")?.strip_suffix("-amd64")?.parse().ok()
        })
        .collect();
    abis.sort_unstable();
    assert!(
        abis.len() >= 2,
        "apt offers fewer than two linux-image-6.1.0-*-amd64 packages: {abis:?} (apt-get update?)"
    );
    let dir = common::build_dir().join("test-kernels");
    std::fs::create_dir_all(&dir).unwrap();
    let names: Vec<String> = abis[abis.len() - 2..].iter().map(|a| format!("linux-image-6.1.0-{a}-amd64")).collect();
    let find = |name: &str| {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{name}_")))
    };
    let missing: Vec<&String> = names.iter().filter(|n| find(n).is_none()).collect();
    if !missing.is_empty() {
        let out = Command::new("apt-get")
            .current_dir(&dir)
            .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
            .args(&missing)
            .output()
            .unwrap();
        assert!(out.status.success(), "apt-get download {missing:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    [find(&names[0]).unwrap(), find(&names[1]).unwrap()]
}

/// Builds (or finds) image `name`, off the async threads.
async fn build_image(build: &Path, name: &str) -> rig::guest_os::linux::image::LinuxImage {
    let (b, n) = (build.to_path_buf(), name.to_string());
    tokio::task::spawn_blocking(move || rig::guest_os::linux::image::ensure_image(&b, &n)).await.unwrap().unwrap()
}

fn release_of(deb: &Path) -> String {
    user_kernel::inspect_deb(deb).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_kernels_become_images_that_boot_and_compare() {
    common::image();
    let build = common::build_dir();
    let [old, new] = two_archive_kernels();
    let (old_rel, new_rel) = (release_of(&old), release_of(&new));
    assert_ne!(old_rel, new_rel);
    let mut images = Vec::new();
    for (deb, name) in [(&old, "test-older"), (&new, "test-newer")] {
        let k = user_kernel::register(&build, "linux", name, KernelInput::path(deb)).unwrap();
        assert!(k.degraded.is_empty(), "Debian's kernel has everything the rig uses: {:?}", k.degraded);
        let img = build_image(&build, &k.name).await;
        assert_eq!(img.kernel_release, k.kernel_release);
        images.push(img);
    }

    // The default cases that run on any Linux image, on both kernels: they boot, reboot and
    // reload kvm_amd; boot-smoke's `uname -r` shows each kernel's own release.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases");
    let mut cases = Vec::new();
    for img in &images {
        for name in ["boot-smoke", "kvm-reload-reboot-race"] {
            let mut c = rig::case::find(&dir, name).unwrap();
            c.case.guest.image = img.name.clone();
            c.case.iterations = 1;
            cases.push(c);
        }
    }
    let run_dir = common::evidence_dir("user-kernels");
    let plan = Plan {
        seed: 5,
        jobs: 2,
        ..Plan::new(cases, vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, build.clone(), run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    for run in &r.runs {
        assert_eq!((run.tally.ran, run.tally.pass), (1, 1), "{run:#?}\nevidence: {}", run_dir.display());
    }
    for (run, rel) in r.runs.iter().step_by(2).zip([&old_rel, &new_rel]) {
        let said = run.iterations[0].steps.iter().find(|s| s.step.starts_with("ssh `uname -r")).unwrap();
        assert!(said.result.ends_with(rel.as_str()), "{said:?} on {}", run.image);
    }

    // A case whose outcome differs by kernel: the older one panics, the newer one does not,
    // while kvm_amd reloads in a loop (so the comparison knows the race ran on both).
    let yaml = format!(
        "name: older-kernel-panics\nguest: {{ image: {a}, nested: true }}\ncompare: [{a}, {b}]\niterations: 4\n\
         snapshot: true\nexpect: {{ outcome: no_panic }}\nsteps:\n  - background:\n      steps:\n\
         \x20       - reload_module: vmm\n  - sleep: {{ min_ms: 1500, max_ms: 1500 }}\n\
         \x20 - ssh: \"[ $(uname -r) != {old_rel} ] || echo c > /proc/sysrq-trigger\"\n    ignore_status: true\n",
        a = images[0].name,
        b = images[1].name
    );
    let run_dir = common::evidence_dir("user-kernels-compare");
    let plan = Plan {
        seed: 6,
        jobs: 2,
        // Exactly the case's 4 each (a comparison without a count would stop once decided).
        iterations: Some(4),
        dumps: rig::dump::DumpOptions { policy: rig::dump::DumpPolicy::None, ..Default::default() },
        ..Plan::new(
            vec![case("older-kernel-panics", &yaml)],
            vec![cpu::lookup("epyc").unwrap()],
            Accel::Tcg,
            build,
            run_dir.clone(),
        )
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    let cmp = &r.comparisons[0];
    let (older, newer) = (&cmp.builds[0], &cmp.builds[1]);
    assert_eq!((older.iterations, older.panics), (4, 4), "{older:#?}\nevidence: {}", run_dir.display());
    assert_eq!((newer.iterations, newer.panics), (4, 0), "{newer:#?}\nevidence: {}", run_dir.display());
    assert!(newer.reloads.reloads_ok > 0, "{newer:#?}");
    assert_eq!(cmp.conclusions[0].status, Status::Fixed, "{cmp:#?}");
    assert!(r.runs.iter().flat_map(|x| &x.iterations).all(|i| i.verdict != Verdict::Error), "{r:#?}");
}

/// A kernel tree laid out as `make` leaves it, made from a Debian kernel package (its real
/// bzImage, .config and modules), holding the modules the guest loads and their dependencies.
fn fake_tree(deb: &Path, release: &str, at: &Path) -> PathBuf {
    let unpacked = at.join("unpacked");
    let _ = std::fs::remove_dir_all(at);
    std::fs::create_dir_all(&unpacked).unwrap();
    let out = Command::new("dpkg-deb").arg("-x").arg(deb).arg(&unpacked).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = at.join("linux");
    let put = |from: PathBuf, to: &str| {
        let to = tree.join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(&from, &to).unwrap_or_else(|e| panic!("{} -> {}: {e}", from.display(), to.display()));
    };
    put(unpacked.join(format!("boot/vmlinuz-{release}")), "arch/x86/boot/bzImage");
    // `make` leaves the ELF kernel at the top (with debug info, in a real tree).
    let elf =
        rig::guest_os::linux::image::vmlinux::extract_elf(&std::fs::read(tree.join("arch/x86/boot/bzImage")).unwrap())
            .unwrap();
    std::fs::write(tree.join("vmlinux"), elf).unwrap();
    put(unpacked.join(format!("boot/config-{release}")), ".config");
    std::fs::create_dir_all(tree.join("include/config")).unwrap();
    std::fs::write(tree.join("include/config/kernel.release"), format!("{release}\n")).unwrap();
    let mods = unpacked.join(format!("lib/modules/{release}"));
    put(mods.join("modules.builtin"), "modules.builtin");
    // The guest's module list, closed over each module's `depends=` (what depmod reads).
    let stem = |p: &str| p.rsplit('/').next().unwrap().trim_end_matches(".ko").replace('-', "_");
    let by_stem: std::collections::HashMap<String, String> = std::fs::read_to_string(mods.join("modules.order"))
        .unwrap()
        .lines()
        .map(|l| (stem(l), l.to_string()))
        .collect();
    let depends = |m: &str| -> Vec<String> {
        let bytes = std::fs::read(mods.join(m)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let line = text.split('\0').find_map(|f| f.strip_prefix("depends=")).unwrap_or("");
        line.split(',').filter(|d| !d.is_empty()).map(|d| by_stem[&d.replace('-', "_")].clone()).collect()
    };
    let wanted =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../images/linux/modules")).unwrap();
    let mut todo: Vec<String> = wanted
        .lines()
        .map(|l| l.split('#').next().unwrap().trim().replace('-', "_"))
        .filter_map(|w| by_stem.get(&w).cloned())
        .collect();
    let mut order = Vec::new();
    while let Some(m) = todo.pop() {
        if order.contains(&m) {
            continue;
        }
        todo.extend(depends(&m));
        order.push(m);
    }
    assert!(order.iter().any(|m| m.ends_with("/virtio_net.ko")), "{order:?}");
    let mut listed = String::new();
    for m in &order {
        let in_tree = m.strip_prefix("kernel/").unwrap();
        put(mods.join(m), in_tree);
        listed.push_str(&format!("{in_tree}\n"));
    }
    std::fs::write(tree.join("modules.order"), listed).unwrap();
    std::fs::remove_dir_all(&unpacked).unwrap();
    tree
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_kernel_tree_becomes_an_image_that_boots() {
    common::image();
    let build = common::build_dir();
    let [deb, _] = two_archive_kernels();
    let release = release_of(&deb);
    let tree = fake_tree(&deb, &release, &common::evidence_dir("kernel-tree"));
    let k = user_kernel::register(&build, "linux", "test-tree", KernelInput::path(&tree)).unwrap();
    assert_eq!((k.kernel_release.as_str(), k.source.as_path()), (release.as_str(), tree.as_path()));
    let img = build_image(&build, &k.name).await;
    assert_eq!(img.kernel_release, release);
    let symbols = img.debug_vmlinux.clone().expect("the tree's vmlinux is kept for crash");
    assert_eq!(std::fs::read(&symbols).unwrap(), std::fs::read(tree.join("vmlinux")).unwrap());
    let mut c = rig::case::find(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases"), "boot-smoke").unwrap();
    c.case.guest.image = img.name.clone();
    let yaml = format!(
        "name: tree-panics\nguest: {{ image: {} }}\nexpect: {{ outcome: panic }}\nsteps:\n\
         \x20 - ssh: echo c > /proc/sysrq-trigger\n    ignore_status: true\n",
        img.name
    );
    let run_dir = common::evidence_dir("kernel-tree-run");
    let cases = vec![c, case("tree-panics", &yaml)];
    let plan =
        Plan { seed: 3, ..Plan::new(cases, vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, build, run_dir.clone()) };
    let r = campaign::run(&plan, &mut |_| {}).await;
    for run in &r.runs {
        assert_eq!((run.tally.ran, run.tally.pass), (1, 1), "{run:#?}\nevidence: {}", run_dir.display());
    }
    let said = r.runs[0].iterations[0].steps.iter().find(|s| s.step.starts_with("ssh `uname -r")).unwrap();
    assert!(said.result.ends_with(release.as_str()), "{said:?}");
    // The dump of a panic comes with the crash command that reads it with this build's symbols.
    let rig::results::Outcome::Panic { dumps, triage, .. } = &r.runs[1].iterations[0].outcome else {
        panic!("{:#?}", r.runs[1])
    };
    let want = format!("$ crash {} {}", symbols.display(), dumps[0].path.display());
    assert!(triage.contains(&want), "{want:?} not in:\n{triage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_os7410_fixture_builds_against_a_user_kernel() {
    common::image();
    let build = common::build_dir();
    let [deb, _] = two_archive_kernels();
    let k = user_kernel::register(&build, "linux-os7410-debug", "test-older", KernelInput::path(&deb)).unwrap();
    assert_eq!(k.name, "linux-os7410-debug-test-older");
    let img = build_image(&build, &k.name).await;
    let yaml = format!(
        "name: fixture-on-user-kernel\nguest: {{ image: {} }}\nsteps:\n  - ssh: uname -r; test -e /proc/zones\n",
        img.name
    );
    let run_dir = common::evidence_dir("user-kernel-fixture");
    let plan = Plan {
        seed: 4,
        ..Plan::new(
            vec![case("fixture-on-user-kernel", &yaml)],
            vec![cpu::lookup("epyc").unwrap()],
            Accel::Tcg,
            build,
            run_dir.clone(),
        )
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    let run = &r.runs[0];
    assert_eq!(
        (run.tally.ran, run.tally.pass),
        (1, 1),
        "zones.ko loads in the user's kernel: {run:#?}\nevidence: {}",
        run_dir.display()
    );
    assert!(run.iterations[0].steps[0].result.contains(&k.kernel_release), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_kernel_images_with_their_config_and_modules_boot() {
    common::image();
    let build = common::build_dir();
    let [deb, _] = two_archive_kernels();
    let release = release_of(&deb);
    let at = common::evidence_dir("bare-kernel");
    let tree = fake_tree(&deb, &release, &at.join("tree"));
    // The modules as `make modules_install INSTALL_MOD_PATH=inst` leaves them.
    let inst = at.join("inst");
    let mods = inst.join("lib/modules").join(&release);
    let order = std::fs::read_to_string(tree.join("modules.order")).unwrap();
    let mut listed = String::new();
    for m in order.lines() {
        let to = mods.join("kernel").join(m);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(tree.join(m), &to).unwrap();
        listed.push_str(&format!("kernel/{m}\n"));
    }
    std::fs::write(mods.join("modules.order"), listed).unwrap();
    std::fs::copy(tree.join("modules.builtin"), mods.join("modules.builtin")).unwrap();

    let config = tree.join(".config");
    let mut names = Vec::new();
    for (kernel, name) in [(tree.join("arch/x86/boot/bzImage"), "test-bzimage"), (tree.join("vmlinux"), "test-vmlinux")]
    {
        let input = KernelInput { path: &kernel, config: Some(&config), modules: Some(&inst) };
        let k = user_kernel::register(&build, "linux", name, input).unwrap();
        assert_eq!(k.kernel_release, release);
        let img = build_image(&build, &k.name).await;
        // A vmlinux carries the symbols crash reads dumps with; a bzImage does not.
        assert_eq!(img.debug_vmlinux.is_some(), name == "test-vmlinux", "{img:?}");
        names.push(img.name);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases");
    let cases = names
        .iter()
        .map(|n| {
            let mut c = rig::case::find(&dir, "boot-smoke").unwrap();
            c.case.guest.image = n.clone();
            c
        })
        .collect();
    let run_dir = common::evidence_dir("bare-kernel-run");
    let plan = Plan {
        seed: 8,
        jobs: 2,
        ..Plan::new(cases, vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, build, run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    for run in &r.runs {
        assert_eq!((run.tally.ran, run.tally.pass), (1, 1), "{run:#?}\nevidence: {}", run_dir.display());
    }
}
