//! The HTML landing page at `/`: what this is, its version, and links, like node_exporter's.

use crate::scrape::Scraper;

/// Renders the landing page.
pub fn render(telemetry_path: &str, scraper: &Scraper) -> String {
    let collectors = scraper
        .collector_names()
        .iter()
        .map(|n| format!("<li><code>{n}</code></li>"))
        .collect::<String>();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hale</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 50em; padding: 0 1em; color: #222; }}
code {{ background: #f3f3f3; padding: 0 .2em; }}
</style>
</head>
<body>
<h1>hale</h1>
<p>Prometheus companion for Docker hosts: host, process and container metrics, health, and safe healing.</p>
<p>Version <code>{version}</code>, revision <code>{revision}</code>.</p>
<ul>
<li><a href="{path}">{path}</a>: metrics for Prometheus</li>
</ul>
<h2>Enabled collectors</h2>
<ul>{collectors}</ul>
</body>
</html>
"#,
        version = env!("CARGO_PKG_VERSION"),
        revision = env!("HALE_REVISION"),
        path = html_escape(telemetry_path),
    )
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
