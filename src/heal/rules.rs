//! Heal rules: which alerts lead to which action on which target, and the allow-list that
//! bounds them. Matching follows Alertmanager's matchers (equality, and regexes anchored at both
//! ends); the target is read from a label the rule names, and a container target must pass the
//! rule's allow-list (name globs and/or a required container label), so a label value can never
//! name a container outside it. A rule that acts on containers without an allow-list is a config
//! error: hale refuses to be a remote control for the Docker socket.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::payload::{Alert, AlertStatus};
use crate::docker::LabelSelector;

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Restart,
    Stop,
    Start,
    Kill,
    Exec,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Restart => "restart",
            ActionKind::Stop => "stop",
            ActionKind::Start => "start",
            ActionKind::Kill => "kill",
            ActionKind::Exec => "exec",
        }
    }

    /// Whether the target is a container.
    pub fn on_container(self) -> bool {
        self != ActionKind::Exec
    }
}

/// Signals a `kill` action may send.
const SIGNALS: &[&str] = &[
    "SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2",
];

/// The containers a rule may act on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// Container name globs (`*`, `?`, `[...]`).
    #[serde(default)]
    pub names: Vec<String>,
    /// A label the container must carry: `key` or `key=value`.
    #[serde(default)]
    pub label: Option<LabelSelector>,
}

/// One heal rule as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default, rename = "match")]
    equal: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    #[serde(default = "firing_only")]
    on: Vec<AlertStatus>,
    #[serde(default = "default_target_label")]
    target_label: String,
    action: ActionKind,
    #[serde(default)]
    signal: Option<String>,
    #[serde(default)]
    argv: Vec<String>,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::de::positive_duration"
    )]
    timeout: Duration,
    #[serde(default)]
    allow: Allow,
    #[serde(default)]
    dry_run: bool,
}

fn firing_only() -> Vec<AlertStatus> {
    vec![AlertStatus::Firing]
}
fn default_target_label() -> String {
    "name".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// A validated heal rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRule")]
pub struct Rule {
    pub name: String,
    equal: BTreeMap<String, String>,
    match_re: Vec<(String, Regex)>,
    pub on: Vec<AlertStatus>,
    pub target_label: String,
    pub action: ActionKind,
    /// For `kill`: the signal (default SIGKILL).
    pub signal: String,
    /// For `exec`: the command; alert labels and annotations reach it only as environment.
    pub argv: Vec<String>,
    pub timeout: Duration,
    allow_names: Vec<glob::Pattern>,
    allow_label: Option<LabelSelector>,
    pub dry_run: bool,
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(r: RawRule) -> Result<Self, String> {
        let at = |msg: String| format!("heal rule {:?}: {msg}", r.name);
        if r.name.is_empty() {
            return Err("a heal rule needs a name".into());
        }
        if r.equal.is_empty() && r.match_re.is_empty() {
            return Err(at(
                "needs `match` or `match_re`; a rule for every alert is a mistake".into(),
            ));
        }
        let match_re = r
            .match_re
            .iter()
            .map(|(k, v)| {
                Regex::new(&format!("^(?:{v})$"))
                    .map(|re| (k.clone(), re))
                    .map_err(|e| at(format!("match_re.{k}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let allow_names = r
            .allow
            .names
            .iter()
            .map(|g| glob::Pattern::new(g).map_err(|e| at(format!("allow.names {g:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if r.action.on_container() && allow_names.is_empty() && r.allow.label.is_none() {
            return Err(at(format!(
                "action {} needs an allow-list (allow.names and/or allow.label)",
                r.action.as_str()
            )));
        }
        let signal = match (r.action, r.signal) {
            (ActionKind::Kill, None) => "SIGKILL".to_string(),
            (ActionKind::Kill, Some(s)) => {
                let s = if s.starts_with("SIG") {
                    s
                } else {
                    format!("SIG{s}")
                };
                if !SIGNALS.contains(&s.as_str()) {
                    return Err(at(format!("signal {s}: use one of {}", SIGNALS.join(", "))));
                }
                s
            }
            (_, Some(_)) => return Err(at("`signal` is for the kill action".into())),
            (_, None) => String::new(),
        };
        match (r.action, r.argv.is_empty()) {
            (ActionKind::Exec, true) => return Err(at("action exec needs argv".into())),
            (ActionKind::Exec, false) => {}
            (_, false) => return Err(at("`argv` is for the exec action".into())),
            (_, true) => {}
        }
        if r.on.is_empty() {
            return Err(at("`on` is empty: the rule would never act".into()));
        }
        Ok(Rule {
            name: r.name,
            equal: r.equal,
            match_re,
            on: r.on,
            target_label: r.target_label,
            action: r.action,
            signal,
            argv: r.argv,
            timeout: r.timeout,
            allow_names,
            allow_label: r.allow.label,
            dry_run: r.dry_run,
        })
    }
}

/// A container as the policy sees it when judging.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetView {
    /// Docker's container ID: what an action touches, so a container that replaces this one
    /// under the same name is never acted on by a decision made about this one.
    pub id: String,
    pub labels: std::collections::HashMap<String, String>,
    pub running: bool,
    pub exit: Option<crate::docker::ExitCause>,
}

/// The answer to "what is container X?".
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Nobody asked Docker (`hale heal simulate`): checks that need the container are skipped.
    Unknown,
    /// Docker has no such container.
    Missing,
    Found(TargetView),
}

/// What a rule makes of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The rule does not apply (labels do not match, or not for this status).
    NoMatch,
    /// The rule applies and may act on this target: for a container action, the container with
    /// this ID (`None` only when Docker was not asked, as in `hale heal simulate`).
    Act {
        target: String,
        container_id: Option<String>,
    },
    /// The rule applies but the target is refused.
    Denied { target: String, reason: String },
}

/// Docker's container name rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`): a label value outside it cannot
/// name a container, whatever the allow-list says.
fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Rule {
    /// Whether the alert's labels match (every equality and every anchored regex; a missing
    /// label is the empty string, as in Alertmanager).
    pub fn matches(&self, alert: &Alert) -> bool {
        let get = |k: &str| alert.labels.get(k).map_or("", String::as_str);
        self.on.contains(&alert.status)
            && self.equal.iter().all(|(k, v)| get(k) == v)
            && self.match_re.iter().all(|(k, re)| re.is_match(get(k)))
    }

    /// Judges an alert. `lookup` finds a container by name, for `allow.label`.
    pub fn judge(&self, alert: &Alert, lookup: impl Fn(&str) -> Lookup) -> Verdict {
        if !self.matches(alert) {
            return Verdict::NoMatch;
        }
        let target = alert
            .labels
            .get(&self.target_label)
            .cloned()
            .unwrap_or_default();
        if !self.action.on_container() {
            // An exec's target is only a name for cooldowns and the audit log.
            let target = if target.is_empty() {
                self.name.clone()
            } else {
                target
            };
            return Verdict::Act {
                target,
                container_id: None,
            };
        }
        let deny = |reason: String| Verdict::Denied {
            target: target.clone(),
            reason,
        };
        if target.is_empty() {
            return deny(format!("the alert has no {:?} label", self.target_label));
        }
        if let Err(reason) = self.admits_name(&target) {
            return deny(reason);
        }
        // A target Docker does not have is denied here, so it never takes a queue slot.
        match lookup(&target) {
            Lookup::Missing => deny("no such container".into()),
            Lookup::Found(v) => match self.admits_labels(&v.labels) {
                Err(reason) => deny(reason),
                Ok(()) => Verdict::Act {
                    target,
                    container_id: Some(v.id),
                },
            },
            Lookup::Unknown => Verdict::Act {
                target,
                container_id: None,
            },
        }
    }

    /// Whether the allow-list admits a container by this name (the name check alone).
    fn admits_name(&self, name: &str) -> Result<(), String> {
        if !valid_container_name(name) {
            return Err(format!("{name:?} is not a container name"));
        }
        if !self.allow_names.is_empty() && !self.allow_names.iter().any(|p| p.matches(name)) {
            return Err("the container name is not in allow.names".into());
        }
        Ok(())
    }

    fn admits_labels(
        &self,
        labels: &std::collections::HashMap<String, String>,
    ) -> Result<(), String> {
        match &self.allow_label {
            Some(selector) if !selector.matches(labels) => {
                Err(format!("the container lacks the label {}", selector.key))
            }
            _ => Ok(()),
        }
    }

    /// Whether the allow-list admits this container, by its name and its labels as Docker
    /// reports them now: checked when an alert is judged and again before every attempt.
    pub fn admits(
        &self,
        name: &str,
        labels: &std::collections::HashMap<String, String>,
    ) -> Result<(), String> {
        self.admits_name(name)?;
        self.admits_labels(labels)
    }

    /// The built-in rule of autoheal: restart a container carrying `label` when hale's own
    /// synthetic `HaleAutoheal` alert names it.
    pub fn autoheal(label: LabelSelector, timeout: Duration) -> Rule {
        Rule {
            name: super::AUTOHEAL_RULE.to_string(),
            equal: BTreeMap::from([("alertname".to_string(), super::AUTOHEAL_ALERT.to_string())]),
            match_re: Vec::new(),
            on: firing_only(),
            target_label: default_target_label(),
            action: ActionKind::Restart,
            signal: String::new(),
            argv: Vec::new(),
            timeout,
            allow_names: Vec::new(),
            allow_label: Some(label),
            dry_run: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn rule(yaml: &str) -> Result<Rule, String> {
        serde_saphyr::from_str::<Rule>(yaml).map_err(|e| e.to_string())
    }

    fn alert(status: AlertStatus, labels: &[(&str, &str)]) -> Alert {
        Alert {
            status,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: BTreeMap::new(),
            starts_at: "2026-11-23T04:00:00Z".into(),
            ends_at: String::new(),
            generator_url: String::new(),
            fingerprint: "f".into(),
            origin: Default::default(),
        }
    }

    const RESTART: &str = "name: restart-unhealthy
match: {alertname: ContainerUnhealthy}
match_re: {severity: 'critical|warning'}
action: restart
allow: {names: ['web-*', 'api-?']}
";

    #[test]
    fn matches_like_alertmanager_and_resolves_the_target_through_the_allow_list() {
        let r = rule(RESTART).unwrap();
        let no_labels = |name: &str| {
            Lookup::Found(TargetView {
                id: format!("id-of-{name}"),
                ..TargetView::default()
            })
        };
        let firing = |name: &str, sev: &str| {
            alert(
                AlertStatus::Firing,
                &[
                    ("alertname", "ContainerUnhealthy"),
                    ("severity", sev),
                    ("name", name),
                ],
            )
        };
        assert_eq!(
            r.judge(&firing("web-1", "critical"), no_labels),
            Verdict::Act {
                target: "web-1".into(),
                container_id: Some("id-of-web-1".into()),
            }
        );
        assert_eq!(
            r.judge(&firing("api-2", "warning"), no_labels),
            Verdict::Act {
                target: "api-2".into(),
                container_id: Some("id-of-api-2".into()),
            }
        );
        // Issue 13.8: a name in the allow-list that Docker does not have is denied as such.
        match r.judge(&firing("web-ghost", "critical"), |_: &str| Lookup::Missing) {
            Verdict::Denied { reason, .. } => assert_eq!(reason, "no such container"),
            other => panic!("{other:?}"),
        }
        // Regexes are anchored: "critical-ish" does not match critical|warning.
        assert_eq!(
            r.judge(&firing("web-1", "critical-ish"), no_labels),
            Verdict::NoMatch
        );
        // Resolved alerts do not act unless the rule says so.
        let mut resolved = firing("web-1", "critical");
        resolved.status = AlertStatus::Resolved;
        assert_eq!(r.judge(&resolved, no_labels), Verdict::NoMatch);
        // Outside the allow-list, or not a container name at all: denied.
        for (name, why) in [
            ("db-1", "not in allow.names"),
            ("api-10", "not in allow.names"),
            ("web-1;rm -rf /", "not a container name"),
            ("../web-1", "not a container name"),
            ("", "no \"name\" label"),
        ] {
            match r.judge(&firing(name, "critical"), no_labels) {
                Verdict::Denied { reason, .. } => assert!(reason.contains(why), "{name}: {reason}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_required_label_is_checked_on_the_container() {
        let r = rule(
            "name: r\nmatch: {alertname: X}\naction: stop\nallow: {label: 'hale.heal=true'}\n",
        )
        .unwrap();
        let a = alert(AlertStatus::Firing, &[("alertname", "X"), ("name", "svc")]);
        let labelled = |_: &str| {
            Lookup::Found(TargetView {
                id: "abc".into(),
                labels: HashMap::from([("hale.heal".to_string(), "true".to_string())]),
                ..TargetView::default()
            })
        };
        let unlabelled = |_: &str| Lookup::Found(TargetView::default());
        assert_eq!(
            r.judge(&a, labelled),
            Verdict::Act {
                target: "svc".into(),
                container_id: Some("abc".into()),
            }
        );
        assert!(matches!(r.judge(&a, unlabelled), Verdict::Denied { .. }));
        assert!(matches!(
            r.judge(&a, |_: &str| Lookup::Missing),
            Verdict::Denied { .. }
        ));
        // A simulation does not ask Docker, so it cannot deny on labels.
        assert!(matches!(
            r.judge(&a, |_: &str| Lookup::Unknown),
            Verdict::Act { .. }
        ));
    }

    #[test]
    fn unsafe_or_inconsistent_rules_are_config_errors() {
        for (yaml, why) in [
            (
                "name: r\nmatch: {a: b}\naction: restart\n",
                "needs an allow-list",
            ),
            ("name: r\naction: exec\nargv: [x]\n", "needs `match`"),
            ("name: r\nmatch: {a: b}\naction: exec\n", "needs argv"),
            (
                "name: r\nmatch: {a: b}\naction: kill\nsignal: SIGBOGUS\nallow: {names: ['*']}\n",
                "use one of",
            ),
            (
                "name: r\nmatch: {a: b}\naction: stop\nsignal: TERM\nallow: {names: ['*']}\n",
                "is for the kill action",
            ),
            (
                "name: r\nmatch: {a: b}\naction: stop\nargv: [x]\nallow: {names: ['*']}\n",
                "is for the exec action",
            ),
            (
                "name: r\nmatch_re: {a: '('}\naction: exec\nargv: [x]\n",
                "match_re.a",
            ),
            (
                "name: r\nmatch: {a: b}\naction: exec\nargv: [x]\non: []\n",
                "never act",
            ),
            ("name: r\nmatch: {a: b}\naction: reboot\n", "reboot"),
        ] {
            let err = rule(yaml).unwrap_err();
            assert!(err.contains(why), "{yaml}: {err}");
        }
        let kill =
            rule("name: r\nmatch: {a: b}\naction: kill\nsignal: HUP\nallow: {names: ['*']}\n")
                .unwrap();
        assert_eq!(kill.signal, "SIGHUP");
    }

    #[test]
    fn exec_targets_are_names_not_containers() {
        let r = rule("name: flush\nmatch: {alertname: Q}\non: [firing, resolved]\naction: exec\nargv: [/bin/true]\n").unwrap();
        let a = alert(AlertStatus::Resolved, &[("alertname", "Q")]);
        assert_eq!(
            r.judge(&a, |_: &str| Lookup::Missing),
            Verdict::Act {
                target: "flush".into(),
                container_id: None,
            }
        );
    }
}
