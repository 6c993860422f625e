//! `carteiro demo`, the real binary: the scripted day runs to the end, the
//! table names the rules that fired, the customer's Maildir holds the
//! confirmation with the ticket number, the simulator's saved state shows
//! the tickets closed, a second run replaces the folder, and a folder that
//! is not the demo's is refused and left alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_carteiro");

fn temp_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "demo-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

fn demo(out: &Path) -> Output {
    // Run from an unrelated folder: the packs come from the binary.
    Command::new(BIN)
        .args(["demo", "--out"])
        .arg(out)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run carteiro demo")
}

/// The files of a Maildir's new/ and cur/.
fn mails(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            for entry in entries {
                let raw = std::fs::read(entry.expect("entry").path()).expect("read a mail");
                out.push(String::from_utf8_lossy(&raw).into_owned());
            }
        }
    }
    out
}

/// Undoes quoted-printable well enough to read Portuguese text.
fn unquote(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_demo_plays_the_day_and_leaves_mail_state_and_rules_to_look_at() {
    let out = temp_dir("day");
    let run = demo(&out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        run.status
    );
    assert!(
        stderr.trim().is_empty(),
        "logs go to carteiro.log, not the terminal: {stderr}"
    );

    // The table: the header, each rule of the pack on its own row, in
    // the order of the day.
    assert!(stdout.contains("HORA"), "{stdout}");
    assert!(stdout.contains("ESTADO DO CHAMADO"), "{stdout}");
    let position = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in the table:\n{stdout}"))
    };
    let confirmed = position("ciclo-confirmar-chamado");
    let solved_closed = position("ciclo-resolvido-5d-fechar");
    let validation = position("ciclo-pendente-7d-validacao");
    let validation_closed = position("ciclo-validacao-5d-fechar");
    assert!(confirmed < solved_closed && solved_closed < validation && validation < validation_closed);
    let row_of = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle:?}"))
            .to_owned()
    };
    assert!(row_of("ciclo-pendente-7d-validacao").contains("Validação Cliente"));
    assert!(row_of("ciclo-validacao-5d-fechar").contains("closed"));
    assert!(stdout.contains("carteiro run --config"), "{stdout}");

    // Maria's acknowledgement: the ticket number in the subject and the
    // text, and the checklist.
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("simulador.json")).expect("simulador.json"))
            .expect("JSON");
    let users = state["users"].as_array().expect("users");
    let maria = users
        .iter()
        .find(|u| u["email"] == "maria@cliente.example")
        .and_then(|u| u["id"].as_u64())
        .expect("Maria is a user");
    let tickets = state["tickets"].as_array().expect("tickets");
    let ticket = tickets
        .iter()
        .find(|t| t["requester_id"].as_u64() == Some(maria))
        .expect("Maria's ticket");
    let id = ticket["id"].as_u64().expect("id");
    let inbox = mails(&out.join("mail/maria@cliente.example"));
    assert_eq!(inbox.len(), 1, "one acknowledgement: {inbox:?}");
    let mail = unquote(&inbox[0]);
    assert!(mail.contains(&format!("[#{id}]")), "{mail}");
    assert!(mail.contains(&format!("abrimos o chamado #{id}")), "{mail}");
    assert!(mail.contains("A versão do sistema"), "the checklist: {mail}");
    assert_eq!(mails(&out.join("mail/joao@cliente.example")).len(), 1);
    assert!(stdout.contains(&out.join("mail/maria@cliente.example/new").display().to_string()));

    // Both tickets end closed, and the customers' mails were read.
    let statuses: Vec<&str> = tickets
        .iter()
        .map(|t| t["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["closed", "closed"], "{tickets:?}");
    assert_eq!(mails(&out.join("mail/suporte@empresa.example")).len(), 2);
    assert!(
        std::fs::read_dir(out.join("mail/suporte@empresa.example/new"))
            .expect("new/")
            .next()
            .is_none(),
        "every customer mail was processed"
    );

    // The packs as shipped, the config, the log.
    assert_eq!(
        std::fs::read(out.join("rules/ciclo-de-status.toml")).expect("the pack"),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/ciclo-de-status.toml"))
            .expect("rules/")
    );
    assert!(
        !out.join("rules/tests").exists(),
        "scenario tests are not shipped"
    );
    let config = std::fs::read_to_string(out.join("carteiro.toml")).expect("carteiro.toml");
    assert!(config.contains("maildir = "), "{config}");
    assert!(out.join("carteiro.log").is_file());

    // A second run replaces the folder.
    let again = demo(&out);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        mails(&out.join("mail/maria@cliente.example")).len(),
        1,
        "a fresh folder"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_folder_that_is_not_the_demos_is_refused_and_left_alone() {
    let out = temp_dir("refused");
    std::fs::create_dir_all(&out).expect("create");
    std::fs::write(out.join("notas.txt"), "não apagar").expect("write");
    let run = demo(&out);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {} already exists and is not a folder made by carteiro demo (it has no .carteiro-demo file); \
             choose another folder with --out DIR, or remove it",
            out.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notas.txt")).expect("kept"),
        "não apagar"
    );
    assert_eq!(
        std::fs::read_dir(&out).expect("list").count(),
        1,
        "nothing was added"
    );
    let _ = std::fs::remove_dir_all(out);
}
