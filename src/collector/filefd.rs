//! `filefd`: system-wide file handles from `/proc/sys/fs/file-nr`
//! (`node_filefd_allocated`, `node_filefd_maximum`). [`read`] is the typed read that
//! `/health`'s system `fd:utilization` check uses too.

use std::sync::Arc;

use crate::collector::{parse_u64, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// System-wide file handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHandles {
    pub allocated: u64,
    pub maximum: u64,
}

/// Reads `/proc/sys/fs/file-nr`.
pub fn read(paths: &HostPaths) -> Result<FileHandles, Error> {
    let path = paths.proc("sys/fs/file-nr");
    let text = crate::paths::read_kept(path.clone())?;
    let mut fields = text.split_ascii_whitespace();
    let allocated = parse_u64(fields.next(), &path, "allocated")?;
    let _unused = fields.next();
    let maximum = parse_u64(fields.next(), &path, "maximum")?;
    Ok(FileHandles { allocated, maximum })
}

/// The filefd collector.
pub struct Filefd {
    paths: HostPaths,
}

impl Filefd {
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }
}

impl Collector for Filefd {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let FileHandles { allocated, maximum } = read(&self.paths)?;
        out.push(
            MetricFamily::gauge(
                "node_filefd_allocated",
                None,
                "File descriptor statistics: allocated.",
            )
            .with([], allocated),
        );
        out.push(
            MetricFamily::gauge(
                "node_filefd_maximum",
                None,
                "File descriptor statistics: maximum.",
            )
            .with([], maximum),
        );
        Ok(())
    }
}

/// The `filefd` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "filefd",
    enabled_by_default: true,
    help: "System-wide file descriptors (node_filefd_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Filefd::new(c.paths.clone())))
    },
};
