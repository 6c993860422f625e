//! Names and ids: rules name groups, agents, custom statuses and fields as
//! admins see them; Zendesk wants ids. The directory is read from the
//! helpdesk (or a scenario's fixture) and lent to the engine, which stays
//! pure.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::helpdesk::{CustomStatus, Group, HelpDesk, Id, Status, StatusCategory, TicketField, User};

/// The account's groups, people, custom statuses and fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Directory {
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub custom_statuses: Vec<CustomStatus>,
    #[serde(default)]
    pub ticket_fields: Vec<TicketField>,
    #[serde(skip)]
    by_id: HashMap<Id, usize>,
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Directory {
    pub fn new(
        groups: Vec<Group>,
        users: Vec<User>,
        custom_statuses: Vec<CustomStatus>,
        ticket_fields: Vec<TicketField>,
    ) -> Directory {
        let mut directory = Directory {
            groups,
            users,
            custom_statuses,
            ticket_fields,
            by_id: HashMap::new(),
        };
        directory.index();
        directory
    }

    /// Reads the account's groups, agents and admins, custom statuses and
    /// ticket fields from the helpdesk: what rules name, read-only.
    pub async fn fetch(helpdesk: &impl HelpDesk) -> crate::helpdesk::Result<Directory> {
        let groups = helpdesk.list_groups().await?;
        let users = helpdesk.list_agents().await?;
        let custom_statuses = helpdesk.list_custom_statuses().await?;
        let ticket_fields = helpdesk.list_ticket_fields().await?;
        Ok(Directory::new(groups, users, custom_statuses, ticket_fields))
    }

    /// Rebuilds the user index (after deserializing).
    pub fn index(&mut self) {
        self.by_id = self.users.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
    }

    /// Adds or replaces a person.
    pub fn add_user(&mut self, user: User) {
        match self.by_id.get(&user.id) {
            Some(&i) => self.users[i] = user,
            None => {
                self.by_id.insert(user.id, self.users.len());
                self.users.push(user);
            }
        }
    }

    pub fn user(&self, id: Id) -> Option<&User> {
        self.by_id.get(&id).map(|&i| &self.users[i])
    }

    /// A user by e-mail or by name (e-mail first).
    pub fn user_named(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.email.as_deref().is_some_and(|e| same(e, name)))
            .or_else(|| self.users.iter().find(|u| same(&u.name, name)))
    }

    pub fn group(&self, id: Id) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn group_named(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| same(&g.name, name))
    }

    pub fn custom_status(&self, id: Id) -> Option<&CustomStatus> {
        self.custom_statuses.iter().find(|s| s.id == id)
    }

    /// A custom status by its agent label.
    pub fn custom_status_named(&self, name: &str) -> Option<&CustomStatus> {
        self.custom_statuses.iter().find(|s| same(&s.agent_label, name))
    }

    /// The default custom status of a built-in status, if the account has
    /// custom statuses.
    pub fn default_custom_status(&self, status: Status) -> Option<&CustomStatus> {
        let category = category_of(status)?;
        self.custom_statuses
            .iter()
            .find(|s| s.default && s.status_category == category)
    }

    pub fn field(&self, id: Id) -> Option<&TicketField> {
        self.ticket_fields.iter().find(|f| f.id == id)
    }

    /// A custom field by title, or by id written as digits.
    pub fn field_named(&self, name: &str) -> Option<&TicketField> {
        if let Ok(id) = name.parse::<Id>() {
            return self.field(id);
        }
        self.ticket_fields.iter().find(|f| same(&f.title, name))
    }
}

/// The built-in status a custom status category stands for.
pub fn status_of(category: StatusCategory) -> Status {
    match category {
        StatusCategory::New => Status::New,
        StatusCategory::Open => Status::Open,
        StatusCategory::Pending => Status::Pending,
        StatusCategory::Hold => Status::Hold,
        StatusCategory::Solved => Status::Solved,
    }
}

fn category_of(status: Status) -> Option<StatusCategory> {
    Some(match status {
        Status::New => StatusCategory::New,
        Status::Open => StatusCategory::Open,
        Status::Pending => StatusCategory::Pending,
        Status::Hold => StatusCategory::Hold,
        Status::Solved => StatusCategory::Solved,
        Status::Closed | Status::Deleted => return None,
    })
}

/// Every group, agent, custom status and field the rules name (in actions
/// and conditions) that `directory` does not know, each reported at its
/// rule: what `carteiro check --online` adds to the offline checks.
pub fn unknown_names(rules: &super::RuleSet, directory: &Directory) -> Vec<super::RuleProblem> {
    use super::model::{ActionSpec, Condition, FieldRef, Literal, Op};

    let mut problems = Vec::new();
    for rule in &rules.rules {
        let mut unknown = |what: &str, name: &str, known: bool| {
            if !known {
                problems.push(super::RuleProblem {
                    location: rule.location.clone(),
                    message: format!("rule {:?}: the helpdesk has no {what} {name:?}", rule.name),
                });
            }
        };
        let agent = |name: &str| directory.user_named(name).is_some_and(|u| u.role.is_staff());
        for entry in &rule.actions {
            match &entry.action {
                ActionSpec::SetCustomStatus(name) => {
                    unknown(
                        "custom status",
                        name,
                        directory.custom_status_named(name).is_some(),
                    );
                }
                ActionSpec::Assign(assign) => {
                    if let Some(user) = &assign.user {
                        unknown("agent", user, agent(user));
                    }
                    if let Some(group) = &assign.group {
                        unknown("group", group, directory.group_named(group).is_some());
                    }
                }
                ActionSpec::SetField { field, .. } => {
                    unknown("ticket field", field, directory.field_named(field).is_some());
                }
                ActionSpec::SendReport(spec) => {
                    for (_, field) in &spec.by {
                        if let FieldRef::CustomField(name) = field {
                            unknown("ticket field", name, directory.field_named(name).is_some());
                        }
                    }
                }
                ActionSpec::CreateTicket(spec) => {
                    if let Some(user) = &spec.assignee {
                        unknown("agent", user, agent(user));
                    }
                    if let Some(group) = &spec.group {
                        unknown("group", group, directory.group_named(group).is_some());
                    }
                }
                _ => {}
            }
        }
        let mut leaves = Vec::new();
        let mut stack = vec![&rule.condition];
        while let Some(condition) = stack.pop() {
            match condition {
                Condition::All(items) | Condition::Any(items) | Condition::Not(items) => stack.extend(items),
                Condition::Leaf(leaf) => leaves.push(leaf),
            }
        }
        for leaf in leaves {
            if let super::model::Operand::Field(FieldRef::CustomField(name)) = &leaf.operand {
                unknown("ticket field", name, directory.field_named(name).is_some());
            }
            if let FieldRef::CustomField(name) = &leaf.field {
                unknown("ticket field", name, directory.field_named(name).is_some());
                continue;
            }
            let names_a_value = matches!(
                leaf.op,
                Op::Is | Op::IsNot | Op::In | Op::ChangedTo | Op::ChangedFrom
            );
            let super::model::Operand::Literal(literal) = &leaf.operand else {
                continue;
            };
            if !names_a_value {
                continue;
            }
            let texts: Vec<&str> = match literal {
                Literal::Text(text) => vec![text.as_str()],
                Literal::List(items) => items
                    .iter()
                    .filter_map(|l| match l {
                        Literal::Text(text) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for text in texts {
                match leaf.field {
                    FieldRef::Group => unknown("group", text, directory.group_named(text).is_some()),
                    FieldRef::CustomStatus => {
                        unknown(
                            "custom status",
                            text,
                            directory.custom_status_named(text).is_some(),
                        );
                    }
                    FieldRef::Assignee => unknown("agent", text, agent(text)),
                    _ => {}
                }
            }
        }
    }
    problems
}
