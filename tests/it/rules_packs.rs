//! The shipped rule packs in `rules/` load, pass their own scenario tests,
//! and keep the ombudsman out of every other reply.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_carteiro");

fn rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn carteiro(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("run carteiro");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn the_shipped_rules_load() {
    let dir = rules().display().to_string();
    let (code, text) = carteiro(&["check", "--rules", &dir]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text.trim(), format!("ok: the rules in {dir} load"));
}

#[test]
fn the_shipped_packs_pass_their_scenarios() {
    let dir = rules().display().to_string();
    let (code, text) = carteiro(&["rules", "test", "--rules", &dir]);
    assert_eq!(code, Some(0), "{text}");
    let summary = text.lines().last().unwrap_or_default();
    let passed: usize = summary
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected summary {summary:?} in:\n{text}"));
    assert!(passed >= 8, "the ciclo-de-status scenarios ran:\n{text}");
    let ombudsman = text
        .lines()
        .filter(|l| l.starts_with("ok   ") && l.to_lowercase().contains("ouvidoria"))
        .count();
    assert!(ombudsman >= 10, "the ouvidoria scenarios ran:\n{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok   ")).count(),
        passed,
        "{text}"
    );
}

/// `carteiro rules test rules/`, the issue's own command: a rules folder
/// given as a path runs its `tests/`, the same scenarios as `--rules`.
#[test]
fn a_rules_folder_as_the_path_runs_its_tests() {
    let dir = rules().display().to_string();
    let (code, by_path) = carteiro(&["rules", "test", &format!("{dir}/")]);
    assert_eq!(code, Some(0), "{by_path}");
    let (_, by_option) = carteiro(&["rules", "test", "--rules", &dir]);
    assert_eq!(by_path, by_option);
}

/// The bot never offers an ombudsman case: only the ouvidoria pack's own
/// templates may name it.
#[test]
fn no_template_outside_the_ombudsman_pack_mentions_it() {
    let templates = rules().join("templates");
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(&templates).expect("templates folder") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.ends_with(".j2") || name.starts_with("ouvidoria") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .expect("read template")
            .to_lowercase();
        if text.contains("ouvidoria") {
            offenders.push(name);
        }
    }
    assert!(
        offenders.is_empty(),
        "templates offering the ombudsman: {offenders:?}"
    );
}

/// The step-by-step guide the ombudsman pack attaches is a well-formed PDF:
/// every cross-reference entry points at its object.
#[test]
fn the_ombudsman_guide_is_a_well_formed_pdf() {
    let pdf = std::fs::read(rules().join("anexos/ouvidoria-passo-a-passo.pdf")).expect("the guide");
    assert!(pdf.starts_with(b"%PDF-1."), "a PDF header");
    let find = |needle: &[u8]| pdf.windows(needle.len()).rposition(|w| w == needle);
    let after = find(b"startxref").expect("startxref") + "startxref".len();
    let tail = String::from_utf8_lossy(&pdf[after..]).into_owned();
    let xref: usize = tail
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("the xref offset");
    assert!(pdf[xref..].starts_with(b"xref"), "startxref points at the table");
    let table = String::from_utf8_lossy(&pdf[xref..]).into_owned();
    let mut lines = table.lines().skip(1);
    let count: usize = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("the object count");
    let entries: Vec<&str> = lines.skip(1).take(count - 1).collect();
    assert_eq!(entries.len(), count - 1);
    for (i, entry) in entries.iter().enumerate() {
        let offset: usize = entry[..10].parse().expect("an offset");
        assert!(
            pdf[offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
            "object {} at {offset}",
            i + 1
        );
    }
    assert!(find(b"OUVIDORIA").is_some(), "the guide's text");
    assert!(tail.trim_end().ends_with("%%EOF"));
}
