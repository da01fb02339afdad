//! `uname`: the kernel's identity from uname(2) as `node_uname_info`. Like node_exporter this asks
//! the kernel, not procfs: in a container `nodename` is the container's unless it shares the
//! host's UTS namespace (`--uts=host`, as the shipped compose file does).

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;

/// The uname collector.
pub struct Uname;

impl Collector for Uname {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let u = rustix::system::uname();
        let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
        out.push(
            MetricFamily::info(
                "node_uname",
                "Labeled system information as provided by the uname system call.",
            )
            .with(
                [
                    ("domainname", s(u.domainname())),
                    ("machine", s(u.machine())),
                    ("nodename", s(u.nodename())),
                    ("release", s(u.release())),
                    ("sysname", s(u.sysname())),
                    ("version", s(u.version())),
                ],
                1u64,
            ),
        );
        Ok(())
    }
}

/// The `uname` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "uname",
    enabled_by_default: true,
    help: "Kernel identity (node_uname_info)",
    flags: crate::collector::no_flags,
    build: |_| {
        Ok(Arc::new(Uname))
    },
};
