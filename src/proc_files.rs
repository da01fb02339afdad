//! A process's `/proc/<pid>/stat` and `limits`, read so that no content can panic hale. Found
//! by `fuzz/fuzz_targets/host_files.rs` in procfs-core 0.18: `stat` is sliced around the first
//! `(` and the last `)` without checking their order, so a line whose `)` comes first, or ends
//! it, panics; `limits` subtracts from a line's field count, which overflows (a panic in a build
//! with overflow checks) on a line of fewer than three fields. The kernel writes neither, but
//! `--path.procfs` may point at any tree. Each file is checked here first; a malformed one is
//! an error, as any other unreadable file.
//!
//! Also `/proc/net/dev`'s format, which the netdev collector reads for the host and the docker
//! module inside each container's network namespace.

use std::io::Read;

use procfs::process::{Limits, Process, Stat};
use procfs::{FromRead, ProcError, ProcResult};

fn bytes(process: &Process, file: &str) -> ProcResult<Vec<u8>> {
    let mut bytes = Vec::with_capacity(1024);
    process.open_relative(file)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A process's `stat`, or an error when it is missing or malformed.
pub fn stat(process: &Process) -> ProcResult<Stat> {
    parse_stat(&bytes(process, "stat")?)
}

/// A process's `limits`, or an error when it is missing or malformed.
pub fn limits(process: &Process) -> ProcResult<Limits> {
    parse_limits(&bytes(process, "limits")?)
}

/// Parses the text of a `limits` file: a header line, then one line per limit with a name, a
/// soft and a hard value, and (for most) a unit.
pub fn parse_limits(bytes: &[u8]) -> ProcResult<Limits> {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines().map(str::trim) {
        if line.starts_with("Limit") {
            continue;
        }
        if line.split_whitespace().count() < 4 {
            return Err(ProcError::Other(format!(
                "malformed limits line {:?}",
                line.chars().take(64).collect::<String>()
            )));
        }
    }
    Limits::from_read(text.as_bytes())
}

/// Parses the text of a `stat` file.
pub fn parse_stat(bytes: &[u8]) -> ProcResult<Stat> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.trim();
    let shape_ok = match (line.find('('), line.rfind(')')) {
        // "<pid> (<comm>) <state> ...": a pid, then a space, then the comm, then " " and more.
        // The spaces around the parentheses also keep procfs' slices on character boundaries.
        (Some(open), Some(close)) => {
            let b = line.as_bytes();
            open >= 2
                && open < close
                && b.get(open - 1) == Some(&b' ')
                && b.get(close + 1) == Some(&b' ')
        }
        _ => false,
    };
    if !shape_ok {
        return Err(ProcError::Other(format!(
            "malformed stat line {:?}",
            line.chars().take(64).collect::<String>()
        )));
    }
    Stat::from_read(line.as_bytes())
}

/// Splits `/proc/net/dev` into `(device, counters)`, the 8 receive columns then the 8 transmit
/// columns; an `Err` names the bad line. Shared with the per-container network counters, which
/// read the same file inside the container's network namespace.
pub fn parse_net_dev(text: &str) -> impl Iterator<Item = Result<(&str, [u64; 16]), String>> {
    // Two header lines, then "  eth0: 1 2 3 ...".
    text.lines().skip(2).filter_map(|line| {
        let (device, rest) = line.split_once(':')?;
        let device = device.trim();
        let mut counters = [0u64; 16];
        let mut fields = rest.split_ascii_whitespace();
        for (i, c) in counters.iter_mut().enumerate() {
            let field = fields.next();
            match field.map(str::parse::<u64>) {
                Some(Ok(v)) => *c = v,
                _ => {
                    return Some(Err(format!(
                        "device {device}: column {} is {field:?}, not a number",
                        i + 1
                    )))
                }
            }
        }
        Some(Ok((device, counters)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input the fuzzer found, and its relatives.
    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for bad in [
            &b"\t4242 \x04)(nginx"[..],
            b"4242 (nginx)",
            b"4242 (nginx) ",
            b"(nginx) S 1",
            b"4242 nginx) S",
            b"",
            b")",
            b"1 ()",
            b"\t4\0\0\0\0\x04)\xe1\xe1\xe1",
            "4\u{e9}(x) S".as_bytes(),
            "4 (x)\u{e9} S".as_bytes(),
        ] {
            assert!(
                parse_stat(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let ok = parse_stat(b"4242 (ngi) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 10 20 0 0 20 0 1 0 1000 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n").unwrap();
        assert_eq!(ok.comm, "ngi) x");
    }

    #[test]
    fn short_limits_lines_are_errors_not_panics() {
        let fixture = include_str!("../tests/fixtures/proc/4242/limits");
        assert!(parse_limits(fixture.as_bytes()).is_ok());
        for bad in ["Maxs\n", "Max x\n", "Max x 1\n", "\n \n"] {
            let text = format!("{fixture}{bad}");
            assert!(parse_limits(text.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
