//! One truth for configuration.
//!
//! `KNOWN_VARS` in `src/config/vars.rs` is the list of environment variables the service
//! reads. Three other places name them for people: `.env.example`, the Helm chart
//! (`helm/oidc-session/values.yaml` and `templates/`) and the configuration table in
//! `README.md` (its rows start with "| `OIDC_"). These tests fail as soon as any of them
//! names a variable that the others lack, and say what to add or remove where.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use oidc_session::config::vars::{KNOWN_VARS, SECRET_VARS};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn known() -> BTreeSet<String> {
    KNOWN_VARS.iter().map(|s| s.to_string()).collect()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

/// Every `OIDC_…` variable name in `text`: the prefix at a word start followed by upper-case
/// letters, digits and underscores. A bare prefix (`OIDC_*`, `OIDC_REDIS_*`) is not a name.
fn names_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("OIDC_") {
        let start = from + found;
        let preceded_by_word = text[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let len = text[start..]
            .find(|c: char| !is_name_char(c))
            .unwrap_or(text.len() - start);
        let name = &text[start..start + len];
        if !preceded_by_word && name.len() > "OIDC_".len() && !name.ends_with('_') {
            names.push(name.to_string());
        }
        from = start + len.max(1);
    }
    names
}

/// `.env.example`: the variables it assigns, commented out (`# OIDC_X=…`) or not, in order.
fn env_example_assignments() -> Vec<(String, bool)> {
    read(".env.example")
        .lines()
        .filter_map(|line| {
            let trimmed = line.trim_start();
            let (commented, rest) = match trimmed.strip_prefix('#') {
                Some(rest) => (true, rest.trim_start()),
                None => (false, trimmed),
            };
            let (name, _value) = rest.split_once('=')?;
            let is_name = name.starts_with("OIDC_") && name.chars().all(is_name_char);
            is_name.then(|| (name.to_string(), commented))
        })
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The chart: every variable name in values.yaml and in the templates. (The chart's ci/
/// values files are examples, not the chart, and are not read.)
fn chart_names() -> BTreeMap<String, BTreeSet<String>> {
    let chart = repo_root().join("helm/oidc-session");
    let mut files = vec![chart.join("values.yaml")];
    files_under(&chart.join("templates"), &mut files);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let shown = file.strip_prefix(repo_root()).unwrap_or(&file).display().to_string();
        for name in names_in(&text) {
            found.entry(name).or_default().insert(shown.clone());
        }
    }
    found
}

/// README.md's configuration table: the names in the first cell of every row that starts
/// with "| `OIDC_", one entry per row.
fn readme_rows() -> Vec<Vec<String>> {
    let path = repo_root().join("README.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. README.md must carry the configuration table.",
            path.display()
        )
    });
    text.lines()
        .filter(|line| line.starts_with("| `OIDC_"))
        .map(|line| {
            let first_cell = line[1..].split('|').next().unwrap_or("");
            names_in(first_cell)
        })
        .collect()
}

/// A failure message naming what is missing and what is extra in `place`.
fn difference_report(place: &str, found: &BTreeSet<String>, missing_hint: &str, extra_hint: &str) -> Option<String> {
    let known = known();
    let missing: Vec<_> = known.difference(found).cloned().collect();
    let extra: Vec<_> = found.difference(&known).cloned().collect();
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let mut report = format!("{place} disagrees with KNOWN_VARS (src/config/vars.rs):\n");
    if !missing.is_empty() {
        report += &format!("  missing from {place}: {}\n    → {missing_hint}\n", missing.join(", "));
    }
    if !extra.is_empty() {
        report += &format!(
            "  in {place} but not in KNOWN_VARS: {}\n    → {extra_hint}\n",
            extra.join(", ")
        );
    }
    Some(report)
}

fn duplicates<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut dupes = BTreeSet::new();
    for name in names {
        if !seen.insert(name.clone()) {
            dupes.insert(name.clone());
        }
    }
    dupes.into_iter().collect()
}

#[test]
fn known_variables_are_listed_once_each_and_all_carry_the_prefix() {
    let all: Vec<String> = KNOWN_VARS.iter().map(|s| s.to_string()).collect();
    assert_eq!(duplicates(&all), Vec::<String>::new(), "KNOWN_VARS lists these twice");
    for name in &all {
        assert_eq!(
            names_in(name),
            vec![name.clone()],
            "`{name}` in KNOWN_VARS is not an OIDC_ variable name (OIDC_ + A-Z, 0-9, _)"
        );
    }
}

#[test]
fn every_secret_variable_is_a_known_variable() {
    let known = known();
    let unknown: Vec<_> = SECRET_VARS.iter().filter(|s| !known.contains(**s)).collect();
    assert!(
        unknown.is_empty(),
        "SECRET_VARS names variables KNOWN_VARS lacks: {unknown:?}"
    );
}

#[test]
fn env_example_names_exactly_the_known_variables() {
    let assignments = env_example_assignments();
    let names: Vec<String> = assignments.iter().map(|(n, _)| n.clone()).collect();
    let dupes = duplicates(&names);
    assert!(dupes.is_empty(), ".env.example assigns these more than once: {dupes:?}");
    let found: BTreeSet<String> = names.into_iter().collect();
    if let Some(report) = difference_report(
        ".env.example",
        &found,
        "add each with a comment (meaning, default, example), commented out unless required",
        "remove them from .env.example, or add them to KNOWN_VARS if the service reads them",
    ) {
        panic!("{report}");
    }
}

#[test]
fn env_example_sets_no_secret_variable() {
    let set_secrets: Vec<_> = env_example_assignments()
        .into_iter()
        .filter(|(name, commented)| !commented && SECRET_VARS.contains(&name.as_str()))
        .map(|(name, _)| name)
        .collect();
    assert!(
        set_secrets.is_empty(),
        ".env.example sets secrets: {set_secrets:?}; comment them out (`# OIDC_X=…`)"
    );
}

#[test]
fn the_helm_chart_names_exactly_the_known_variables() {
    let found_in = chart_names();
    let found: BTreeSet<String> = found_in.keys().cloned().collect();
    if let Some(mut report) = difference_report(
        "the Helm chart (helm/oidc-session/values.yaml and templates/)",
        &found,
        "map a value to each in templates/_helpers.tpl (oidc-session.configEnv, or \
         oidc-session.secretEnv for secrets) and document it in values.yaml",
        "remove them from the chart, or add them to KNOWN_VARS if the service reads them",
    ) {
        for (name, files) in &found_in {
            if !known().contains(name) {
                let files: Vec<_> = files.iter().cloned().collect();
                report += &format!("  {name} appears in {}\n", files.join(", "));
            }
        }
        panic!("{report}");
    }
}

#[test]
fn the_readme_configuration_table_names_exactly_the_known_variables() {
    let found: BTreeSet<String> = readme_rows().into_iter().flatten().collect();
    if let Some(report) = difference_report(
        "README.md's configuration table",
        &found,
        "add a row `| `OIDC_X` | default | meaning |` for each",
        "remove those rows, or add them to KNOWN_VARS if the service reads them",
    ) {
        panic!("{report}");
    }
}

#[test]
fn every_variable_has_exactly_one_row_of_its_own_in_the_readme_table() {
    let rows = readme_rows();
    let shared: Vec<_> = rows.iter().filter(|names| names.len() != 1).collect();
    assert!(
        shared.is_empty(),
        "README.md rows must name exactly one variable each in their first cell: {shared:?}"
    );
    let names: Vec<String> = rows.into_iter().flatten().collect();
    let dupes = duplicates(&names);
    assert!(
        dupes.is_empty(),
        "README.md's table has more than one row for {dupes:?}"
    );
}

#[test]
fn variable_names_are_found_only_as_whole_words() {
    assert_eq!(
        names_in("set `OIDC_ISSUER_URL`, not XOIDC_FOO, nor OIDC_*, nor OIDC_REDIS_*; OIDC_LOG."),
        vec!["OIDC_ISSUER_URL".to_string(), "OIDC_LOG".to_string()]
    );
}
