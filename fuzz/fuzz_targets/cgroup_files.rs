//! Every cgroup file hale reads for a container, v1 and v2, and the `/proc/<pid>/cgroup`,
//! `/proc/<pid>/net/dev` and per-thread `/proc/<tid>/stat` (task states) it reads with them:
//! the first byte picks a file of the fixture tree (`tests/fixtures/cgroup`), the rest replaces
//! it, then both layouts are resolved and read. A file that makes no sense is a missing value or
//! an error, never a panic.
#![no_main]

use hale::docker::cgroup::Layout;
use hale::paths::HostPaths;

const FILES: &[&str] = &[
    "proc/4242/cgroup",
    "proc/4242/net/dev",
    "proc/5151/cgroup",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/memory.current",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/memory.events",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/memory.max",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/memory.stat",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/cpu.stat",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/pids.current",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/cgroup.procs",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/cgroup.threads",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/cpu.pressure",
    "sys-v2/fs/cgroup/system.slice/docker-0123abcd.scope/memory.pressure",
    "proc/4242/stat",
    "sys-v1/fs/cgroup/memory/docker/0123abcd/memory.stat",
    "sys-v1/fs/cgroup/memory/docker/0123abcd/memory.usage_in_bytes",
    "sys-v1/fs/cgroup/memory/docker/0123abcd/memory.limit_in_bytes",
    "sys-v1/fs/cgroup/memory/docker/0123abcd/memory.oom_control",
    "sys-v1/fs/cgroup/memory/docker/0123abcd/cgroup.procs",
    "sys-v1/fs/cgroup/cpuacct/docker/0123abcd/cpuacct.stat",
    "sys-v1/fs/cgroup/cpuacct/docker/0123abcd/cpuacct.usage",
    "sys-v1/fs/cgroup/cpu/docker/0123abcd/cpu.stat",
    "sys-v1/fs/cgroup/pids/docker/0123abcd/pids.current",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let root = hale_fuzz::fixtures().join("cgroup");
    let file = root.join(FILES[usize::from(pick) % FILES.len()]);
    let original = std::fs::read(&file).expect("fixture file");
    std::fs::write(&file, content).expect("write fixture");
    for (sys, pid) in [("sys-v2", 4242), ("sys-v1", 5151)] {
        let paths = HostPaths::new(root.join("proc"), root.join(sys), "/".into()).expect("paths");
        let layout = Layout::detect(&paths);
        if let Some(path) = layout.path_of(&paths, pid) {
            let _ = layout.has(&path);
            let _ = layout.read(&paths, &path, Some(4242), true);
        }
    }
    std::fs::write(&file, original).expect("restore fixture");
});
