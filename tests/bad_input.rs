//! Bad input at the edges: config files with a wrong type, an unknown key, a bad regex; flags with
//! a bad regex or an unreadable path. Each gets a clear message naming the field or flag (and the
//! line, for the config) and a non-zero exit; hale never starts half-configured.

mod common;

use common::{run_hale as hale, stderr_of as stderr, temp_file as config_file};

#[test]
fn check_config_accepts_a_valid_file() {
    let f = config_file("process_names:\n  - comm: [sshd]\n  - name: 'java:{{.Matches.app}}'\n    cmdline: ['-jar (?P<app>\\S+)']\n");
    let out = hale(&["check-config", f.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("valid (2 process group matcher(s), 0 health probe(s)"));
}

#[test]
fn check_config_names_an_unknown_key_and_its_line() {
    let f = config_file("process_names:\n  - comm: [sshd]\n    commm: [x]\n");
    let out = hale(&["check-config", f.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("unknown field `commm`"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn check_config_names_a_wrong_type_and_its_line() {
    let f = config_file("# groups\nprocess_names:\n  - comm: sshd\n");
    let out = hale(&["check-config", f.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("line 3"), "{err}");
    assert!(
        err.contains("comm: sshd"),
        "the snippet shows the field: {err}"
    );
}

#[test]
fn check_config_names_a_bad_regex_and_its_line() {
    let f = config_file("process_names:\n  - comm: [a]\n  - cmdline: ['(unclosed']\n");
    let out = hale(&["check-config", f.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cmdline: invalid regex \"(unclosed\""),
        "{err}"
    );
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn check_config_reports_an_unreadable_file() {
    let out = hale(&["check-config", "/nonexistent/hale.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("reading config file /nonexistent/hale.yml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_refuses_a_bad_config_file() {
    let f = config_file("process_names:\n  - name: only-a-name\n");
    let out = hale(&[
        "--web.listen-address=127.0.0.1:0",
        "--config",
        f.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("needs at least one of comm, exe, cmdline"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_refuses_an_unreadable_procfs_path() {
    let out = hale(&[
        "--web.listen-address=127.0.0.1:0",
        "--path.procfs=/nonexistent/proc",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--path.procfs=/nonexistent/proc"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_refuses_a_bad_regex_flag() {
    for flag in [
        "collector.filesystem.fs-types-exclude",
        "collector.netstat.fields",
        "collector.cpu.info.flags-include",
        "collector.cpu.info.bugs-include",
        "collector.diskstats.device-include",
    ] {
        let out = hale(&["--web.listen-address=127.0.0.1:0", &format!("--{flag}=((")]);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "--{flag}: invalid regular expression: regex parse error"
            )),
            "{err}"
        );
        // The parser's message once in the log line and once in the exit message, not
        // repeated by the error chain.
        assert_eq!(err.matches("unclosed group").count(), 2, "{err}");
    }
}

#[test]
fn unknown_flags_and_collectors_are_usage_errors() {
    let out = hale(&["--collector.nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    let out = hale(&["--log.format=xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("logfmt"), "{}", stderr(&out));
}

#[test]
fn an_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = hale(&[&format!("--web.listen-address={addr}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("listening on {addr}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_refuses_an_unreadable_or_empty_details_token_file() {
    let empty = config_file("");
    for (path, reason) in [
        ("/nonexistent/token", "No such file"),
        (empty.path().to_str().unwrap(), "the file is empty"),
    ] {
        let f = config_file(&format!(
            "health:\n  show_details: false\n  details_token_file: {path}\n"
        ));
        let out = hale(&[
            "--web.listen-address=127.0.0.1:0",
            "--config",
            f.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains("health.details_token_file") && err.contains(reason),
            "{err}"
        );
    }
}

/// Issue 13.5: `cooldown: 18446744073709551615s1s` aborted check-config and the daemon, a huge
/// timeout wrapped to 4 s, and a queue_size past the semaphore's limit aborted at start. Each is
/// now an error naming the field and its line, or the flag.
#[test]
fn overflowing_numbers_are_errors_naming_the_field_or_flag() {
    for (yaml, line, what) in [
        (
            "heal:\n  auth: {disabled: true}\n  cooldown: 18446744073709551615s1s\n",
            "line 3",
            "out of range",
        ),
        (
            "heal:\n  auth: {disabled: true}\n  rules:\n    - name: x\n      match: {a: b}\n      action: exec\n      argv: ['true']\n      timeout: 3381903080180084463m\n",
            "line 8",
            "out of range",
        ),
        (
            "heal:\n  auth: {disabled: true}\n  queue_size: 2305843009213693952\n",
            "line 3",
            "use 1 to 100000",
        ),
        (
            "heal:\n  auth: {disabled: true}\n  workers: 100000\n",
            "line 3",
            "use 1 to 256",
        ),
        (
            "health:\n  cpu: {warn: 95, fail: 85, critical: false}\n",
            "line 2",
            "warn (95) is above fail (85)",
        ),
    ] {
        let f = config_file(yaml);
        let out = hale(&["check-config", f.path().to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{yaml}");
        let err = stderr(&out);
        assert!(err.contains(line) && err.contains(what), "{yaml}: {err}");
    }
    for flag in [
        "--web.request-timeout=18446744073709551615s1s",
        "--scrape.collector-timeout=99999999999999999999y",
        "--web.max-requests=2305843009213693952",
        "--web.max-connections=0",
        "--web.max-header-bytes=100",
    ] {
        let out = hale(&[flag, "--web.listen-address=127.0.0.1:0"]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let name = flag.split('=').next().unwrap();
        assert!(stderr(&out).contains(name), "{flag}: {}", stderr(&out));
    }
    let out = hale(&[
        "--scrape.collector-timeout=0s",
        "--web.listen-address=127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--scrape.collector-timeout: must be longer than zero"));
}

/// Issue 13.6: Prometheus' duration units, as the README's own `retention: 30d` uses them.
#[test]
fn prometheus_duration_units_are_accepted() {
    let f = config_file(
        "heal:\n  auth: {disabled: true}\n  cooldown: 1h30m\n  audit: {retention: 30d}\n  budget: {attempts: 3, window: 1w}\n",
    );
    let out = hale(&["check-config", f.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}
