//! The incremental ticket export: which tickets a page holds and the cursor
//! that resumes after it.
//!
//! Every ticket change gets the next change number, and a ticket appears in
//! the export once, at its latest change. A cursor holds a change number, so
//! a caller that saves `after_cursor` sees every ticket changed after it,
//! even several within one second. The cursor looks like Zendesk's:
//! base64 of `"{generated_timestamp}.0||{change}|"`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

use super::state::State;
use crate::helpdesk::model::Ticket;

/// The largest (and default) page of the export, as in Zendesk.
pub const MAX_PER_PAGE: usize = 1000;

/// Where an export page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFrom {
    /// Tickets whose `generated_timestamp` is at or after this Unix time.
    Time(i64),
    /// Tickets changed after this change number (from a cursor).
    Change(u64),
}

/// One page of the cursor export.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorPage {
    pub tickets: Vec<Ticket>,
    /// Resumes after this page.
    pub after_cursor: String,
    /// Nothing more changed after this page (for now).
    pub end_of_stream: bool,
}

/// One page of the cursor export from `from`.
pub fn cursor_page(state: &State, from: ExportFrom, per_page: usize, now_secs: i64) -> CursorPage {
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    let after = match from {
        ExportFrom::Time(_) => 0,
        ExportFrom::Change(change) => change,
    };
    let mut matching = state.changes_after(after).filter(|(_, ticket)| match from {
        ExportFrom::Time(start) => ticket.generated_timestamp.unwrap_or(0) >= start,
        ExportFrom::Change(_) => true,
    });
    let page: Vec<(u64, &Ticket)> = matching.by_ref().take(per_page).collect();
    let end_of_stream = matching.next().is_none();
    // At the end, resume after the latest change of all: everything up to it
    // was either returned or excluded by the start time.
    let (change, stamp) = match page.last() {
        Some((change, ticket)) if !end_of_stream => (*change, ticket.generated_timestamp.unwrap_or(now_secs)),
        last => (
            state.last_change(),
            last.and_then(|(_, t)| t.generated_timestamp).unwrap_or(now_secs),
        ),
    };
    CursorPage {
        tickets: page.into_iter().map(|(_, t)| t.clone()).collect(),
        after_cursor: encode_cursor(stamp, change),
        end_of_stream,
    }
}

/// One page of the older time-based export: tickets with
/// `generated_timestamp >= start`, oldest first. Returns the tickets, the
/// `end_time` to continue from, and whether the stream ended.
pub fn time_page(state: &State, start: i64, per_page: usize) -> (Vec<Ticket>, i64, bool) {
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    let mut matching: Vec<(i64, u64, &Ticket)> = state
        .changes_after(0)
        .filter_map(|(change, t)| {
            let stamp = t.generated_timestamp.unwrap_or(0);
            (stamp >= start).then_some((stamp, change, t))
        })
        .collect();
    matching.sort_by_key(|(stamp, change, _)| (*stamp, *change));
    let end_of_stream = matching.len() < per_page;
    matching.truncate(per_page);
    let end_time = matching.last().map_or(start, |(stamp, _, _)| *stamp);
    let tickets = matching.into_iter().map(|(_, _, t)| t.clone()).collect();
    (tickets, end_time, end_of_stream)
}

/// The opaque cursor for change number `change`.
pub fn encode_cursor(generated_timestamp: i64, change: u64) -> String {
    STANDARD.encode(format!("{generated_timestamp}.0||{change}|"))
}

/// The change number inside a cursor, `None` if it is not one of ours.
pub fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = STANDARD
        .decode(cursor.trim())
        .or_else(|_| URL_SAFE.decode(cursor.trim()))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (_, rest) = text.split_once("||")?;
    rest.strip_suffix('|')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;
    use crate::helpdesk::model::{NewComment, NewTicket, TicketUpdate};
    use crate::helpdesk::sim::Seed;
    use crate::helpdesk::sim::state::Credentials;

    #[test]
    fn cursor_round_trips_and_looks_like_zendesk() {
        assert_eq!(decode_cursor(&encode_cursor(1_576_613_539, 467)), Some(467));
        assert_eq!(decode_cursor("MTU3NjYxMzUzOS4wfHw0Njd8"), Some(467));
        assert_eq!(decode_cursor("not a cursor"), None);
    }

    #[test]
    fn pages_reach_the_end_and_a_saved_cursor_sees_later_changes() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T13:00:00Z")
            .expect("instant")
            .with_timezone(&Utc);
        let mut state = State::new(Seed::default(), now);
        let agent = state.actor(&Credentials::Bearer, now);
        for n in 0..5 {
            let new = NewTicket {
                comment: NewComment::public(format!("ticket {n}")),
                ..NewTicket::default()
            };
            state
                .create_ticket(&new, agent, now + TimeDelta::seconds(n))
                .expect("created");
        }
        let start = now.timestamp() - 60;
        let mut from = ExportFrom::Time(start);
        let mut seen = Vec::new();
        let cursor = loop {
            let page = cursor_page(&state, from, 2, now.timestamp());
            seen.extend(page.tickets.iter().map(|t| t.id));
            from = ExportFrom::Change(decode_cursor(&page.after_cursor).expect("our cursor"));
            if page.end_of_stream {
                break page.after_cursor;
            }
        };
        assert_eq!(seen, vec![1, 2, 3, 4, 5]);
        let change = decode_cursor(&cursor).expect("cursor");
        assert!(
            cursor_page(&state, ExportFrom::Change(change), 2, 0)
                .tickets
                .is_empty()
        );
        // Ticket 2 changes within the same second as ticket 5 was created.
        state
            .update_ticket(
                2,
                &TicketUpdate::default(),
                &BTreeSet::new(),
                agent,
                now + TimeDelta::seconds(4),
            )
            .expect("updated");
        let page = cursor_page(&state, ExportFrom::Change(change), 2, 0);
        let ids: Vec<_> = page.tickets.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![2]);
        assert!(page.end_of_stream);
    }
}
