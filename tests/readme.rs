//! The README's examples work as written: every YAML block that is a hale config file passes
//! `hale check-config` (issue 13.6: the README's own `retention: 30d` was refused), and every
//! other YAML block is one of the foreign formats the README names, parsed by its own loader.

mod common;

use common::{run_hale, stderr_of, temp_file};

/// The top-level keys of hale's config file.
const SECTIONS: &[&str] = &["process_names", "docker", "health", "heal", "web"];

/// The YAML blocks of the README, with the line each starts on.
fn yaml_blocks() -> Vec<(usize, String)> {
    let readme = include_str!("../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```yaml") => {
                current = Some((i + 1, String::new()))
            }
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    blocks
}

/// The block with every `*_file:` path that names a file on the author's machine (a token, a
/// password) pointed at a real file instead, so the check reads a secret as serve would.
fn with_real_secret_files(block: &str, dir: &std::path::Path) -> String {
    block
        .lines()
        .map(|line| {
            let Some((key, rest)) = line.split_once("_file: ") else {
                return line.to_string();
            };
            let path = rest.split_whitespace().next().unwrap_or("");
            if !path.starts_with('/') {
                return line.to_string();
            }
            let real = dir.join(path.trim_start_matches('/').replace('/', "_"));
            std::fs::write(&real, "s3cret\n").unwrap();
            format!("{key}_file: {}{}", real.display(), &rest[path.len()..])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_config_example_in_the_readme_passes_check_config() {
    let blocks = yaml_blocks();
    assert!(blocks.len() >= 5, "found {} YAML blocks", blocks.len());
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (line, block) in &blocks {
        let top: Vec<&str> = block
            .lines()
            .filter(|l| !l.starts_with([' ', '#', '-']) && l.contains(':'))
            .filter_map(|l| l.split(':').next())
            .collect();
        if top.iter().all(|k| SECTIONS.contains(k)) {
            let file = temp_file(&with_real_secret_files(block, dir.path()));
            let out = run_hale(&["check-config", file.path().to_str().unwrap()]);
            assert!(
                out.status.success(),
                "README line {line}: {}\n{block}",
                stderr_of(&out)
            );
            checked += 1;
        } else if top.contains(&"receivers") || top.contains(&"route") {
            // Alertmanager's config: a fragment; it must at least be YAML.
            serde_saphyr::from_str::<serde_json::Value>(block)
                .unwrap_or_else(|e| panic!("README line {line}: {e}"));
        } else if top.contains(&"tls_server_config") || top.contains(&"basic_auth_users") {
            // exporter-toolkit's web config: hale's loader knows every key of it.
            hale::web::config::WebConfigFile::parse(block)
                .unwrap_or_else(|e| panic!("README line {line}: {e}"));
        } else {
            panic!("README line {line}: a YAML block of no known format (keys {top:?})");
        }
    }
    assert!(checked >= 5, "only {checked} config blocks were checked");
}

/// The README's compatibility paragraph names exactly the collectors node_exporter 1.5 enables
/// by default that hale does not have: it grows shorter as collectors land, never out of date.
#[test]
fn the_readme_lists_exactly_the_node_exporter_collectors_hale_lacks() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let list = flat
        .split_once("stay empty on hale: ")
        .and_then(|(_, rest)| rest.split_once('.'))
        .map(|(list, _)| list)
        .expect("the README's list of node_exporter collectors hale lacks");
    let mut listed: Vec<&str> = list
        .split(", ")
        .flat_map(|c| c.split(" and "))
        .map(str::trim)
        .collect();
    listed.sort_unstable();
    let ours: Vec<&str> = hale::collector::SPECS.iter().map(|s| s.name).collect();
    let mut lacking: Vec<&str> = hale::collector::NODE_EXPORTER_DEFAULTS
        .iter()
        .copied()
        .filter(|c| !ours.contains(c))
        .collect();
    lacking.sort_unstable();
    assert_eq!(listed, lacking);
}
