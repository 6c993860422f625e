//! Names and ids: rules name groups, agents, custom statuses and fields as
//! admins see them; Zendesk wants ids. The directory is read from the
//! helpdesk (or a scenario's fixture) and lent to the engine, which stays
//! pure.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::helpdesk::{CustomStatus, Group, Id, Status, StatusCategory, TicketField, User};

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
