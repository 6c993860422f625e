//! `carteiro demo`, the real binary: the scripted day runs to the end, the
//! table names the rules that fired in each pack's scene, the Maildirs
//! hold what carteiro sent (acknowledgements, the consulting articles, the
//! service order, the manifestation's "recebida" and rating request), the
//! simulator's saved state holds the tickets as the packs left them
//! ("OUVIDORIA - #n" once, with its CC; the manifestation solved with its
//! "Nota final"), a second run replaces the folder, and a folder that is
//! not the demo's is refused and left alone.

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
    let survey = position("ciclo-pesquisa-satisfacao");
    let rating = position("ciclo-avaliacao ");
    assert!(confirmed < survey && survey < rating);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("ciclo-avaliacao ") && l.contains("campo Satisfação = 5")),
        "{stdout}"
    );
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
    // Her whole inbox: the acknowledgement, and Ana's question, which
    // carteiro mails her (Zendesk's requester triggers are off, as
    // rules/README.md says).
    let inbox: Vec<String> = mails(&out.join("mail/maria@cliente.example"))
        .iter()
        .map(|m| unquote(m))
        .collect();
    assert_eq!(
        inbox.len(),
        2,
        "the acknowledgement and Ana's question: {inbox:?}"
    );
    let ack = inbox
        .iter()
        .find(|m| m.contains(&format!("abrimos o chamado #{id}")))
        .unwrap_or_else(|| panic!("no acknowledgement: {inbox:?}"));
    assert!(ack.contains(&format!("[#{id}]")), "{ack}");
    assert!(ack.contains("A versão do sistema"), "the checklist: {ack}");
    assert!(
        inbox
            .iter()
            .any(|m| m.contains("Pode nos enviar a versão do sistema")),
        "Ana's question: {inbox:?}"
    );
    // João: the acknowledgement, Ana's answer and the satisfaction survey,
    // which he answers with a 5.
    let joao: Vec<String> = mails(&out.join("mail/joao@cliente.example"))
        .iter()
        .map(|m| unquote(m))
        .collect();
    assert_eq!(joao.len(), 3, "{joao:?}");
    assert!(joao.iter().any(|m| m.contains("uma nota de 1 a 5")), "{joao:?}");
    assert!(
        joao.iter().any(|m| m.contains("relatório de devoluções")),
        "{joao:?}"
    );
    // Zendesk's own standard triggers still mail the agents, and, with the
    // two requester triggers off as rules/README.md says, no customer.
    let zendesk = out.join("zendesk-mail");
    assert!(
        !mails(&zendesk.join("ana@empresa.example")).is_empty(),
        "Zendesk's notices to the agents"
    );
    for customer in [
        "maria@cliente.example",
        "joao@cliente.example",
        "beatriz@contabil.example",
        "rita@cliente.example",
        "carlos@restaurante.example",
        "lucia@mercado.example",
        "fernanda@cliente.example",
    ] {
        assert!(
            mails(&zendesk.join(customer)).is_empty(),
            "Zendesk mailed {customer} itself"
        );
    }
    assert!(stdout.contains(&out.join("mail/maria@cliente.example/new").display().to_string()));

    // Maria's and João's tickets end closed, and every mail to support
    // (six customers' and the sector's answer) was read.
    let user_id = |email: &str| {
        users
            .iter()
            .find(|u| u["email"].as_str() == Some(email))
            .and_then(|u| u["id"].as_u64())
            .unwrap_or_else(|| panic!("{email} is not a user"))
    };
    // The ticket the customer's mail opened ("OUVIDORIA - #n", which
    // carteiro opens for the same requester, aside).
    let ticket_of = |email: &str| {
        let user = user_id(email);
        let mine: Vec<&Value> = tickets
            .iter()
            .filter(|t| t["requester_id"].as_u64() == Some(user))
            .filter(|t| {
                !t["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("OUVIDORIA - #"))
            })
            .collect();
        assert_eq!(mine.len(), 1, "one ticket of {email}: {mine:?}");
        mine[0].clone()
    };
    for customer in ["maria@cliente.example", "joao@cliente.example"] {
        assert_eq!(ticket_of(customer)["status"], "closed", "{customer}");
    }
    // The managers' scheduled mails: the jumps cross a Monday 08:00.
    let managers = mails(&out.join("mail/gestores-manifestacoes@bematech.com.br"));
    assert!(
        managers
            .iter()
            .any(|m| unquote(m).contains("Estatística semanal das manifestações")),
        "the weekly statistics: {managers:?}"
    );
    assert!(stdout.contains("(resumo agendado, sem chamado)"), "{stdout}");
    // Every mail the customers and the sector wrote to support, João's
    // answer to the survey and Fernanda's rating among them.
    assert_eq!(mails(&out.join("mail/suporte@empresa.example")).len(), 10);
    assert!(
        std::fs::read_dir(out.join("mail/suporte@empresa.example/new"))
            .expect("new/")
            .next()
            .is_none(),
        "every mail to support was processed"
    );
    let comments_of = |id: u64| -> Vec<Value> {
        state["comments"][id.to_string()]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let scene = |pack: &str| {
        let start = position(&format!("== {pack} — "));
        let rest = &stdout[start + 3..];
        let end = rest.find("\n== ").map_or(stdout.len(), |e| start + 3 + e);
        stdout[start..end].to_owned()
    };
    let fired_in = |section: &str, rule: &str| {
        assert!(
            section.lines().any(|l| l.split_whitespace().any(|w| w == rule)),
            "{rule} did not fire in:\n{section}"
        );
    };

    // consultoria: routed, acknowledged with the seeded article, warned,
    // breached, answered by mail, pending, then solved after 10 days; the
    // general acknowledgement of ciclo-de-status stays out.
    let consulting = scene("consultoria");
    for rule in [
        "consultoria-marcar-email",
        "consultoria-duvida",
        "consultoria-confirmar-duvida",
        "consultoria-prazo-alerta",
        "consultoria-prazo-vencido",
        "consultoria-resposta-por-email",
        "consultoria-resposta-pendente",
        "consultoria-pendente-10d-resolver",
    ] {
        fired_in(&consulting, rule);
    }
    assert!(!consulting.contains("ciclo-confirmar-chamado"), "{consulting}");
    let beatriz = ticket_of("beatriz@contabil.example");
    assert_eq!(beatriz["status"], "solved");
    let beatriz_id = beatriz["id"].as_u64().expect("id");
    let inbox: Vec<String> = mails(&out.join("mail/beatriz@contabil.example"))
        .iter()
        .map(|m| unquote(m))
        .collect();
    // The acknowledgement, Carla's answer and the closing mail, each once:
    // the bot's own closing reply never comes back as an agent's, however
    // the poll and the write interleave.
    assert_eq!(inbox.len(), 3, "acknowledgement, answer, solved: {inbox:?}");
    assert!(
        inbox
            .iter()
            .any(|m| m.contains("Como não recebemos retorno em 10 dias")),
        "the closing mail: {inbox:?}"
    );
    let ack = inbox
        .iter()
        .find(|m| m.contains("Recebemos a sua dúvida"))
        .unwrap_or_else(|| panic!("no acknowledgement: {inbox:?}"));
    assert!(ack.contains(&format!("[#{beatriz_id}]")), "{ack}");
    assert!(
        ack.contains("- Como configurar o certificado digital A1"),
        "{ack}"
    );
    assert!(ack.contains("hc/pt-br/articles/5001"), "{ack}");
    assert!(
        inbox.iter().any(|m| m.contains("Importe o arquivo PFX")),
        "Carla's reply by mail: {inbox:?}"
    );
    let notes: Vec<String> = comments_of(beatriz_id)
        .iter()
        .filter(|c| c["public"] == false)
        .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(notes.len(), 2, "the warning and the breach: {notes:?}");

    // ouvidoria: Rita's ticket solved with the promised date, and exactly
    // one "OUVIDORIA - #n" for the owner, with the ombudsman in CC, handed
    // back open by the N2 analyst.
    let ombudsman = scene("ouvidoria");
    for rule in ["ouvidoria-no-atendimento", "ouvidoria-devolver-do-n2"] {
        fired_in(&ombudsman, rule);
    }
    assert!(ombudsman.contains("cria \"OUVIDORIA - #"), "{ombudsman}");
    let rita = ticket_of("rita@cliente.example");
    let rita_id = rita["id"].as_u64().expect("id");
    assert_eq!(rita["status"], "solved");
    assert!(rita["due_at"].is_string(), "the promised date: {rita}");
    assert!(
        comments_of(rita_id)
            .iter()
            .any(|c| c["public"] == true && c["body"].as_str().is_some_and(|b| b.contains("5 dias úteis"))),
        "the public reply with the date: {:?}",
        comments_of(rita_id)
    );
    let subject = format!("OUVIDORIA - #{rita_id}");
    let opened: Vec<&Value> = tickets
        .iter()
        .filter(|t| t["subject"] == subject.as_str())
        .collect();
    assert_eq!(opened.len(), 1, "exactly one {subject}: {tickets:?}");
    let opened = opened[0];
    assert_eq!(opened["status"], "open", "handed back open: {opened}");
    assert_eq!(
        opened["assignee_id"].as_u64(),
        Some(user_id("richard@bematech.com.br"))
    );
    let cc = user_id("ouvidoria@bematech.com.br");
    assert!(
        opened["email_cc_ids"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|i| i.as_u64() == Some(cc))),
        "the ombudsman address in CC: {opened}"
    );

    // os-corporativo: the order reaches the sector with the ticket as the
    // sales order; the ticket is on hold; the sector's answer is an
    // internal note. The invalid CNPJ: a note saying so, and no mail.
    let orders = scene("os-corporativo");
    for rule in [
        "os-campos-fixos",
        "os-encaminhar-setor",
        "os-resposta-do-setor",
        "os-nao-encaminhar-pendente",
    ] {
        fired_in(&orders, rule);
    }
    let carlos = ticket_of("carlos@restaurante.example");
    let carlos_id = carlos["id"].as_u64().expect("id");
    assert_eq!(carlos["status"], "hold");
    let sector = mails(&out.join("mail/os@assistencia.example"));
    assert_eq!(
        sector.len(),
        1,
        "one order, none for the invalid CNPJ: {sector:?}"
    );
    let order = unquote(&sector[0]);
    assert!(
        order.contains(&format!("pedido de venda {carlos_id} [#{carlos_id}]")),
        "{order}"
    );
    assert!(
        order.contains(&format!("Pedido de venda: {carlos_id}")),
        "{order}"
    );
    assert!(order.contains("CNPJ: 11.222.333/0001-81"), "{order}");
    assert!(
        comments_of(carlos_id)
            .iter()
            .any(|c| c["public"] == false
                && c["body"].as_str().is_some_and(|b| b.contains("O.S. 4711 aberta"))),
        "the sector's answer as an internal note: {:?}",
        comments_of(carlos_id)
    );
    let lucia = ticket_of("lucia@mercado.example");
    let lucia_id = lucia["id"].as_u64().expect("id");
    assert_ne!(lucia["status"], "hold");
    let note = comments_of(lucia_id)
        .into_iter()
        .find(|c| c["public"] == false)
        .unwrap_or_else(|| panic!("no note on #{lucia_id}"));
    let note = note["body"].as_str().unwrap_or_default();
    assert!(note.contains("O.S. NÃO encaminhada"), "{note}");
    assert!(note.contains("CNPJ: \"11.222.333/0001-82\" é inválido"), "{note}");
    assert!(!sector.iter().any(|m| m.contains(&format!("[#{lucia_id}]"))));

    // manifestacoes: the complaint is classified with its due date and
    // acknowledged; the due date Ana moves without a note is put back; the
    // ticket solved without reason and origin comes back open; with them
    // it stays solved and Fernanda is asked for a rating, which she gives
    // by mail. The general acknowledgement and survey of ciclo-de-status
    // stay out.
    let manifestations = scene("manifestacoes");
    for rule in [
        "manifestacoes-classificar-reclamacao",
        "manifestacoes-recebida",
        "manifestacoes-prazo-sem-justificativa",
        "manifestacoes-motivo-origem",
        "manifestacoes-encerrada",
        "manifestacoes-nota-final",
    ] {
        fired_in(&manifestations, rule);
    }
    for rule in ["ciclo-confirmar-chamado", "ciclo-pesquisa-satisfacao"] {
        assert!(!manifestations.contains(rule), "{manifestations}");
    }
    let due_rows: Vec<&str> = manifestations
        .lines()
        .filter_map(|l| l.split("prazo → ").nth(1))
        .map(|rest| rest.split("  ").next().unwrap_or_default())
        .collect();
    assert_eq!(due_rows.len(), 2, "set, then put back: {manifestations}");
    assert_eq!(
        due_rows[0], due_rows[1],
        "put back to the same date: {manifestations}"
    );
    let fernanda = ticket_of("fernanda@cliente.example");
    let fernanda_id = fernanda["id"].as_u64().expect("id");
    assert_eq!(fernanda["status"], "solved", "{fernanda}");
    assert!(fernanda["due_at"].is_string(), "{fernanda}");
    let field = |id: u64| {
        fernanda["custom_fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["id"].as_u64() == Some(id)))
            .map(|f| f["value"].clone())
            .unwrap_or_else(|| panic!("no field {id}: {fernanda}"))
    };
    assert_eq!(field(500), "reclamação", "Tipo de manifestação");
    assert_eq!(field(504), 4, "Nota final");
    let tags = fernanda["tags"].as_array().expect("tags");
    assert!(tags.iter().any(|t| t == "manifestacao_avaliada"), "{fernanda}");
    let inbox: Vec<String> = mails(&out.join("mail/fernanda@cliente.example"))
        .iter()
        .map(|m| unquote(m))
        .collect();
    assert_eq!(inbox.len(), 2, "recebida, encerrada: {inbox:?}");
    assert!(
        inbox.iter().any(|m| m.contains(&format!(
            "registramos o protocolo {fernanda_id}, do tipo reclamação"
        )) && m.contains("O prazo de resposta é de até")),
        "the \"recebida\" mail: {inbox:?}"
    );
    assert!(
        inbox
            .iter()
            .any(|m| m.contains(&format!("protocolo {fernanda_id}, foi encerrada"))
                && m.contains("uma nota de 1 (muito insatisfeito) a 5")),
        "the rating request: {inbox:?}"
    );
    let notes: Vec<String> = comments_of(fernanda_id)
        .iter()
        .filter(|c| c["public"] == false)
        .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        notes.len(),
        3,
        "due date put back, reason and origin missing, rating: {notes:?}"
    );
    assert!(
        notes[0].starts_with("Prazo alterado sem justificativa"),
        "{notes:?}"
    );
    assert!(notes[1].contains("Motivo"), "{notes:?}");
    assert!(
        notes[2].contains("Nota final do manifestante, respondida por e-mail: 4"),
        "{notes:?}"
    );

    let config = std::fs::read_to_string(out.join("carteiro.toml")).expect("carteiro.toml");
    assert!(
        config.contains("internal_senders = [\"os@assistencia.example\"]"),
        "{config}"
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
        2,
        "a fresh folder: the same two mails, not four"
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
