//! The invalid-rules corpus: one file per kind of error, each starting
//! with `# expect: LINE:COL: MESSAGE-PREFIX`. Loading the file alone must
//! give exactly that problem: this file, that position, that message.

use std::path::{Path, PathBuf};

use carteiro::calendar::Calendars;
use carteiro::rules::load_sources;
use carteiro::template::{TemplateOptions, Templates};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules")
}

fn templates() -> Templates {
    Templates::load_dir(&corpus().join("templates"), &TemplateOptions::default())
        .expect("fixture templates load")
}

#[test]
fn every_corpus_file_fails_with_its_expected_location_and_message() {
    let dir = corpus().join("invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks its # expect: line", path.display()));
        let wanted = format!("{}:{expect}", path.display());
        let result = load_sources(
            &corpus(),
            &[(path.clone(), text.clone())],
            templates(),
            &Calendars::new(),
        );
        match result {
            Ok(_) => failures.push(format!(
                "{}: loaded, but should fail with {expect}",
                path.display()
            )),
            Err(problems) => {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                if lines.len() != 1 || !lines[0].starts_with(wanted.trim_end()) {
                    failures.push(format!(
                        "{}:\n  want {wanted}\n  got  {}",
                        path.display(),
                        lines.join("\n       ")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
