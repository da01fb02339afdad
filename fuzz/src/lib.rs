//! What the fuzz targets share: a copy of hale's test fixture tree to point `--path.*` at, on
//! a tmpfs when there is one (an audit log's fsync is then free), and the app built the way
//! `hale` builds it, so a target fuzzes the code that serves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A directory that lives as long as the fuzzing process.
pub fn workdir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let builder = tempfile::Builder::new()
            .prefix("hale-fuzz-")
            .tempdir_in(if shm.is_dir() { shm } else { Path::new("/tmp") });
        builder.expect("a temporary directory for fuzzing")
    })
    .path()
}

/// A private copy of `tests/fixtures` (proc, sys, rootfs), made once.
pub fn fixtures() -> &'static Path {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(|| {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let to = workdir().join("fixtures");
        copy_tree(&from, &to);
        to
    })
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create fixture dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            // The fixture's fd links (their targets need not exist).
            let link = std::fs::read_link(entry.path()).expect("read fixture link");
            std::os::unix::fs::symlink(link, &target).expect("copy fixture link");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture");
        }
    }
}

/// A single-threaded runtime (with its blocking pool) for the targets that need one.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// hale's flags for the fixture tree, plus `extra`.
pub fn args(extra: &[&str]) -> Vec<String> {
    let dir = fixtures();
    let mut args = vec![
        "hale".to_string(),
        format!("--path.procfs={}", dir.join("proc").display()),
        format!("--path.sysfs={}", dir.join("sys").display()),
        format!("--path.rootfs={}", dir.join("rootfs").display()),
        format!("--path.udev.data={}", dir.join("udev/data").display()),
        "--no-collector.docker".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The app as `hale` serves it, for `args` and the config text `config`.
pub fn app(args: &[String], config: &str) -> axum::Router {
    let config = hale::config::Config::parse(config, Path::new("fuzz.yml")).expect("fuzz config");
    let (cli, matches) = hale::cli::try_parse_from(args).expect("fuzz flags");
    let options = hale::cli::Options::from_cli(&cli, &matches, &config).expect("fuzz options");
    let web = Arc::new(hale::web::security::Web::open());
    let app = hale::app::build(&options, &config, web).expect("fuzz app state");
    hale::server::app(app.detach())
}
