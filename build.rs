//! Embeds the shipped rule packs (`rules/`, without `rules/tests/`) in the
//! binary, so `carteiro demo` works from any directory. Writes
//! `$OUT_DIR/shipped_rules.rs`: a sorted table of (relative path, bytes),
//! each file through `include_bytes!`. Every file is taken (rule files,
//! templates, attachments, READMEs), so a pack added to `rules/` is
//! shipped without a code change.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=rules");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// The shipped rule packs: each file's path under `rules/` (with `/`)\n\
         /// and its bytes.\n\
         pub static SHIPPED_RULES: &[(&str, &[u8])] = &[\n",
    );
    for (relative, absolute) in &files {
        out.push_str(&format!("    ({relative:?}, include_bytes!({absolute:?})),\n"));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("shipped_rules.rs");
    std::fs::write(&dest, out).expect("write shipped_rules.rs");
}

/// Collects the files under `dir`, skipping `rules/tests/` and hidden
/// entries; every folder is watched for added files.
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let relative: Vec<String> = path
            .strip_prefix(root)
            .expect("under rules/")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if path.is_dir() {
            if relative == ["tests"] {
                continue;
            }
            walk(root, &path, files);
        } else if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push((relative.join("/"), path.display().to_string()));
        }
    }
}
