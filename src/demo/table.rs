//! The demo's table: fixed-width columns, Portuguese headings, long values
//! cut with "…" so every row stays on one line. A step's row has no rule
//! or action, so its description runs on over those two columns.

use chrono::{DateTime, Utc};

use crate::rules::plan::Effect;

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The virtual clock.
    pub at: DateTime<Utc>,
    /// The step (customer mail, agent, clock); empty on the rows of what
    /// the rules did.
    pub event: String,
    pub rule: String,
    pub action: String,
    /// `#1 pending/Pendente`.
    pub ticket: String,
}

/// Column widths, in characters. The rule column fits the longest shipped
/// rule name (`manifestacoes-prazo-sem-justificativa`), so names are never
/// cut.
const WIDTHS: [usize; 4] = [11, 14, 37, 50];

/// Prints rows under one header.
#[derive(Debug, Default)]
pub struct Table {}

impl Table {
    pub fn new() -> Table {
        Table {}
    }

    pub fn header(&self) -> String {
        let line = self.line(["HORA", "PASSO / EVENTO", "REGRA", "AÇÃO"], "ESTADO DO CHAMADO");
        let rule = "-".repeat(line.chars().count().max(140));
        format!("{line}\n{rule}")
    }

    /// A line naming a scene.
    pub fn section(&self, title: &str) -> String {
        format!("== {title}")
    }

    pub fn row(&self, row: &Row) -> String {
        let at = clock_text(row.at);
        if row.rule.is_empty() && row.action.is_empty() {
            // The event spans the event, rule and action columns.
            let span = WIDTHS[1] + WIDTHS[2] + WIDTHS[3] + 4;
            let line = format!(
                "{}  {}  {}",
                fit(&at, WIDTHS[0]),
                fit(&row.event, span),
                row.ticket
            );
            return line.trim_end().to_owned();
        }
        self.line(
            [
                at.as_str(),
                row.event.as_str(),
                row.rule.as_str(),
                row.action.as_str(),
            ],
            &row.ticket,
        )
    }

    fn line(&self, cells: [&str; 4], last: &str) -> String {
        let mut out = String::new();
        for (cell, width) in cells.iter().zip(WIDTHS) {
            out.push_str(&fit(cell, width));
            out.push_str("  ");
        }
        out.push_str(last);
        out.trim_end().to_owned()
    }
}

/// The virtual clock as the table shows it: `23/11 14:53`, São Paulo time.
pub fn clock_text(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::America::Sao_Paulo)
        .format("%d/%m %H:%M")
        .to_string()
}

/// `text` cut or padded to exactly `width` characters.
fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count > width {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        format!("{text}{}", " ".repeat(width - count))
    }
}

/// What a planned step did, in the table's words.
pub fn effect_text(effect: &Effect) -> String {
    match effect {
        Effect::SetStatus(status) => format!("status → {}", status.as_str()),
        Effect::SetCustomStatus { name, .. } => format!("status personalizado → {name}"),
        Effect::SendMail { to, template, .. } => format!("e-mail {template} → {}", to.join(", ")),
        Effect::PublicReply { template, .. } => format!("resposta pública ({template})"),
        Effect::InternalNote { template, .. } => format!("nota interna ({template})"),
        Effect::AddTags(tags) => format!("tags + {}", tags.join(", ")),
        Effect::RemoveTags(tags) => format!("tags − {}", tags.join(", ")),
        Effect::Solve => "resolve".to_owned(),
        Effect::Assign { user, group, .. } => match (user, group) {
            (Some(user), Some(group)) => format!("atribui a {user} ({group})"),
            (Some(user), None) => format!("atribui a {user}"),
            (None, Some(group)) => format!("grupo → {group}"),
            (None, None) => "atribui".to_owned(),
        },
        Effect::SetField { field, value, .. } => match value {
            serde_json::Value::String(text) => format!("campo {field} = {text}"),
            other => format!("campo {field} = {other}"),
        },
        Effect::SetDue(at) => format!("prazo → {}", clock_text(*at)),
        Effect::ClearDue => "prazo removido".to_owned(),
        Effect::SetPriority(priority) => format!("prioridade → {priority}"),
        Effect::CreateTicket { subject, cc, .. } if cc.is_empty() => format!("cria \"{subject}\""),
        Effect::CreateTicket { subject, cc, .. } => format!("cria \"{subject}\", cc {}", cc.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpdesk::Status;

    #[test]
    fn columns_have_fixed_widths_and_long_values_are_cut() {
        let table = Table::new();
        let at = DateTime::parse_from_rfc3339("2026-11-23T12:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let row = Row {
            at,
            event: "Maria Souza escreve: \"Erro ao emitir nota fiscal no sistema\"".to_owned(),
            rule: String::new(),
            action: String::new(),
            ticket: "#1 open".to_owned(),
        };
        let line = table.row(&row);
        // A step's row runs on over the empty rule and action columns.
        assert!(
            line.starts_with(
                "23/11 09:30  Maria Souza escreve: \"Erro ao emitir nota fiscal no sistema\"   "
            ),
            "{line}"
        );
        assert!(line.ends_with("  #1 open"), "{line}");
        assert_eq!(line.chars().count(), 11 + 14 + 37 + 50 + 8 + "#1 open".len());
        let fired = table.row(&Row {
            at,
            event: String::new(),
            rule: "consultoria-pendente-10d-resolver-e-mais".to_owned(),
            action: "status personalizado → Validação Cliente".to_owned(),
            ticket: "#1 pending/Validação Cliente".to_owned(),
        });
        assert_eq!(
            fired,
            format!(
                "23/11 09:30  {}  consultoria-pendente-10d-resolver-e-…  status personalizado → Validação Cliente{}  #1 pending/Validação Cliente",
                " ".repeat(14),
                " ".repeat(50 - 40)
            )
        );
        let header = table.header();
        assert!(header.starts_with("HORA         PASSO / EVENTO"), "{header}");
    }

    #[test]
    fn every_shipped_rule_name_fits_the_rule_column() {
        for (path, bytes) in crate::demo::shipped::SHIPPED_RULES {
            if path.contains('/') || !path.ends_with(".toml") {
                continue;
            }
            let text = String::from_utf8_lossy(bytes);
            for line in text.lines() {
                if let Some(name) = line.strip_prefix("name = \"").and_then(|r| r.strip_suffix('"')) {
                    assert!(
                        name.chars().count() <= WIDTHS[2],
                        "{path}: {name} is cut in the table"
                    );
                }
            }
        }
    }

    #[test]
    fn effects_read_as_portuguese_actions() {
        assert_eq!(effect_text(&Effect::SetStatus(Status::Closed)), "status → closed");
        assert_eq!(
            effect_text(&Effect::SetCustomStatus {
                id: 901,
                name: "Validação Cliente".to_owned(),
                solved: false,
            }),
            "status personalizado → Validação Cliente"
        );
        assert_eq!(
            effect_text(&Effect::Assign {
                user_id: None,
                user: None,
                group_id: Some(20),
                group: Some("Consultoria".to_owned()),
            }),
            "grupo → Consultoria"
        );
        assert_eq!(
            effect_text(&Effect::Assign {
                user_id: Some(7),
                user: Some("richard@bematech.com.br".to_owned()),
                group_id: Some(61),
                group: Some("Ouvidoria".to_owned()),
            }),
            "atribui a richard@bematech.com.br (Ouvidoria)"
        );
        assert_eq!(
            effect_text(&Effect::SetField {
                id: 811,
                field: "Marca".to_owned(),
                value: serde_json::json!("Bematech Hardware"),
            }),
            "campo Marca = Bematech Hardware"
        );
        assert_eq!(
            effect_text(&Effect::SetField {
                id: 805,
                field: "Quantidade".to_owned(),
                value: serde_json::json!(2),
            }),
            "campo Quantidade = 2"
        );
        let due = DateTime::parse_from_rfc3339("2026-11-30T18:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(effect_text(&Effect::SetDue(due)), "prazo → 30/11 15:00");
        let created: Effect = serde_json::from_value(serde_json::json!({
            "create_ticket": {
                "subject": "OUVIDORIA - #5",
                "cc": ["ouvidoria@bematech.com.br"],
                "internal_note": "…",
            }
        }))
        .expect("an effect");
        assert_eq!(
            effect_text(&created),
            "cria \"OUVIDORIA - #5\", cc ouvidoria@bematech.com.br"
        );
        assert_eq!(
            effect_text(&Effect::InternalNote {
                template: "os_pendencias".to_owned(),
                body: String::new()
            }),
            "nota interna (os_pendencias)"
        );
    }
}
