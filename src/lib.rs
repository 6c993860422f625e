//! carteiro: a daemon beside Zendesk that runs support procedures from
//! declarative rule files, over the Zendesk API and e-mail.

pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod dry_run;
pub mod helpdesk;
pub mod mail;
pub mod outbound;
pub mod rules;
pub mod secret;
pub mod store;
pub mod template;
pub mod tickets;
