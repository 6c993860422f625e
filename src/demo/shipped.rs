//! The shipped rule packs, embedded in the binary by `build.rs`: every
//! file under `rules/` except the scenario tests in `rules/tests/`.
//! `carteiro demo` writes them out and loads them from there, so a pack
//! added to `rules/` is part of the demo without a code change.

use std::path::Path;

use anyhow::Context as _;

include!(concat!(env!("OUT_DIR"), "/shipped_rules.rs"));

/// The shipped packs' names: the rule files at the top of `rules/`
/// (`ciclo-de-status.toml` is the pack `ciclo-de-status`).
pub fn pack_names() -> Vec<&'static str> {
    SHIPPED_RULES
        .iter()
        .filter(|(path, _)| !path.contains('/'))
        .filter_map(|(path, _)| path.strip_suffix(".toml"))
        .collect()
}

/// Writes every shipped file under `dir`, as it is laid out in `rules/`.
pub fn write_to(dir: &Path) -> anyhow::Result<()> {
    for (relative, bytes) in SHIPPED_RULES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table is exactly the files of `rules/` outside `rules/tests/`.
    #[test]
    fn the_embedded_files_are_the_rules_folder_without_its_tests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read rules/") {
                let path = entry.expect("entry").path();
                let name = path.file_name().expect("name").to_string_lossy().into_owned();
                if name.starts_with('.') || path == root.join("tests") {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(&root).expect("under rules/");
                    let relative: Vec<String> = relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    on_disk.push((relative.join("/"), std::fs::read(&path).expect("read")));
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<(String, Vec<u8>)> = SHIPPED_RULES
            .iter()
            .map(|(path, bytes)| ((*path).to_owned(), bytes.to_vec()))
            .collect();
        assert_eq!(embedded, on_disk);
        assert!(pack_names().contains(&"ciclo-de-status"), "{:?}", pack_names());
        assert!(!embedded.iter().any(|(path, _)| path.starts_with("tests/")));
    }
}
