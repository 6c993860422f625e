//! The loop guard, checked at load: a schedule rule runs on every tick, so
//! unless one of its actions makes one of its conditions false, it would
//! act on the same tickets forever (a reply every ten minutes). Zendesk
//! asks this of automations in its documentation; carteiro refuses to
//! load a rule that breaks it, unless it declares `once = "per_ticket"`.
//!
//! Only conditions every firing needs count: the rule's top-level `all`
//! (and nested `all`), and the leaves of a top-level `not`. A condition
//! inside `any` may not have been the one that held.
//!
//! A summary rule (only `send_digest` and `send_report` actions) is
//! exempt. The guard stops a rule from acting on the same ticket on every
//! tick; a summary never acts on a ticket. It sends ONE mail per tick,
//! whatever the number of tickets it counts, and that mail is sent at
//! most once per (rule, tick): its Message-ID is derived from both, and
//! the outbox keeps one row per Message-ID. Listing the same ticket again
//! tomorrow is the point of a daily digest, not a loop; how often it
//! mails is its cron's business.

use super::model::{ActionSpec, Condition, FieldRef, Leaf, Literal, Op, Operand, Rule};
use crate::helpdesk::Status;

/// `Ok` when some action contradicts some required condition; otherwise
/// why the rule is refused.
pub fn check_loop_guard(rule: &Rule) -> Result<(), String> {
    if rule.is_summary() {
        return Ok(());
    }
    let mut required = Vec::new();
    let mut negated = Vec::new();
    collect(&rule.condition, &mut required, &mut negated);
    let actions: Vec<&ActionSpec> = rule.actions.iter().map(|a| &a.action).collect();
    let undone = required
        .iter()
        .any(|leaf| actions.iter().any(|a| undoes(a, leaf)))
        || negated
            .iter()
            .any(|leaf| actions.iter().any(|a| makes_true(a, leaf)));
    if undone {
        return Ok(());
    }
    let mut conditions: Vec<String> = required.iter().map(|l| l.to_string()).collect();
    conditions.extend(negated.iter().map(|l| format!("not {l}")));
    let listed = if conditions.is_empty() {
        "it has no condition that all its firings need".to_owned()
    } else {
        format!("none of its actions undoes any of: {}", conditions.join("; "))
    };
    Err(format!(
        "a schedule rule must have an action that makes one of its conditions false (e.g. the condition \
         `ticket.status is pending` with `set_status = \"open\"`, or `not ticket.tags contains \"lembrado\"` \
         with `add_tags = [\"lembrado\"]`), or declare once = \"per_ticket\"; otherwise it acts on the same \
         tickets on every tick. {listed}"
    ))
}

fn collect<'a>(condition: &'a Condition, required: &mut Vec<&'a Leaf>, negated: &mut Vec<&'a Leaf>) {
    match condition {
        Condition::All(parts) => {
            for part in parts {
                collect(part, required, negated);
            }
        }
        Condition::Leaf(leaf) => required.push(leaf),
        Condition::Not(parts) => {
            // not [a, b] holds when neither holds: each leaf is negated.
            for part in parts {
                if let Condition::Leaf(leaf) = part {
                    negated.push(leaf);
                }
            }
        }
        Condition::Any(_) => {}
    }
}

fn text(operand: &Operand) -> Option<&str> {
    match operand {
        Operand::Literal(Literal::Text(s)) => Some(s),
        _ => None,
    }
}

fn list(operand: &Operand) -> Vec<&str> {
    match operand {
        Operand::Literal(Literal::List(items)) => items
            .iter()
            .filter_map(|i| match i {
                Literal::Text(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn same_literal(a: &Literal, b: &Operand) -> bool {
    matches!(b, Operand::Literal(l) if l == a)
}

/// Whether `action` makes the (held) condition `leaf` false.
fn undoes(action: &ActionSpec, leaf: &Leaf) -> bool {
    let status_is = |s: Status| match leaf.op {
        Op::Is => text(&leaf.operand).is_some_and(|v| v != s.as_str()),
        Op::In => !list(&leaf.operand).contains(&s.as_str()),
        Op::IsNot => false,
        _ => false,
    };
    match (&leaf.field, action) {
        (FieldRef::Status, ActionSpec::SetStatus(s)) => status_is(*s),
        (FieldRef::Status, ActionSpec::Solve) => status_is(Status::Solved),
        (FieldRef::CustomStatus, ActionSpec::SetCustomStatus(name)) => match leaf.op {
            Op::Is => text(&leaf.operand).is_some_and(|v| v != name),
            Op::In => !list(&leaf.operand).contains(&name.as_str()),
            _ => false,
        },
        // A built-in status moves the ticket to that status's default
        // custom status.
        (FieldRef::CustomStatus, ActionSpec::SetStatus(_) | ActionSpec::Solve) => {
            matches!(leaf.op, Op::Is | Op::In)
        }
        (FieldRef::Tags, ActionSpec::RemoveTags(tags)) => {
            leaf.op == Op::Contains && text(&leaf.operand).is_some_and(|t| tags.iter().any(|x| x == t))
        }
        (FieldRef::Group, ActionSpec::Assign(assign)) => match (&assign.group, leaf.op) {
            (Some(group), Op::Is) => text(&leaf.operand).is_some_and(|v| v != group),
            (Some(_), Op::Absent) => true,
            _ => false,
        },
        (FieldRef::Assignee, ActionSpec::Assign(assign)) => match (&assign.user, leaf.op) {
            (Some(user), Op::Is) => text(&leaf.operand).is_some_and(|v| !v.eq_ignore_ascii_case(user)),
            (Some(_), Op::Absent) => true,
            _ => false,
        },
        (FieldRef::CustomField(name), ActionSpec::SetField { field, value }) if field == name => {
            match leaf.op {
                Op::Is => !same_literal(value, &leaf.operand),
                Op::Absent => true,
                _ => false,
            }
        }
        (FieldRef::DueAt, ActionSpec::SetDue(_)) => leaf.op == Op::Absent,
        (FieldRef::Priority, ActionSpec::SetPriority(p)) => match leaf.op {
            Op::Is => text(&leaf.operand).is_some_and(|v| !v.eq_ignore_ascii_case(p)),
            Op::In => !list(&leaf.operand).iter().any(|v| v.eq_ignore_ascii_case(p)),
            Op::Absent => true,
            _ => false,
        },
        _ => false,
    }
}

/// Whether `action` makes `leaf` true, undoing a `not` around it.
fn makes_true(action: &ActionSpec, leaf: &Leaf) -> bool {
    match (&leaf.field, action) {
        (FieldRef::Tags, ActionSpec::AddTags(tags)) => {
            leaf.op == Op::Contains && text(&leaf.operand).is_some_and(|t| tags.iter().any(|x| x == t))
        }
        (FieldRef::Status, ActionSpec::SetStatus(s)) => {
            leaf.op == Op::Is && text(&leaf.operand) == Some(s.as_str())
        }
        (FieldRef::Status, ActionSpec::Solve) => leaf.op == Op::Is && text(&leaf.operand) == Some("solved"),
        (FieldRef::CustomStatus, ActionSpec::SetCustomStatus(name)) => {
            leaf.op == Op::Is && text(&leaf.operand) == Some(name.as_str())
        }
        (FieldRef::CustomField(name), ActionSpec::SetField { field, value }) if field == name => {
            match leaf.op {
                Op::Is => same_literal(value, &leaf.operand),
                Op::Present => true,
                _ => false,
            }
        }
        (FieldRef::Assignee, ActionSpec::Assign(assign)) => leaf.op == Op::Present && assign.user.is_some(),
        (FieldRef::Group, ActionSpec::Assign(assign)) => leaf.op == Op::Present && assign.group.is_some(),
        (FieldRef::DueAt, ActionSpec::SetDue(_)) => leaf.op == Op::Present,
        (FieldRef::Priority, ActionSpec::SetPriority(p)) => match leaf.op {
            Op::Is => text(&leaf.operand).is_some_and(|v| v.eq_ignore_ascii_case(p)),
            Op::In => list(&leaf.operand).iter().any(|v| v.eq_ignore_ascii_case(p)),
            Op::Present => true,
            _ => false,
        },
        _ => false,
    }
}
