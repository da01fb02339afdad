//! The HTML landing page at `/`: what this is, its version, links, the current health and
//! healing at a glance, like node_exporter's page with hale's state on it.
//!
//! The page is public, so it shows only what the public endpoints show: the overall health
//! status (and the checks when `/health` shows details to anyone), and healing's counts by
//! result. Targets and alert names appear only when `/heal/events` needs no credentials either.
//! Everything from outside (check outputs, names, details) is HTML-escaped.

use std::fmt::Write;

use crate::heal::engine::Overview;
use crate::health::Report;
use crate::scrape::Scraper;

/// What the page shows.
pub struct Page<'a> {
    pub telemetry_path: &'a str,
    pub scraper: &'a Scraper,
    pub health: &'a Report,
    /// Whether `/health` shows its checks without credentials.
    pub health_details: bool,
    /// `None` when healing is not configured; `Some(Err)` when the audit log cannot be read.
    pub heal: Option<Result<Overview, String>>,
}

/// Renders the landing page.
pub fn render(page: &Page) -> String {
    let collectors = page
        .scraper
        .collector_names()
        .iter()
        .map(|n| format!("<li><code>{n}</code></li>"))
        .collect::<String>();
    let mut links = format!(
        r#"<li><a href="{path}">{path}</a>: metrics for Prometheus</li>
<li><a href="/health">/health</a>: health in <code>application/health+json</code> (<a href="/health/live">live</a>, <a href="/health/ready">ready</a>)</li>
"#,
        path = html_escape(page.telemetry_path),
    );
    if page.heal.is_some() {
        links.push_str(
            r#"<li><a href="/heal/events">/heal/events</a>: the healing audit log (credentials required unless disabled)</li>
"#,
        );
        if !matches!(&page.heal, Some(Ok(o)) if !o.webhook) {
            links.push_str(
                "<li><code>POST /webhook/alertmanager</code>: Alertmanager's webhook</li>\n",
            );
        }
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hale</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }}
code {{ background: #f3f3f3; padding: 0 .2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .2em .6em; text-align: left; vertical-align: top; }}
.pass {{ color: #1a7f37; }} .warn {{ color: #9a6700; }} .fail {{ color: #cf222e; }}
</style>
</head>
<body>
<h1>hale</h1>
<p>Prometheus companion for Docker hosts: host, process and container metrics, health, and safe healing.</p>
<p>Version <code>{version}</code>, revision <code>{revision}</code>.</p>
<ul>
{links}</ul>
<h2>Health</h2>
{health}<h2>Healing</h2>
{heal}<h2>Enabled collectors</h2>
<ul>{collectors}</ul>
</body>
</html>
"#,
        version = env!("CARGO_PKG_VERSION"),
        revision = env!("HALE_REVISION"),
        health = health_section(page.health, page.health_details),
        heal = heal_section(page.heal.as_ref()),
    )
}

fn health_section(report: &Report, details: bool) -> String {
    if !report.sampled {
        return "<p>No sample yet.</p>\n".to_string();
    }
    let status = report.status.as_str();
    let mut out = format!(r#"<p>Status: <strong class="{status}">{status}</strong></p>"#);
    out.push('\n');
    if !details {
        out.push_str("<p>Checks are shown to holders of the details token only.</p>\n");
        return out;
    }
    out.push_str("<table>\n<tr><th>check</th><th>status</th><th>value</th><th>output</th></tr>\n");
    for c in &report.checks {
        let status = c.status.as_str();
        let _ = writeln!(
            out,
            r#"<tr><td><code>{key}</code> {id}</td><td class="{status}">{status}</td><td>{value} {unit}</td><td>{output}</td></tr>"#,
            key = html_escape(&c.key),
            id = html_escape(&c.component_id),
            value = c.value,
            unit = html_escape(c.unit),
            output = html_escape(c.output.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table>\n");
    out
}

fn heal_section(heal: Option<&Result<Overview, String>>) -> String {
    let o = match heal {
        None => return "<p>Not configured (see <code>heal</code> in the config).</p>\n".into(),
        Some(Err(e)) => {
            return format!(
                "<p class=\"fail\">The audit log cannot be read: {}</p>\n",
                html_escape(e)
            )
        }
        Some(Ok(o)) => o,
    };
    let sources = match (o.webhook, o.pull_peers) {
        (true, 0) => "alerts by webhook".to_string(),
        (true, n) => format!("alerts by webhook and pulled from {n} Alertmanager peer(s)"),
        (false, n) => format!("alerts pulled from {n} Alertmanager peer(s); the webhook is off"),
    };
    let mut out = format!(
        "<p>{} rule(s); {sources}; autoheal {}; dry-run {}.</p>\n",
        o.rules,
        if o.autoheal { "on" } else { "off" },
        if o.dry_run {
            "on: nothing is done"
        } else {
            "off"
        },
    );
    if o.counts.is_empty() {
        out.push_str("<p>No decisions in the last 24 hours.</p>\n");
    } else {
        let counts = o
            .counts
            .iter()
            .map(|(outcome, n)| format!("{n} <code>{}</code>", outcome.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "<p>Last 24 hours: {counts}.</p>");
    }
    if let Some(recent) = &o.recent {
        out.push_str(
            "<table>\n<tr><th>time</th><th>rule</th><th>alert</th><th>target</th><th>action</th><th>result</th><th>detail</th></tr>\n",
        );
        for d in recent {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(&d.time_rfc3339()),
                html_escape(&d.rule),
                html_escape(&d.alertname),
                html_escape(&d.target),
                html_escape(&d.action),
                d.outcome.as_str(),
                html_escape(&d.detail),
            );
        }
        out.push_str("</table>\n");
    }
    out
}

/// Escapes text for HTML element and attribute content.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::decision::{Decision, Outcome};
    use crate::health::{Check, Status};

    fn report(checks: Vec<Check>) -> Report {
        Report {
            sampled: true,
            status: Status::Warn,
            checks,
            full: Default::default(),
            summary: Default::default(),
            ready: (Status::Pass, Default::default()),
        }
    }

    #[test]
    fn outside_text_is_escaped_and_details_follow_the_health_setting() {
        let check = Check {
            key: "disk:utilization".into(),
            component_id: "/mnt/<b>".into(),
            component_type: "system",
            value: 91.0,
            unit: "percent",
            status: Status::Warn,
            output: Some("<script>alert(1)</script>".into()),
            critical: false,
            affected: Vec::new(),
        };
        let r = report(vec![check]);
        let open = health_section(&r, true);
        assert!(
            open.contains(r#"<strong class="warn">warn</strong>"#),
            "{open}"
        );
        assert!(open.contains("&lt;script&gt;"), "{open}");
        assert!(!open.contains("<script>"), "{open}");
        assert!(open.contains("/mnt/&lt;b&gt;"), "{open}");
        let closed = health_section(&r, false);
        assert!(!closed.contains("disk:utilization"), "{closed}");
        assert!(closed.contains("warn"), "{closed}");
    }

    #[test]
    fn healing_shows_counts_and_public_events_only() {
        let event = Decision {
            time: 1_795_000_000.0,
            rule: "restart".into(),
            alertname: "ContainerUnhealthy".into(),
            fingerprint: "f".into(),
            target: "web\"><img>".into(),
            action: "restart".into(),
            outcome: Outcome::Succeeded,
            duration: Some(0.5),
            detail: String::new(),
            source: Default::default(),
            peer: String::new(),
        };
        let mut o = Overview {
            rules: 2,
            autoheal: true,
            dry_run: false,
            webhook: false,
            pull_peers: 2,
            counts: vec![(Outcome::Executed, 3), (Outcome::Succeeded, 2)],
            recent: None,
        };
        let private = heal_section(Some(&Ok(o.clone())));
        assert!(
            private.contains("3 <code>executed</code>, 2 <code>succeeded</code>"),
            "{private}"
        );
        assert!(
            private.contains("alerts pulled from 2 Alertmanager peer(s); the webhook is off"),
            "{private}"
        );
        assert!(!private.contains("img"), "targets stay private: {private}");
        o.recent = Some(vec![event]);
        let public = heal_section(Some(&Ok(o)));
        assert!(public.contains("web&quot;&gt;&lt;img&gt;"), "{public}");
        assert!(public.contains("2026-"), "{public}");
        assert!(heal_section(None).contains("Not configured"));
        let broken = heal_section(Some(&Err("disk <gone>".into())));
        assert!(broken.contains("disk &lt;gone&gt;"), "{broken}");
    }
}
