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

/// The README's text, whitespace flattened.
fn flat_readme() -> String {
    let readme = std::fs::read_to_string("README.md").unwrap();
    readme.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The README's compatibility section names exactly node_exporter 1.5's default collectors, hale
/// has each of them, and the collectors table has a row for each.
#[test]
fn the_readme_names_node_exporters_default_collectors_and_hale_has_each() {
    let flat = flat_readme();
    let list = flat
        .split_once("every collector node_exporter 1.5 enables by default on Linux (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list)
        .expect("the README's list of node_exporter's default collectors");
    let mut listed: Vec<&str> = list.split(", ").map(str::trim).collect();
    listed.sort_unstable();
    let mut defaults = hale::collector::NODE_EXPORTER_DEFAULTS.to_vec();
    defaults.sort_unstable();
    assert_eq!(listed, defaults);
    let ours: Vec<&str> = hale::collector::SPECS.iter().map(|s| s.name).collect();
    let readme = std::fs::read_to_string("README.md").unwrap();
    for c in defaults {
        assert!(ours.contains(&c), "hale has no {c} collector");
        assert!(
            readme.contains(&format!("| `{c}` | on |")),
            "the collectors table has no row for {c}"
        );
    }
}

/// The names in backticks in a Markdown table cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The README's cAdvisor table against cAdvisor's own list (`tests/fixtures/cadvisor`, from its
/// source) and against what hale exports: every cAdvisor family in exactly one row, the row's
/// default as cAdvisor's, "yes" exactly for the families hale exports, with cAdvisor's type;
/// and hale exports no `container_*`/`machine_*` family cAdvisor does not have.
#[test]
fn the_readme_cadvisor_table_matches_cadvisor_and_hale() {
    use std::collections::BTreeMap;
    let tsv = std::fs::read_to_string("tests/fixtures/cadvisor/families.tsv").unwrap();
    // name -> (type, on by default)
    let cadvisor: BTreeMap<String, (String, bool)> = tsv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), (f[1].to_string(), f[3] == "default"))
        })
        .collect();
    assert!(cadvisor.len() > 100, "{}", cadvisor.len());

    // What hale exports under cAdvisor-style names: the docker collector's families, and the
    // machine collector's as a running hale serves them.
    let mut hale: BTreeMap<String, String> = hale::collector::docker::exported_families()
        .into_iter()
        .filter(|(n, _)| n.starts_with("container_") || n.starts_with("machine_"))
        .map(|(n, t)| (n, t.to_string()))
        .collect();
    let server = common::Hale::start(&["--collector.disable-defaults", "--collector.machine"]);
    let body = common::get(&server.url("/metrics"), None).body;
    for line in body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE machine_"))
    {
        let mut f = line.split_whitespace();
        let (name, kind) = (f.next().unwrap(), f.next().unwrap());
        hale.insert(format!("machine_{name}"), kind.to_string());
    }
    for (name, kind) in &hale {
        let (theirs, _) = cadvisor
            .get(name)
            .unwrap_or_else(|| panic!("hale exports {name}, which cAdvisor does not have"));
        assert_eq!(kind, theirs, "{name}: hale's type is not cAdvisor's");
    }

    let readme = std::fs::read_to_string("README.md").unwrap();
    let table = readme
        .split_once("| cAdvisor families | in cAdvisor by default | hale |\n|---|---|---|\n")
        .and_then(|(_, rest)| rest.split_once("\n\n"))
        .map(|(table, _)| table)
        .expect("the README's cAdvisor table");
    let mut seen = BTreeMap::new();
    for row in table.lines() {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 3, "{row}");
        let default = match cells[1] {
            "yes" => true,
            "no" => false,
            other => panic!("{row}: default {other:?}"),
        };
        let exported = if cells[2].starts_with("yes") {
            true
        } else if cells[2].starts_with("no: ") {
            false
        } else {
            panic!("{row}: the hale cell says neither `yes` nor `no: <reason>`")
        };
        for name in backticked(cells[0]) {
            let (_, on) = cadvisor
                .get(&name)
                .unwrap_or_else(|| panic!("{name}: not a cAdvisor family"));
            assert_eq!(*on, default, "{name}: cAdvisor's default is not the row's");
            assert_eq!(
                hale.contains_key(&name),
                exported,
                "{name}: the README says hale exports it: {exported}"
            );
            assert!(
                seen.insert(name.clone(), ()).is_none(),
                "{name} is in two rows"
            );
        }
    }
    let missing: Vec<&String> = cadvisor.keys().filter(|n| !seen.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "cAdvisor families the table leaves out: {missing:?}"
    );
}
