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

/// The agent who acts through the helpdesk API in the steps.
pub const AGENT: &str = "ana@empresa.example";

/// One thing that happens in the day.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A customer's mail lands in the support Maildir.
    CustomerWrites {
        from: &'static str,
        name: &'static str,
        subject: &'static str,
        body: &'static str,
    },
    /// The agent updates the newest ticket of `customer` through the
    /// helpdesk API: a public reply, a status and maybe a custom status
    /// (by its name).
    AgentUpdates {
        customer: &'static str,
        reply: &'static str,
        status: Status,
        custom_status: Option<&'static str>,
        /// What the table says, e.g. "Ana responde e deixa pendente".
        says: &'static str,
    },
    /// The clock jumps forward.
    ClockJumps { days: i64, minutes: i64 },
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

/// Every scene, in the order they play.
pub fn scenes() -> Vec<Scene> {
    vec![ciclo_de_status()]
}

/// `ciclo-de-status`: confirmation with the number and checklist; pending
/// 7 days → "Validação Cliente" → closed 5 days later; solved → closed
/// after 5 days.
fn ciclo_de_status() -> Scene {
    // Past the day boundary by a quarter of an hour, so the rules'
    // ten-minute schedule has ticked after the deadline.
    const MARGIN: i64 = 15;
    Scene {
        pack: "ciclo-de-status",
        title: "ciclo de status: confirmação, pendente → Validação Cliente → fechado, resolvido → fechado",
        seed: json!({
            "custom_statuses": [
                { "id": 900, "status_category": "pending", "agent_label": "Pendente", "active": true, "default": true },
                { "id": 901, "status_category": "pending", "agent_label": "Validação Cliente", "active": true, "default": false },
            ],
        }),
        steps: vec![
            Step::CustomerWrites {
                from: "maria@cliente.example",
                name: "Maria Souza",
                subject: "Erro ao emitir nota fiscal",
                body: "Bom dia,\n\nAo emitir a nota fiscal aparece \"Falha na transmissão\". Podem ajudar?\n\nMaria",
            },
            Step::CustomerWrites {
                from: "joao@cliente.example",
                name: "João Lima",
                subject: "Dúvida sobre o relatório de vendas",
                body: "Olá,\n\nO relatório de vendas de outubro não mostra as devoluções. É esperado?\n\nJoão",
            },
            Step::AgentUpdates {
                customer: "maria@cliente.example",
                reply: "Olá, Maria. Pode nos enviar a versão do sistema e o arquivo de log da transmissão?",
                status: Status::Pending,
                custom_status: Some("Pendente"),
                says: "Ana pede dados à Maria: Pendente",
            },
            Step::AgentUpdates {
                customer: "joao@cliente.example",
                reply: "Olá, João. Sim: as devoluções ficam no relatório de devoluções (menu Vendas).",
                status: Status::Solved,
                custom_status: None,
                says: "Ana responde ao João: resolvido",
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
