//! Hot reload: an edit to a rule file is picked up by the file watcher, an
//! invalid edit is rejected and counted while the last good rules keep
//! running, and SIGHUP reloads too.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use carteiro::calendar::Calendars;
use carteiro::rules::reload::{RulesHandle, watch};
use tokio_util::sync::CancellationToken;

fn rule_file(tag: &str) -> String {
    format!(
        "version = 1\n\n[[rule]]\nname = \"marca\"\non = [\"ticket.created\"]\nactions = [ {{ add_tags = [\"{tag}\"] }} ]\n"
    )
}

fn write(dir: &Path, text: &str) {
    // Write then rename, as editors and `git checkout` do, so the watcher
    // never reads half a file.
    let tmp = dir.join(".regras.toml.tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join("regras.toml")).expect("rename");
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn first_tag(handle: &RulesHandle) -> String {
    let set = handle.current();
    match &set.rules[0].actions[0].action {
        carteiro::rules::model::ActionSpec::AddTags(tags) => tags[0].clone(),
        other => panic!("unexpected action {other:?}"),
    }
}

#[tokio::test]
async fn edits_reload_invalid_edits_keep_the_last_good_rules_and_sighup_reloads() {
    let dir = tempdir();
    write(dir.path(), &rule_file("primeira"));
    let handle = Arc::new(RulesHandle::load(dir.path(), Calendars::new()).expect("valid rules"));
    let token = CancellationToken::new();
    let task = tokio::spawn(watch(handle.clone(), token.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    write(dir.path(), &rule_file("segunda"));
    until("the edit is loaded", || first_tag(&handle) == "segunda").await;
    let good = handle.current().hash.clone();

    write(
        dir.path(),
        "version = 1\n[[rule]]\nname = \"marca\"\non = [\"ticket.created\"]\nactions = [ { set_stauts = \"open\" } ]\n",
    );
    until("the broken edit is rejected", || handle.counts().1 >= 1).await;
    assert_eq!(handle.current().hash, good, "the last good rules keep running");
    assert_eq!(first_tag(&handle), "segunda");
    let problems = handle.reload().expect_err("still broken");
    assert_eq!(
        problems[0]
            .to_string()
            .split(": ")
            .next()
            .map(|l| l.ends_with("regras.toml:5:13")),
        Some(true),
        "{}",
        problems[0]
    );

    // SIGHUP: stop the watcher from seeing the file first by checking the
    // reload count moves after the signal alone.
    write(dir.path(), &rule_file("terceira"));
    until("the fixed file is loaded", || first_tag(&handle) == "terceira").await;
    // Let the watcher's own events for that write settle, so only the
    // signal can move the count.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (reloads, _) = handle.counts();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    until("SIGHUP reloads", || handle.counts().0 > reloads).await;

    token.cancel();
    task.await.expect("watcher stops");
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    let path = std::env::temp_dir().join(format!("carteiro-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("temp dir");
    TempDir(path)
}
