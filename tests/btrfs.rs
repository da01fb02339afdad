//! The btrfs collector on a real Btrfs: a filesystem made with `mkfs.btrfs` on a loop device
//! and mounted on this host, read by hale and by Debian's node_exporter 1.5 side by side. This
//! is the path the fixture tree cannot reach: the device table, sizes and error counters come
//! from the kernel's btrfs ioctls on the mount point, not from sysfs.
//!
//! The mount point sits under `/var/lib/docker/`, which both exporters' filesystem collectors
//! leave out by default, and a loop device is in both diskstats collectors' default ignore
//! list, so tests running beside this one see no new series.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{get, parse, Hale};

/// Unmounts (which frees the auto-cleared loop device) and removes the files on drop.
struct Mounted {
    dir: std::path::PathBuf,
    image: std::path::PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for _ in 0..50 {
            let ok = Command::new("umount")
                .arg(&self.dir)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::remove_file(&self.image);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn hale_matches_node_exporter_on_a_mounted_btrfs() {
    let id = std::process::id();
    let image = std::env::temp_dir().join(format!("hale-test-btrfs-{id}.img"));
    let dir = std::path::PathBuf::from(format!("/var/lib/docker/hale-test-btrfs-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    run(Command::new("truncate").arg("-s").arg("300M").arg(&image));
    run(Command::new("mkfs.btrfs")
        .args(["-q", "-L", "hale-test"])
        .arg(&image));
    run(Command::new("mount")
        .args(["-o", "loop"])
        .arg(&image)
        .arg(&dir));
    let _mounted = Mounted {
        dir: dir.clone(),
        image,
    };
    std::fs::write(dir.join("data"), vec![7u8; 4 << 20]).unwrap();
    run(Command::new("sync").arg("-f").arg(&dir));

    let flags = ["--collector.disable-defaults", "--collector.btrfs"];
    let (_ne, url) = common::node_exporter(&flags.map(String::from));
    let hale = Hale::start(&flags);
    let ours_text = get(&hale.url("/metrics"), None).body;
    let theirs_text = get(&url, None).body;

    // This filesystem's series only: another btrfs on the host is not this test's.
    let info = |text: &str| {
        parse(text)
            .into_iter()
            .find(|s| {
                s.name == "node_btrfs_info"
                    && s.labels.get("label").map(String::as_str) == Some("hale-test")
            })
            .map(|s| s.labels["uuid"].clone())
    };
    let uuid = info(&theirs_text).expect("node_exporter sees the filesystem");
    assert_eq!(info(&ours_text).as_deref(), Some(uuid.as_str()));
    let index = |text: &str| -> BTreeMap<String, f64> {
        parse(text)
            .into_iter()
            .filter(|s| s.name.starts_with("node_btrfs_") && s.labels.get("uuid") == Some(&uuid))
            .map(|s| (format!("{}{:?}", s.name, s.labels), s.value))
            .collect()
    };
    let (theirs, ours) = (index(&theirs_text), index(&ours_text));
    assert_eq!(ours, theirs);
    // The kernel's device table was read: its labels and error counters are there.
    let errors = ours
        .keys()
        .filter(|k| k.starts_with("node_btrfs_device_errors_total"))
        .count();
    assert_eq!(errors, 5, "{ours:?}");
    assert!(ours
        .keys()
        .any(|k| k.contains("btrfs_dev_uuid") && k.contains("\"device\": \"loop")));
    for line in theirs_text
        .lines()
        .filter(|l| l.starts_with("# TYPE node_btrfs"))
    {
        assert!(ours_text.contains(line), "{line}");
    }
}
