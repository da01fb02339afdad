//! Matching processes to named groups, in process-exporter's `process_names` format: each entry
//! has matchers on `comm`, `exe` and `cmdline` (all given must match) and a `name` template.
//! Entries are tried in order and the first match wins, so a process counts in one group only.
//!
//! The template understands `{{.Comm}}`, `{{.ExeBase}}`, `{{.ExeFull}}`, `{{.Username}}`,
//! `{{.PID}}` and `{{.Matches.NAME}}` (a named capture of a `cmdline` regex). `{{.PID}}` gives
//! one group per process: use it only for a handful of processes.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;

/// What a matcher looks at for one process.
#[derive(Debug, Clone, Default)]
pub struct ProcessView<'a> {
    pub pid: i32,
    pub comm: &'a str,
    /// `argv[0]`, or the comm when the cmdline is empty (kernel threads).
    pub argv0: &'a str,
    /// The arguments joined by single spaces.
    pub cmdline: &'a str,
    /// Owner, resolved lazily by the caller only when a template needs it.
    pub username: &'a str,
}

/// One `process_names` entry, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawMatcher")]
pub struct ProcessMatcher {
    name: NameTemplate,
    comm: Vec<String>,
    exe: Vec<String>,
    cmdline: Vec<Regex>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatcher {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    comm: Vec<String>,
    #[serde(default)]
    exe: Vec<String>,
    #[serde(default)]
    cmdline: Vec<String>,
}

impl TryFrom<RawMatcher> for ProcessMatcher {
    type Error = String;

    fn try_from(raw: RawMatcher) -> Result<Self, String> {
        if raw.comm.is_empty() && raw.exe.is_empty() && raw.cmdline.is_empty() {
            return Err("a process_names entry needs at least one of comm, exe, cmdline".into());
        }
        let cmdline = raw
            .cmdline
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| {
                    // The regex crate's message spans lines with a caret diagram; keep its last line.
                    let msg = e.to_string();
                    let reason = msg
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim_start_matches("error: ")
                        .to_string();
                    format!("cmdline: invalid regex {p:?}: {reason}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // process-exporter's default: the executable's base name (argv[0]'s), which is not
        // always the kernel's comm (a program that renames itself, a name over 15 bytes).
        let name = NameTemplate::parse(raw.name.as_deref().unwrap_or("{{.ExeBase}}"))?;
        for var in &name.parts {
            if let Part::Match(capture) = var {
                let known = cmdline
                    .iter()
                    .any(|re| re.capture_names().flatten().any(|n| n == capture));
                if !known {
                    return Err(format!(
                        "name: {{{{.Matches.{capture}}}}} names no capture group of a cmdline regex"
                    ));
                }
            }
        }
        Ok(ProcessMatcher {
            name,
            comm: raw.comm,
            exe: raw.exe,
            cmdline,
        })
    }
}

impl ProcessMatcher {
    /// The group names this entry is known to produce before any process matches: a name
    /// without template variables, or an explicit `name: '{{.Comm}}'` with a `comm` list (each
    /// entry is a group). These are reported with zero processes when none runs, so an alert
    /// can see a watched program that is missing. (The default name, `{{.ExeBase}}`, is not
    /// known until a process runs: its groups appear then, and stay at zero once it exits.)
    pub fn expected_groups(&self) -> Vec<String> {
        match self.name.parts.as_slice() {
            [Part::Text(t)] => vec![t.clone()],
            [Part::Comm] => self.comm.clone(),
            _ => Vec::new(),
        }
    }

    /// Whether the name holds `{{.PID}}`: one group per process, dropped when it exits (kept at
    /// zero, such groups would grow without bound).
    pub fn per_process(&self) -> bool {
        self.name.parts.contains(&Part::Pid)
    }

    /// The group name if this entry matches the process.
    pub fn group_name(&self, p: &ProcessView<'_>) -> Option<String> {
        if !self.comm.is_empty() && !self.comm.iter().any(|c| c == p.comm) {
            return None;
        }
        if !self.exe.is_empty() {
            let base = p.argv0.rsplit('/').next().unwrap_or(p.argv0);
            // As in process-exporter: an entry with a slash must equal argv[0]; without, its basename.
            let hit = self.exe.iter().any(|e| {
                if e.contains('/') {
                    e == p.argv0
                } else {
                    e == base
                }
            });
            if !hit {
                return None;
            }
        }
        let mut captures = HashMap::new();
        for re in &self.cmdline {
            let caps = re.captures(p.cmdline)?;
            for name in re.capture_names().flatten() {
                if let Some(m) = caps.name(name) {
                    captures.insert(name.to_string(), m.as_str().to_string());
                }
            }
        }
        Some(self.name.render(p, &captures))
    }

    /// Whether matching or naming needs the command line (argv): `exe`, `cmdline`, or a name
    /// from `{{.ExeBase}}`/`{{.ExeFull}}`. Entries that match on `comm` alone save a file read
    /// per process per scrape.
    pub fn needs_cmdline(&self) -> bool {
        !self.exe.is_empty()
            || !self.cmdline.is_empty()
            || self
                .name
                .parts
                .iter()
                .any(|p| matches!(p, Part::ExeBase | Part::ExeFull))
    }

    /// Whether rendering the name needs the process owner's user name.
    pub fn needs_username(&self) -> bool {
        self.name.parts.iter().any(|p| matches!(p, Part::Username))
    }
}

/// Finds the group of a process: the first matching entry wins.
pub fn classify(matchers: &[ProcessMatcher], p: &ProcessView<'_>) -> Option<String> {
    matchers.iter().find_map(|m| m.group_name(p))
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Comm,
    ExeBase,
    ExeFull,
    Username,
    Pid,
    Match(String),
}

/// A parsed `name` template.
#[derive(Debug, Clone)]
struct NameTemplate {
    parts: Vec<Part>,
}

impl NameTemplate {
    fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("name: unclosed '{{{{' in template {template:?}"))?;
            let var = after[..end].trim();
            let part = match var {
                ".Comm" => Part::Comm,
                ".ExeBase" => Part::ExeBase,
                ".ExeFull" => Part::ExeFull,
                ".Username" => Part::Username,
                ".PID" => Part::Pid,
                v if v.starts_with(".Matches.") && v.len() > ".Matches.".len() => {
                    Part::Match(v[".Matches.".len()..].to_string())
                }
                other => {
                    return Err(format!(
                        "name: unknown template variable {other:?} in {template:?} (known: .Comm, .ExeBase, .ExeFull, .Username, .PID, .Matches.NAME)"
                    ))
                }
            };
            parts.push(part);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if parts.is_empty() {
            return Err("name: the template is empty".into());
        }
        Ok(Self { parts })
    }

    fn render(&self, p: &ProcessView<'_>, captures: &HashMap<String, String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Comm => out.push_str(p.comm),
                Part::ExeBase => out.push_str(p.argv0.rsplit('/').next().unwrap_or(p.argv0)),
                Part::ExeFull => out.push_str(p.argv0),
                Part::Username => out.push_str(p.username),
                Part::Pid => out.push_str(&p.pid.to_string()),
                Part::Match(name) => out.push_str(captures.get(name).map_or("", String::as_str)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(yaml: &str) -> Result<ProcessMatcher, String> {
        serde_saphyr::from_str::<ProcessMatcher>(yaml).map_err(|e| e.to_string())
    }

    fn view<'a>(comm: &'a str, argv0: &'a str, cmdline: &'a str) -> ProcessView<'a> {
        ProcessView {
            pid: 42,
            comm,
            argv0,
            cmdline,
            username: "root",
        }
    }

    #[test]
    fn comm_exe_and_cmdline_all_must_match() {
        let m =
            matcher("comm: [postgres]\ncmdline: ['-D (?P<dir>\\S+)']\nname: 'pg:{{.Matches.dir}}'")
                .unwrap();
        assert_eq!(
            m.group_name(&view(
                "postgres",
                "/usr/lib/postgresql/15/bin/postgres",
                "postgres -D /var/lib/pg"
            )),
            Some("pg:/var/lib/pg".into())
        );
        assert_eq!(
            m.group_name(&view("postgres", "postgres", "postgres")),
            None
        );
        assert_eq!(m.group_name(&view("bash", "bash", "bash -D x")), None);
    }

    #[test]
    fn exe_matches_basename_or_full_path() {
        let m = matcher("exe: [nginx, /usr/sbin/sshd]\nname: '{{.ExeBase}}'").unwrap();
        assert_eq!(
            m.group_name(&view("nginx", "/usr/sbin/nginx", "")),
            Some("nginx".into())
        );
        assert_eq!(
            m.group_name(&view("sshd", "/usr/sbin/sshd", "")),
            Some("sshd".into())
        );
        assert_eq!(m.group_name(&view("sshd", "/opt/sshd", "")), None);
    }

    #[test]
    fn first_match_wins() {
        let ms = vec![
            matcher("comm: [a]\nname: first").unwrap(),
            matcher("cmdline: ['.*']\nname: rest").unwrap(),
        ];
        assert_eq!(classify(&ms, &view("a", "a", "a")), Some("first".into()));
        assert_eq!(classify(&ms, &view("b", "b", "b")), Some("rest".into()));
    }

    #[test]
    fn bad_entries_are_rejected_with_a_reason() {
        assert!(matcher("name: x")
            .unwrap_err()
            .contains("at least one of comm, exe, cmdline"));
        assert!(matcher("cmdline: ['(']")
            .unwrap_err()
            .contains("invalid regex"));
        assert!(matcher("comm: [a]\nname: '{{.Nope}}'")
            .unwrap_err()
            .contains("unknown template variable"));
        assert!(matcher("comm: [a]\nname: '{{.Matches.x}}'")
            .unwrap_err()
            .contains("names no capture group"));
        assert!(matcher("comm: [a]\nbogus: 1")
            .unwrap_err()
            .contains("bogus"));
    }

    #[test]
    fn only_entries_that_look_at_argv_need_the_cmdline() {
        assert!(!matcher("comm: [a]\nname: '{{.Comm}}'")
            .unwrap()
            .needs_cmdline());
        // The default name is process-exporter's, argv[0]'s base name.
        assert!(matcher("comm: [a]").unwrap().needs_cmdline());
        assert!(!matcher("comm: [a]\nname: '{{.Comm}}-{{.PID}}'")
            .unwrap()
            .needs_cmdline());
        assert!(matcher("comm: [a]\nname: '{{.ExeBase}}'")
            .unwrap()
            .needs_cmdline());
        assert!(matcher("exe: [a]").unwrap().needs_cmdline());
        assert!(matcher("cmdline: [a]").unwrap().needs_cmdline());
    }
}
