//! ARCHITECTURE.md stays true: every crate it names exists, and every
//! workspace member is named in it.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

fn members() -> Vec<String> {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let start = toml.find("members = [").unwrap();
    let end = start + toml[start..].find(']').unwrap();
    toml[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.split('"').next()))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_workspace_member_is_named_in_architecture_md() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let members = members();
    assert!(members.len() >= 10, "members: {members:?}");
    for m in members {
        assert!(
            doc.contains(&format!("`{m}`")),
            "ARCHITECTURE.md does not name `{m}`"
        );
    }
}

#[test]
fn every_directory_named_in_architecture_md_exists() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut named = 0;
    for line in doc.lines().filter(|l| l.starts_with("| `meshsim-")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let crate_name = cells[1].trim_matches('`');
        let dir = cells[2].trim_matches('`');
        let manifest = std::fs::read_to_string(root().join(dir).join("Cargo.toml"))
            .unwrap_or_else(|_| panic!("{dir} named in ARCHITECTURE.md has no Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{crate_name}\"")),
            "{dir} is not {crate_name}"
        );
        named += 1;
    }
    assert!(named >= 10, "only {named} crates in the table");
}
