//! The `exec` action: runs a rule's argv directly (no shell, so nothing in an alert is ever
//! parsed as a command), with a cleared environment holding `PATH` and the alert as `HALE_*`
//! variables, stdin closed, stdout and stderr captured (kept up to [`OUTPUT_LIMIT`] bytes each,
//! the rest drained so the command never blocks on a full pipe), and a timeout that kills the
//! command's whole process group, not only its first process.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::payload::Alert;

/// Bytes of stdout and of stderr kept in the audit log.
pub const OUTPUT_LIMIT: usize = 4096;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `HALE_LABEL_<NAME>` for label `name`: upper case, anything but ASCII letters and digits
/// becomes `_`.
fn env_name(prefix: &str, key: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + key.len());
    out.push_str(prefix);
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    out
}

/// The largest single `NAME=value` string Linux passes to a program (`MAX_ARG_STRLEN`).
const MAX_VARIABLE_BYTES: usize = 128 * 1024;

/// The most environment hale hands a command in all: a quarter of the usual 8 MiB stack that
/// bounds `execve(2)`'s arguments and environment, less room for argv.
const MAX_ENVIRONMENT_BYTES: usize = 1024 * 1024;

/// The environment an exec action sees for `alert`, or why no command could ever be run with
/// it (a NUL byte, a value beyond the kernel's limits): such an action is refused once, not
/// retried.
///
/// Labels and annotations whose names map to the same variable (`a.b` and `A_B` are both
/// `HALE_LABEL_A_B`) are resolved deterministically: the name that sorts first (by byte; so
/// upper case before lower case) wins, and the others are left out.
pub fn environment(
    rule: &str,
    target: &str,
    alert: &Alert,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    env.insert(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string()),
    );
    // BTreeMaps iterate in byte order, so the first name to claim a variable keeps it.
    for (prefix, map) in [
        ("HALE_LABEL_", &alert.labels),
        ("HALE_ANNOTATION_", &alert.annotations),
    ] {
        for (k, v) in map {
            env.entry(env_name(prefix, k)).or_insert_with(|| v.clone());
        }
    }
    let status = match alert.status {
        super::payload::AlertStatus::Firing => "firing",
        super::payload::AlertStatus::Resolved => "resolved",
    };
    for (k, v) in [
        ("HALE_RULE", rule),
        ("HALE_TARGET", target),
        ("HALE_ALERT_NAME", alert.name()),
        ("HALE_ALERT_STATUS", status),
        ("HALE_ALERT_FINGERPRINT", &alert.fingerprint),
        ("HALE_ALERT_STARTS_AT", &alert.starts_at),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    let mut total = 0;
    for (k, v) in &env {
        if v.contains('\0') {
            return Err(format!(
                "{k} would hold a NUL byte, which no environment variable can carry"
            ));
        }
        let size = k.len() + 1 + v.len() + 1;
        if size > MAX_VARIABLE_BYTES {
            return Err(format!(
                "{k} would be {size} bytes, over Linux's limit of {MAX_VARIABLE_BYTES} for one variable"
            ));
        }
        total += size;
    }
    if total > MAX_ENVIRONMENT_BYTES {
        return Err(format!(
            "the environment would be {total} bytes, over hale's limit of {MAX_ENVIRONMENT_BYTES}"
        ));
    }
    Ok(env)
}

/// Reads a pipe to its end, keeping the first [`OUTPUT_LIMIT`] bytes.
async fn capture(mut pipe: impl AsyncRead + Unpin) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

fn text(bytes: &[u8], truncated: bool) -> String {
    let mut s = String::from_utf8_lossy(bytes).trim_end().to_string();
    if truncated {
        s.push_str(" [truncated]");
    }
    s
}

/// Runs `argv` with `env`; `Ok` with the output when it exits 0, `Err` with the reason and the
/// output otherwise.
pub async fn run(
    argv: &[String],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<String, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("empty argv".into());
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running {program}: {e}"))?;
    let pgid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let outputs = async {
        let out = async {
            match stdout {
                Some(p) => capture(p).await,
                None => (Vec::new(), false),
            }
        };
        let err = async {
            match stderr {
                Some(p) => capture(p).await,
                None => (Vec::new(), false),
            }
        };
        tokio::join!(out, err)
    };
    let finished = tokio::time::timeout(timeout, async {
        let (outputs, status) = tokio::join!(outputs, child.wait());
        (outputs, status)
    })
    .await;
    let ((out, err), status) = match finished {
        Ok(done) => done,
        Err(_) => {
            if let Some(pid) = pgid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.wait().await;
            return Err(format!(
                "{program}: no exit within {timeout:?}; its process group was killed"
            ));
        }
    };
    let mut summary = String::new();
    let stdout = text(&out.0, out.1);
    let stderr = text(&err.0, err.1);
    if !stdout.is_empty() {
        summary.push_str("stdout: ");
        summary.push_str(&stdout);
    }
    if !stderr.is_empty() {
        if !summary.is_empty() {
            summary.push('\n');
        }
        summary.push_str("stderr: ");
        summary.push_str(&stderr);
    }
    match status {
        Ok(s) if s.success() => Ok(summary),
        Ok(s) => {
            let how = match s.code() {
                Some(code) => format!("exited {code}"),
                None => "was killed by a signal".to_string(),
            };
            Err(if summary.is_empty() {
                format!("{program} {how}")
            } else {
                format!("{program} {how}\n{summary}")
            })
        }
        Err(e) => Err(format!("waiting for {program}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::payload::AlertStatus;

    fn alert() -> Alert {
        Alert {
            status: AlertStatus::Firing,
            labels: BTreeMap::from([
                ("alertname".into(), "DiskFull".into()),
                ("mount.point".into(), "/; rm -rf /".into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), "$(reboot)".into())]),
            starts_at: "2026-11-23T04:00:00Z".into(),
            ends_at: String::new(),
            generator_url: String::new(),
            fingerprint: "abc".into(),
            origin: Default::default(),
        }
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn labels_arrive_only_as_environment_never_as_code() {
        let env = environment("flush", "disk", &alert()).unwrap();
        assert_eq!(env["HALE_LABEL_MOUNT_POINT"], "/; rm -rf /");
        assert_eq!(env["HALE_ANNOTATION_SUMMARY"], "$(reboot)");
        assert!(
            !env.contains_key("HOME"),
            "hale's own environment is not passed"
        );
        let out = run(
            &sh(r#"printf '%s|%s|%s' "$HALE_LABEL_MOUNT_POINT" "$HALE_ANNOTATION_SUMMARY" "$HALE_ALERT_NAME""#),
            &env,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(out, "stdout: /; rm -rf /|$(reboot)|DiskFull");
    }

    /// Issue 13.12: colliding names dropped one silently; a NUL or a 200 KB value failed at
    /// every retry.
    #[test]
    fn colliding_names_resolve_by_byte_order_and_impossible_values_are_refused() {
        let mut a = alert();
        a.labels
            .insert("weird-key.with/chars".into(), "lower".into());
        a.labels
            .insert("wEIRD_KEY_WITH_CHARS".into(), "mixed".into());
        a.labels
            .insert("WEIRD_KEY_WITH_CHARS".into(), "upper".into());
        let env = environment("r", "t", &a).unwrap();
        assert_eq!(env["HALE_LABEL_WEIRD_KEY_WITH_CHARS"], "upper");
        a.labels.remove("WEIRD_KEY_WITH_CHARS");
        let env = environment("r", "t", &a).unwrap();
        assert_eq!(env["HALE_LABEL_WEIRD_KEY_WITH_CHARS"], "mixed");

        let mut nul = alert();
        nul.labels.insert("x".into(), "a\0b".into());
        let err = environment("r", "t", &nul).unwrap_err();
        assert!(err.contains("HALE_LABEL_X would hold a NUL byte"), "{err}");

        let mut big = alert();
        big.annotations
            .insert("description".into(), "x".repeat(200 * 1024));
        let err = environment("r", "t", &big).unwrap_err();
        assert!(
            err.contains("HALE_ANNOTATION_DESCRIPTION would be"),
            "{err}"
        );

        let mut many = alert();
        for i in 0..20 {
            many.annotations
                .insert(format!("a{i}"), "x".repeat(100 * 1024));
        }
        let err = environment("r", "t", &many).unwrap_err();
        assert!(err.contains("the environment would be"), "{err}");
    }

    #[tokio::test]
    async fn failures_timeouts_and_floods_are_reported_not_hung() {
        let env = environment("r", "t", &alert()).unwrap();
        let err = run(&sh("echo oops >&2; exit 3"), &env, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(err, "/bin/sh exited 3\nstderr: oops");

        // The grandchild holds the pipe open; the whole group must die at the timeout.
        let err = run(
            &sh("sleep 1000 & sleep 1000"),
            &env,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(err.contains("process group was killed"), "{err}");

        let out = run(
            &sh("head -c 1000000 /dev/zero | tr '\\0' x"),
            &env,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert!(out.ends_with(" [truncated]"), "{}", &out[out.len() - 20..]);
        assert!(out.len() < OUTPUT_LIMIT + 64);

        let err = run(
            &["/nonexistent/cmd".to_string()],
            &env,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.contains("/nonexistent/cmd"), "{err}");
    }
}
