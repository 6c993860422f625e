//! `send_report`: one mail per schedule tick with the figures of a period
//! (PRODUCT.md, issue 8: the manifestations' weekly statistics "by type,
//! status, reason and SLA compliance").
//!
//! The period is the `days` local days before the tick's day: a tick on
//! Monday 08:00 with `days = 7` reports Monday to Sunday of the week
//! before, whatever the hour of the tick, so a tick run late (after a
//! restart) reports the same week. The runner hands [`build`] every
//! snapshot the rule's conditions match among the tickets not closed and
//! those closed since the period began ([`crate::store::Store::summary_snapshots`]);
//! a ticket counts as
//!
//! - **received** when it was created in the period,
//! - **solved** when it is solved or closed now and was last solved in
//!   the period; it met its due date when it was solved by then,
//! - **open** when it is not solved now (new, open, pending, hold),
//!   whenever it was created; **overdue** when, besides, its due date has
//!   passed at the tick.
//!
//! Each breakdown (`by`) splits those figures by one field's value.
//! The mail is composed like a digest's ([`super::digest::compose_summary`]):
//! about no ticket, with a Message-ID fixed by (rule, action, tick).

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde_json::Value as Json;

use super::digest::local_day;
use super::directory::Directory;
use super::model::{FieldRef, SendReportSpec};
use crate::calendar::Calendar;
use crate::helpdesk::clocks::TicketClocks;
use crate::helpdesk::{Status, Ticket};
use crate::template::{ReportRow, ReportVars, SlaVars, instant};

/// The period a tick reports: `[start, end)`, local midnights, `days`
/// days long, ending when the tick's local day begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    pub fn before(tick: DateTime<Utc>, days: u32, calendar: &Calendar) -> Period {
        let today = local_day(tick, calendar);
        let first_day = today
            .checked_sub_days(Days::new(u64::from(days.max(1))))
            .unwrap_or(NaiveDate::MIN);
        let last_day = today.pred_opt().unwrap_or(NaiveDate::MIN);
        Period {
            first_day,
            last_day,
            start: calendar.resolve(first_day.and_time(NaiveTime::MIN)),
            end: calendar.resolve(today.and_time(NaiveTime::MIN)),
        }
    }

    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// What one ticket adds to a report's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    received: usize,
    solved: usize,
    open: usize,
    overdue: usize,
    sla: SlaVars,
}

impl Counts {
    fn of(ticket: &Ticket, clocks: &TicketClocks, period: &Period, now: DateTime<Utc>) -> Counts {
        let mut counts = Counts::default();
        if period.contains(ticket.created_at) {
            counts.received = 1;
        }
        match ticket.status {
            Status::Solved | Status::Closed => {
                if let Some(solved_at) = clocks.solved_at.filter(|at| period.contains(*at)) {
                    counts.solved = 1;
                    match ticket.due_at {
                        None => counts.sla.no_due = 1,
                        Some(due) if solved_at <= due => counts.sla.on_time = 1,
                        Some(_) => counts.sla.late = 1,
                    }
                }
            }
            Status::Deleted => {}
            _ => {
                counts.open = 1;
                if ticket.due_at.is_some_and(|due| due <= now) {
                    counts.overdue = 1;
                }
            }
        }
        counts
    }

    fn is_empty(&self) -> bool {
        *self == Counts::default()
    }

    fn add(&mut self, other: &Counts) {
        self.received += other.received;
        self.solved += other.solved;
        self.open += other.open;
        self.overdue += other.overdue;
        self.sla.on_time += other.sla.on_time;
        self.sla.late += other.sla.late;
        self.sla.no_due += other.sla.no_due;
    }
}

/// The `report` variable for `tickets` (each with its clocks), the
/// snapshots the rule matched at `now` for the tick's `period`.
pub fn build<'a>(
    tickets: impl IntoIterator<Item = (&'a Ticket, &'a TicketClocks)>,
    spec: &SendReportSpec,
    directory: &Directory,
    period: &Period,
    now: DateTime<Utc>,
) -> ReportVars {
    let mut total = Counts::default();
    let mut by: Vec<BTreeMap<Option<String>, Counts>> = vec![BTreeMap::new(); spec.by.len()];
    for (ticket, clocks) in tickets {
        let counts = Counts::of(ticket, clocks, period, now);
        if counts.is_empty() {
            continue;
        }
        total.add(&counts);
        for ((_, field), rows) in spec.by.iter().zip(by.iter_mut()) {
            rows.entry(breakdown_value(field, ticket, directory))
                .or_default()
                .add(&counts);
        }
    }
    let by = spec
        .by
        .iter()
        .zip(by)
        .map(|((name, _), rows)| {
            let mut rows: Vec<ReportRow> = rows
                .into_iter()
                .map(|(value, c)| {
                    ReportRow {
                        value,
                        received: c.received,
                        solved: c.solved,
                        open: c.open,
                        sla: c.sla,
                        share: 0,
                    }
                    .with_share(total.received)
                })
                .collect();
            // The biggest first; a ticket without the value last.
            rows.sort_by(|a, b| {
                (b.received, b.open, b.solved)
                    .cmp(&(a.received, a.open, a.solved))
                    .then_with(|| a.value.is_none().cmp(&b.value.is_none()))
                    .then_with(|| a.value.cmp(&b.value))
            });
            (name.clone(), rows)
        })
        .collect();
    ReportVars {
        now: instant(now),
        start: period.first_day.to_string(),
        end: period.last_day.to_string(),
        days: spec.days,
        received: total.received,
        solved: total.solved,
        open: total.open,
        overdue: total.overdue,
        sla: total.sla,
        by,
    }
}

/// The text a breakdown shows for `ticket`'s `field`: names for people,
/// groups and custom statuses, a drop-down option's name for its value;
/// `None` when the ticket has no value.
pub fn breakdown_value(field: &FieldRef, ticket: &Ticket, directory: &Directory) -> Option<String> {
    let json_text = |value: &Json| match value {
        Json::Null => None,
        Json::String(s) if s.is_empty() => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    match field {
        FieldRef::Status => Some(ticket.status.as_str().to_owned()),
        FieldRef::CustomStatus => ticket.custom_status_id.map(|id| {
            directory
                .custom_status(id)
                .map_or_else(|| id.to_string(), |s| s.agent_label.clone())
        }),
        FieldRef::Group => ticket.group_id.map(|id| {
            directory
                .group(id)
                .map_or_else(|| id.to_string(), |g| g.name.clone())
        }),
        FieldRef::Assignee => ticket.assignee_id.map(|id| {
            directory
                .user(id)
                .map_or_else(|| id.to_string(), |u| u.name.clone())
        }),
        FieldRef::Priority => ticket.priority.clone().filter(|p| !p.is_empty()),
        FieldRef::TicketType => ticket.ticket_type.clone().filter(|t| !t.is_empty()),
        FieldRef::Via => ticket.via.as_ref().and_then(|via| json_text(&via.channel)),
        FieldRef::CustomField(name) => {
            let field = directory.field_named(name)?;
            let value = ticket.custom_field(field.id)?;
            let option = field
                .custom_field_options
                .iter()
                .flatten()
                .find(|option| option.value == *value);
            match option {
                Some(option) => Some(option.name.clone()),
                None => json_text(value),
            }
        }
        // The load refuses the others (`FieldRef::is_breakdown`).
        _ => None,
    }
}

#[cfg(test)]
mod tests;
