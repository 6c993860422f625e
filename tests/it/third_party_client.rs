//! A real third-party Zendesk client against the simulator: node-zendesk
//! (npm, MIT), pinned in `tests/clients/node/package.json` and its lock,
//! unmodified, pointed at the simulator with its `endpointUri` option.
//! `tests/clients/node/zendesk_ops.js` runs every operation carteiro uses
//! and the search and pagination endpoints, each checked against the status
//! and shape Zendesk documents; an endpoint the simulator lacks fails it.
//!
//! Node.js and the installed package are required: without them the test
//! fails and says how to install them (`scripts/test.sh` does).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use carteiro::helpdesk::sim::{self, Seed, SimOptions};
use serde_json::Value;

/// The pinned version, as in `tests/clients/node/package.json`.
const NODE_ZENDESK: &str = "6.0.1";
/// Far more than the script needs (a few seconds); only a hang reaches it.
const RUN_LIMIT: Duration = Duration::from_secs(180);

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node")
}

/// Fails, saying how to install, unless `node` runs and node-zendesk is
/// installed at the pinned version.
fn require_node_zendesk(dir: &Path) {
    let install = "install Node.js (Debian: apt-get install --no-install-recommends nodejs npm), \
                   then run `npm ci --prefix tests/clients/node` (scripts/test.sh does both)";
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match node {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`node --version` failed ({}): {install}", out.status),
        Err(err) => panic!("cannot run node ({err}): {install}"),
    }
    let manifest = dir.join("node_modules/node-zendesk/package.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|err| {
        panic!(
            "node-zendesk is not installed ({}: {err}): {install}",
            manifest.display()
        )
    });
    let installed: Value = serde_json::from_str(&text).expect("node-zendesk's package.json is JSON");
    assert_eq!(
        installed["version"], NODE_ZENDESK,
        "node-zendesk {} is installed, the lock pins {NODE_ZENDESK}: run `npm ci --prefix tests/clients/node`",
        installed["version"]
    );
}

#[tokio::test]
async fn node_zendesk_runs_every_operation_against_the_simulator() {
    let dir = client_dir();
    require_node_zendesk(&dir);
    let seed = Seed::from_path(&dir.join("seed.json")).expect("the client test's seed");
    let handle = sim::spawn(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await
    .expect("start the simulator");
    let base = handle.base_url.as_str().trim_end_matches('/').to_owned();

    let run = tokio::process::Command::new("node")
        .arg("zendesk_ops.js")
        .arg(&base)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("node zendesk_ops.js still running after {RUN_LIMIT:?}"))
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let script = std::fs::read_to_string(dir.join("zendesk_ops.js")).expect("the script");
    let operations = script.matches("\noperation('").count();
    assert!(operations >= 30, "only {operations} operations in the script");
    assert!(
        out.status.success() && stdout.lines().last() == Some(&format!("{operations} passed, 0 failed")),
        "node-zendesk against the simulator ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        operations,
        "{stdout}"
    );

    // The simulator saw each endpoint carteiro uses, under its template.
    let state = handle.sim.state_json();
    let requests = &state["requests"];
    for endpoint in [
        "POST /api/v2/tickets",
        "GET /api/v2/tickets/{id}",
        "PUT /api/v2/tickets/{id}",
        "GET /api/v2/tickets",
        "POST /api/v2/tickets/create_many",
        "PUT /api/v2/tickets/update_many",
        "GET /api/v2/job_statuses/{id}",
        "GET /api/v2/tickets/{id}/audits",
        "GET /api/v2/tickets/{id}/comments",
        "PUT /api/v2/tickets/{id}/tags",
        "POST /api/v2/tickets/{id}/tags",
        "DELETE /api/v2/tickets/{id}/tags",
        "GET /api/v2/incremental/tickets/cursor",
        "POST /api/v2/users/create_or_update",
        "GET /api/v2/users/show_many",
        "GET /api/v2/users/me",
        "GET /api/v2/users",
        "GET /api/v2/users/search",
        "GET /api/v2/groups",
        "POST /api/v2/groups",
        "GET /api/v2/custom_statuses",
        "GET /api/v2/ticket_fields",
        "POST /api/v2/uploads",
        "GET /api/v2/search",
        "GET /api/v2/search/count",
        "GET /api/v2/help_center/articles/search",
    ] {
        assert!(
            requests[endpoint].as_u64().is_some_and(|n| n > 0),
            "node-zendesk never reached {endpoint}: {requests}"
        );
    }
    // tickets.list pages 101 tickets by 100: two pages, then the empty one
    // (node-zendesk stops only when links.next is null); a 400 test adds one.
    assert_eq!(requests["GET /api/v2/tickets"], 4, "{requests}");
}
