//! The scripted day of `carteiro demo`, as data: scenes, one per shipped
//! pack, each a seed for the simulator and a list of steps. To show
//! another pack, add a [`Scene`] to [`scenes`]; a scene whose pack is not
//! shipped is skipped with a message.
//!
//! Customers and agents are the seed's examples (`docs/demo.md`); the
//! names of custom statuses are the pack's, as its README lists them.

use serde_json::{Value, json};

use crate::helpdesk::Status;

/// The support address: the demo's inbound Maildir and `From:` of its mail.
pub const SUPPORT: &str = "suporte@empresa.example";

/// The agent who acts through the helpdesk API in most steps.
pub const AGENT: &str = "ana@empresa.example";

/// The consulting address (`consultoria.toml`): customers write to it, and
/// the mail lands in the support Maildir like any other.
pub const CONSULTING: &str = "consultoria@tecnospeed.com.br";

/// The service-order sector (`os-corporativo.toml`); the demo's
/// configuration lists it in `[mail] internal_senders`.
pub const SECTOR: &str = "os@assistencia.example";

/// The manifestations address (`manifestacoes.toml`): customers write to
/// it, and the mail lands in the support Maildir like any other.
pub const MANIFESTATIONS: &str = "manifestacoes@bematech.com.br";

/// The ombudsman's owner and the dedicated N2 analyst (`ouvidoria.toml`).
const OMBUDSMAN_OWNER: &str = "richard@bematech.com.br";
const ANALYST: &str = "analista.n2@bematech.com.br";

/// The consultant who answers in the consulting scene.
const CONSULTANT: &str = "carla@tecnospeed.com.br";

/// One thing that happens in the day.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A customer's mail to `to` lands in the support Maildir.
    CustomerWrites {
        from: &'static str,
        name: &'static str,
        to: &'static str,
        subject: &'static str,
        body: &'static str,
    },
    /// An agent (`by`, an e-mail) updates a ticket through the helpdesk
    /// API.
    AgentUpdates {
        by: &'static str,
        ticket: Which,
        change: Change,
        /// What the table says, e.g. "Ana responde e deixa pendente".
        says: &'static str,
    },
    /// `from` answers by mail the newest mail carteiro sent it: the answer
    /// lands in the support Maildir, threaded to that mail.
    Answers {
        from: &'static str,
        name: &'static str,
        body: &'static str,
        says: &'static str,
    },
    /// The clock jumps forward.
    ClockJumps { days: i64, minutes: i64 },
    /// The clock jumps to the same local time `days` business days later
    /// (the default calendar), plus `minutes`: what "2 business days"
    /// means whatever weekday the demo runs on.
    ClockJumpsBusinessDays { days: u32, minutes: i64 },
}

/// The ticket an agent acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Which {
    /// The newest ticket requested by this address.
    NewestOf(&'static str),
    /// The newest ticket whose subject starts with this.
    SubjectStarts(&'static str),
}

/// What an agent changes; the empty change changes nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Change {
    pub public_reply: Option<&'static str>,
    pub internal_note: Option<&'static str>,
    pub status: Option<Status>,
    /// A custom status, by its name.
    pub custom_status: Option<&'static str>,
    pub add_tags: Vec<&'static str>,
    /// A group, by its name.
    pub group: Option<&'static str>,
    /// An agent, by e-mail.
    pub assignee: Option<&'static str>,
    /// Custom fields, by title.
    pub fields: Vec<(&'static str, Value)>,
    /// Moves the due date to this many days from now.
    pub due_in_days: Option<i64>,
}

/// A pack's part of the day.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The pack it shows: `rules/PACK.toml`.
    pub pack: &'static str,
    /// A line on what the scene shows.
    pub title: &'static str,
    /// What the simulator must hold for the pack (custom statuses, groups,
    /// fields), in `carteiro sim --seed` form; the scenes' seeds are merged.
    pub seed: Value,
    pub steps: Vec<Step>,
}

/// Every scene, in the order they play. Clock jumps move every ticket's
/// clock: the scenes with jumps come first, each leaving its tickets where
/// the later jumps do not touch them (closed), and the scenes without
/// jumps come last.
pub fn scenes() -> Vec<Scene> {
    vec![
        ciclo_de_status(),
        consultoria(),
        ouvidoria(),
        os_corporativo(),
        manifestacoes(),
    ]
}

/// Past a deadline by a quarter of an hour, so the rules' ten-minute
/// schedule has ticked after it.
const MARGIN: i64 = 15;

/// `ciclo-de-status`: confirmation with the number and checklist; pending
/// 7 days → "Validação Cliente" → closed 5 days later; solved → closed
/// after 5 days.
fn ciclo_de_status() -> Scene {
    Scene {
        pack: "ciclo-de-status",
        title: "ciclo de status: confirmação, pendente → Validação Cliente → fechado, resolvido → fechado",
        seed: json!({
            "custom_statuses": [
                { "id": 900, "status_category": "pending", "agent_label": "Pendente", "active": true, "default": true },
                { "id": 901, "status_category": "pending", "agent_label": "Validação Cliente", "active": true, "default": false },
            ],
            "ticket_fields": [ { "id": 700, "type": "integer", "title": "Satisfação" } ],
        }),
        steps: vec![
            Step::CustomerWrites {
                from: "maria@cliente.example",
                name: "Maria Souza",
                to: SUPPORT,
                subject: "Erro ao emitir nota fiscal",
                body: "Bom dia,\n\nAo emitir a nota fiscal aparece \"Falha na transmissão\". Podem ajudar?\n\nMaria",
            },
            Step::CustomerWrites {
                from: "joao@cliente.example",
                name: "João Lima",
                to: SUPPORT,
                subject: "Dúvida sobre o relatório de vendas",
                body: "Olá,\n\nO relatório de vendas de outubro não mostra as devoluções. É esperado?\n\nJoão",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf("maria@cliente.example"),
                change: Change {
                    public_reply: Some(
                        "Olá, Maria. Pode nos enviar a versão do sistema e o arquivo de log da transmissão?",
                    ),
                    status: Some(Status::Pending),
                    custom_status: Some("Pendente"),
                    ..Change::default()
                },
                says: "Ana pede dados à Maria: Pendente",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf("joao@cliente.example"),
                change: Change {
                    public_reply: Some(
                        "Olá, João. Sim: as devoluções ficam no relatório de devoluções (menu Vendas).",
                    ),
                    status: Some(Status::Solved),
                    ..Change::default()
                },
                says: "Ana responde ao João: resolvido",
            },
            Step::Answers {
                from: "joao@cliente.example",
                name: "João Lima",
                body: "5\n\nObrigado pela ajuda!\n\nJoão",
                says: "João responde à pesquisa de satisfação: nota 5",
            },
            Step::ClockJumps {
                days: 5,
                minutes: MARGIN,
            },
            Step::ClockJumps {
                days: 2,
                minutes: MARGIN,
            },
            Step::ClockJumps {
                days: 5,
                minutes: MARGIN,
            },
        ],
    }
}

/// `consultoria`: a question to the consulting address is routed and
/// acknowledged with Help Center articles; 2 and 3 business days without
/// an answer give a warning and a breach note; the consultant's public
/// reply leaves it pending and goes by mail; 10 days later it is solved.
fn consultoria() -> Scene {
    const BEATRIZ: &str = "beatriz@contabil.example";
    Scene {
        pack: "consultoria",
        title: "consultoria: triagem, confirmação com artigos, prazo de 3 dias úteis, resposta por e-mail, resolvido",
        seed: json!({
            "groups": [
                { "id": 20, "name": "Consultoria" },
                { "id": 21, "name": "Consultoria Produção" },
                { "id": 22, "name": "Consultoria Homologação" },
                { "id": 23, "name": "Produto" },
            ],
            "users": [
                { "id": 32, "name": "Carla Consultora", "email": CONSULTANT, "role": "agent" },
                { "id": 33, "name": "Paulo Produto", "email": "po@tecnospeed.com.br", "role": "agent" },
            ],
            "articles": [
                { "id": 5001, "title": "Como configurar o certificado digital A1", "locale": "pt-br",
                  "draft": false, "html_url": "https://atendimento.tecnospeed.example/hc/pt-br/articles/5001",
                  "body": "<p>Para configurar o certificado digital A1, importe o arquivo PFX.</p>" },
                { "id": 5002, "title": "Impressora fiscal", "locale": "pt-br", "draft": false,
                  "html_url": "https://atendimento.tecnospeed.example/hc/pt-br/articles/5002",
                  "body": "<p>Configure a impressora.</p>" },
            ],
        }),
        steps: vec![
            Step::CustomerWrites {
                from: BEATRIZ,
                name: "Beatriz Ramos",
                to: CONSULTING,
                subject: "Como configurar o certificado digital A1?",
                body: "Bom dia,\n\nComo configuro o certificado A1 no componente?\n\nBeatriz",
            },
            Step::ClockJumpsBusinessDays {
                days: 2,
                minutes: MARGIN,
            },
            Step::ClockJumpsBusinessDays {
                days: 1,
                minutes: MARGIN,
            },
            Step::AgentUpdates {
                by: CONSULTANT,
                ticket: Which::NewestOf(BEATRIZ),
                change: Change {
                    public_reply: Some(
                        "Olá, Beatriz. Importe o arquivo PFX em Configurações > Certificados e informe a senha.",
                    ),
                    ..Change::default()
                },
                says: "Carla responde à Beatriz",
            },
            Step::ClockJumps {
                days: 10,
                minutes: MARGIN,
            },
        ],
    }
}

/// `ouvidoria`: the customer asks for the ombudsman; the agent records it
/// with the tag; #n is solved with the promised date and "OUVIDORIA - #n"
/// is opened for the owner with the ombudsman address in CC; the N2
/// analyst's answer hands it back to the owner, open.
fn ouvidoria() -> Scene {
    const RITA: &str = "rita@cliente.example";
    Scene {
        pack: "ouvidoria",
        title: "ouvidoria: pedido registrado → #n resolvido com a data, OUVIDORIA - #n aberto; devolução do N2",
        seed: json!({
            "groups": [ { "id": 61, "name": "Ouvidoria" } ],
            "users": [
                { "id": 7001, "name": "Richard", "email": OMBUDSMAN_OWNER, "role": "agent" },
                { "id": 7002, "name": "Analista N2 Ouvidoria", "email": ANALYST, "role": "agent" },
            ],
        }),
        steps: vec![
            Step::CustomerWrites {
                from: RITA,
                name: "Rita Alves",
                to: SUPPORT,
                subject: "Cobrança indevida pela terceira vez",
                body: "Boa tarde,\n\nFui cobrada de novo por um módulo que cancelei em setembro.\n\nRita",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf(RITA),
                change: Change {
                    internal_note: Some("Cliente não concordou com a resposta e pediu a ouvidoria."),
                    add_tags: vec!["ouvidoria_solicitada"],
                    ..Change::default()
                },
                says: "Rita pede a ouvidoria; Ana marca ouvidoria_solicitada",
            },
            Step::AgentUpdates {
                by: ANALYST,
                ticket: Which::SubjectStarts("OUVIDORIA - #"),
                change: Change {
                    internal_note: Some("Estorno do módulo feito em 20/11; nada mais a fazer do nosso lado."),
                    assignee: Some(ANALYST),
                    status: Some(Status::Solved),
                    ..Change::default()
                },
                says: "O analista N2 comenta e resolve a Ouvidoria",
            },
        ],
    }
}

/// `os-corporativo`: the agent fills the order and moves the ticket to
/// "Ordem de Serviço"; the sector gets the order by mail, the ticket goes
/// open then on hold; the sector's answer becomes an internal note. An
/// order with an invalid CNPJ gets a note listing what is missing, and no
/// mail.
fn os_corporativo() -> Scene {
    const CARLOS: &str = "carlos@restaurante.example";
    const LUCIA: &str = "lucia@mercado.example";
    let order = |cnpj: &'static str, company: &'static str| {
        vec![
            ("CNPJ", json!(cnpj)),
            ("Razão Social", json!(company)),
            ("Cliente", json!("ACME ALIMENTOS")),
            ("Quantidade de Equipamentos", json!(2)),
            ("Telefone", json!("(11) 4000-1234")),
            ("Endereço", json!("Rua das Flores, 100, São Paulo - SP")),
            ("Número de Série", json!("BEM123456")),
        ]
    };
    let field = |id: u64, kind: &str, title: &str| json!({ "id": id, "type": kind, "title": title });
    Scene {
        pack: "os-corporativo",
        title: "O.S. corporativa: campos conferidos, O.S. ao setor, resposta do setor como nota; CNPJ inválido",
        seed: json!({
            "groups": [
                { "id": 50, "name": "Suporte" },
                { "id": 51, "name": "Ordem de Serviço" },
                { "id": 52, "name": "Gestores de Conta" },
            ],
            "ticket_fields": [
                field(801, "text", "CNPJ"),
                field(802, "text", "Razão Social"),
                field(803, "text", "Cliente"),
                field(804, "text", "Número Referência"),
                field(805, "integer", "Quantidade de Equipamentos"),
                field(806, "checkbox", "Alteração de Endereço"),
                field(807, "text", "UF atual"),
                field(808, "text", "Telefone"),
                field(809, "text", "Endereço"),
                field(810, "text", "Número de Série"),
                field(811, "text", "Marca"),
                field(812, "text", "Formulário"),
                field(813, "text", "Família"),
                field(814, "text", "UF nova"),
            ],
        }),
        steps: vec![
            Step::CustomerWrites {
                from: CARLOS,
                name: "Carlos Compras",
                to: SUPPORT,
                subject: "ECF inoperante",
                body: "Bom dia,\n\nA impressora fiscal do caixa 2 não liga desde ontem.\n\nCarlos",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf(CARLOS),
                change: Change {
                    group: Some("Ordem de Serviço"),
                    fields: order("11.222.333/0001-81", "Restaurantes Exemplo Ltda"),
                    ..Change::default()
                },
                says: "Ana preenche CNPJ, razão social… e move para Ordem de Serviço",
            },
            Step::Answers {
                from: SECTOR,
                name: "Setor de O.S.",
                body: "O.S. 4711 aberta, técnico agendado para amanhã.",
                says: "O setor responde à O.S. por e-mail: vira nota interna",
            },
            Step::CustomerWrites {
                from: LUCIA,
                name: "Lúcia Prado",
                to: SUPPORT,
                subject: "Impressora não liga",
                body: "Olá,\n\nA impressora da loja não liga.\n\nLúcia",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf(LUCIA),
                change: Change {
                    group: Some("Ordem de Serviço"),
                    fields: order("11.222.333/0001-82", "Mercado Exemplo Ltda"),
                    ..Change::default()
                },
                says: "Ana move para Ordem de Serviço com um CNPJ inválido",
            },
        ],
    }
}

/// `manifestacoes`: a complaint to the manifestations address is
/// classified, gets its due date (5 business days) and the "recebida"
/// mail; a due date moved without a note is put back; solved without
/// reason and origin it comes back open with a note; with them it stays
/// solved and the customer is asked for a rating, which she gives by mail.
fn manifestacoes() -> Scene {
    const FERNANDA: &str = "fernanda@cliente.example";
    Scene {
        pack: "manifestacoes",
        title: "manifestações: reclamação classificada com prazo, prazo mantido, motivo e origem obrigatórios, nota final",
        seed: json!({
            "groups": [
                { "id": 62, "name": "Manifestações" },
                { "id": 63, "name": "Denúncias" },
            ],
            "ticket_fields": [
                { "id": 500, "type": "text", "title": "Tipo de manifestação" },
                { "id": 501, "type": "text", "title": "Motivo" },
                { "id": 502, "type": "text", "title": "Origem" },
                { "id": 503, "type": "integer", "title": "Nota parcial" },
                { "id": 504, "type": "integer", "title": "Nota final" },
            ],
        }),
        steps: vec![
            Step::CustomerWrites {
                from: FERNANDA,
                name: "Fernanda Costa",
                to: MANIFESTATIONS,
                subject: "Reclamação: técnico não compareceu",
                body: "Boa tarde,\n\nVenho registrar uma reclamação: o técnico agendado para ontem não compareceu e ninguém avisou.\n\nFernanda",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf(FERNANDA),
                change: Change {
                    due_in_days: Some(30),
                    ..Change::default()
                },
                says: "Ana adia o prazo sem justificativa",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf(FERNANDA),
                change: Change {
                    status: Some(Status::Solved),
                    ..Change::default()
                },
                says: "Ana resolve sem Motivo e Origem",
            },
            Step::AgentUpdates {
                by: AGENT,
                ticket: Which::NewestOf(FERNANDA),
                change: Change {
                    status: Some(Status::Solved),
                    fields: vec![
                        ("Motivo", json!("Atraso no atendimento")),
                        ("Origem", json!("E-mail")),
                    ],
                    ..Change::default()
                },
                says: "Ana preenche Motivo e Origem e resolve",
            },
            Step::Answers {
                from: FERNANDA,
                name: "Fernanda Costa",
                body: "nota 4\n\nResolveram, mas demorou.\n\nFernanda",
                says: "Fernanda responde ao pedido de nota: nota 4",
            },
        ],
    }
}

/// The scenes' seeds in one: each list is the concatenation of the
/// scenes' lists.
pub fn merged_seed(scenes: &[&Scene]) -> Value {
    let mut merged = serde_json::Map::new();
    for scene in scenes {
        if let Value::Object(parts) = &scene.seed {
            for (key, value) in parts {
                let list = merged.entry(key.clone()).or_insert_with(|| json!([]));
                if let (Value::Array(all), Value::Array(more)) = (list, value) {
                    all.extend(more.iter().cloned());
                }
            }
        }
    }
    Value::Object(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpdesk::sim::Seed;

    #[test]
    fn every_scene_has_steps_and_the_merged_seed_is_a_valid_seed() {
        let scenes = scenes();
        assert!(scenes.iter().all(|s| !s.steps.is_empty()));
        let all: Vec<&Scene> = scenes.iter().collect();
        let seed: Seed = serde_json::from_value(merged_seed(&all)).expect("a valid seed");
        assert_eq!(seed.custom_statuses.len(), 2);
        // Each scene's groups are its own.
        let mut ids: Vec<u64> = seed.groups.iter().map(|g| g.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), seed.groups.len(), "group ids are distinct");
    }

    #[test]
    fn seeds_are_merged_list_by_list() {
        let a = Scene {
            pack: "a",
            title: "a",
            seed: json!({ "groups": [ { "id": 1, "name": "Suporte" } ] }),
            steps: vec![],
        };
        let b = Scene {
            pack: "b",
            title: "b",
            seed: json!({ "groups": [ { "id": 2, "name": "Ouvidoria" } ], "users": [] }),
            steps: vec![],
        };
        assert_eq!(
            merged_seed(&[&a, &b]),
            json!({ "groups": [ { "id": 1, "name": "Suporte" }, { "id": 2, "name": "Ouvidoria" } ], "users": [] })
        );
    }
}
