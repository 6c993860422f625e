//! The rule language: files admins keep in git, turned into plans.
//!
//! The data flow: [`load`] reads a rules folder ([`syntax`] is the file as
//! written, [`model`] the checked rules, [`guard`] the loop guard) into a
//! [`RuleSet`]; [`engine::plan`] turns an event about a ticket into a
//! [`Plan`] without any I/O, using names from a [`Directory`]; the
//! [`exec::Executor`] applies it, once, through the helpdesk and the
//! outbox (`docs/executor.md`). The language is documented in
//! `docs/rules.md`.

pub mod articles;
pub mod cnpj;
pub mod digest;
pub mod directory;
pub mod engine;
pub mod exec;
pub mod guard;
pub mod load;
pub mod model;
pub mod params;
pub mod plan;
pub mod reload;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod syntax;

pub use directory::Directory;
pub use engine::{Context, Event, EventKind, MailFacts, TicketFacts, plan};
pub use load::{RuleProblem, RuleSet, load_dir, load_sources};
pub use plan::{Effect, Plan, Step};

#[cfg(test)]
mod tests;
