//! The integration tests, as one binary: one link instead of one per file,
//! and one set of mail servers per run (see `support::mail::servers`).

mod support;

mod calendar;
mod calendar_clocks;
mod calendar_holidays;
mod cli;
mod config;
mod demo;
mod dry_run;
mod executor;
mod inbound;
mod ingest;
mod mail_corpus;
mod mailservers;
mod outbound;
mod pack_ciclo;
mod pack_consultoria;
mod pack_manifestacoes;
mod pack_os;
mod pack_ouvidoria;
mod rules_cli;
mod rules_e2e;
mod rules_invalid;
mod rules_packs;
mod rules_reload;
mod runner;
mod sim;
mod sim_strict;
mod sim_triggers;
mod store;
mod third_party_client;
mod tickets;
mod zendesk_conformance;
