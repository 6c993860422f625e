//! Zendesk's search query language, for tickets and users: what
//! `GET /api/v2/search`, `GET /api/v2/search/count` and
//! `GET /api/v2/users/search?query=` match.
//!
//! The syntax follows Zendesk's API docs
//! (<https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/>,
//! "Syntax examples") and the Support search reference
//! (<https://support.zendesk.com/hc/en-us/articles/4408886879258>):
//! terms separated by spaces all have to match; `keyword:value` for
//! equality, `<`, `>`, `<=`, `>=` for order (`status<solved` is new, open,
//! pending or hold; dates compare as dates); a leading `-` negates a term;
//! `"double quotes"` hold a phrase; `type:ticket` / `type:user` pick the
//! kind of record; `order_by:field sort:asc|desc` sort. A free word matches
//! a word of the record or the start of one ("top" finds "Toppings", not
//! "Desktop"), without case or accents, so a trailing `*` changes nothing.
//!
//! What the simulator does not model is refused with a message naming the
//! term, never answered with a silently wrong result: other record types
//! (organizations, groups), relative dates (`created>4hours`), keywords
//! outside the list below, a keyword given twice with `:` (Zendesk's
//! meaning of that is not modelled), wildcards inside words.
//!
//! Tickets: `status`, `priority`, `ticket_type`, `tags`/`tag`, `requester`,
//! `assignee`, `submitter` (an e-mail, an id, a name, `none`, `me`),
//! `group` (a name, an id, `none`), `external_id`, `subject`,
//! `description`, `created`, `updated`, a bare number (the ticket's id),
//! free words (subject, description and comments).
//! Users: `email`, `name`, `role`, `tags`/`tag`, `external_id`, `created`,
//! `updated`, free words (name, e-mail, notes, details, phone).

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};

use super::articles::{fold, words};
use super::state::State;
use crate::helpdesk::model::{Id, Role, Status, Ticket, User};

/// The kinds of record the simulator searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ticket,
    User,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// `type:`; `None` searches tickets and users.
    pub kind: Option<Kind>,
    terms: Vec<Term>,
    /// `order_by:` and `sort:` from the query itself.
    pub order: Option<SortField>,
    pub ascending: Option<bool>,
}

/// What search results can be sorted by: the API's `sort_by` values
/// (`updated_at`, `created_at`, `priority`, `status`, `ticket_type`) and the
/// query's `order_by:` ones (`created`, `commented`, `priority`, `status`,
/// `ticket_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Created,
    Updated,
    Commented,
    Priority,
    Status,
    TicketType,
}

impl SortField {
    /// The `sort_by` parameter.
    pub fn from_param(value: &str) -> Result<SortField, String> {
        match value {
            "created_at" => Ok(SortField::Created),
            "updated_at" => Ok(SortField::Updated),
            "priority" => Ok(SortField::Priority),
            "status" => Ok(SortField::Status),
            "ticket_type" => Ok(SortField::TicketType),
            other => Err(format!(
                "sort_by `{other}` is not one of updated_at, created_at, priority, status, ticket_type"
            )),
        }
    }

    fn from_keyword(value: &str) -> Result<SortField, String> {
        match value {
            "created" | "created_at" => Ok(SortField::Created),
            "updated" | "updated_at" => Ok(SortField::Updated),
            "commented" => Ok(SortField::Commented),
            "priority" => Ok(SortField::Priority),
            "status" => Ok(SortField::Status),
            "ticket_type" => Ok(SortField::TicketType),
            other => Err(format!(
                "order_by:{other} is not one of created, commented, priority, status, ticket_type"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Op::Eq => ordering == Ordering::Equal,
            Op::Lt => ordering == Ordering::Less,
            Op::Gt => ordering == Ordering::Greater,
            Op::Le => ordering != Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    negated: bool,
    test: Test,
}

/// One term's test.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// Free words (a phrase when quoted), folded.
    Text {
        words: Vec<String>,
        phrase: bool,
    },
    /// A bare number: a ticket's id, or a word.
    Number(u64),
    Status(Op, Status),
    Priority(Op, Option<u8>),
    TicketType(Option<String>),
    Tag(String),
    Person(Person, UserRef),
    Group(GroupRef),
    ExternalId(String),
    Subject(Vec<String>),
    Description(Vec<String>),
    Created(Op, When),
    Updated(Op, When),
    Email(String),
    Name(Vec<String>),
    Role(Role),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Person {
    Requester,
    Assignee,
    Submitter,
}

#[derive(Debug, Clone, PartialEq)]
enum UserRef {
    None,
    Me,
    Id(Id),
    Email(String),
    Name(String),
}

#[derive(Debug, Clone, PartialEq)]
enum GroupRef {
    None,
    Id(Id),
    Name(String),
}

/// A date (a whole day, UTC) or an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
enum When {
    Day(NaiveDate),
    At(DateTime<Utc>),
}

impl When {
    /// Where `t` falls relative to this day or instant.
    fn compare(self, t: DateTime<Utc>) -> Ordering {
        match self {
            When::Day(day) => t.date_naive().cmp(&day),
            When::At(at) => t.cmp(&at),
        }
    }
}

/// What a query's author sees when the simulator cannot answer it.
pub type Unsupported = String;

impl Search {
    /// Parses `query`. An `Err` says which term is not supported and why.
    pub fn parse(query: &str) -> Result<Search, Unsupported> {
        let mut search = Search {
            kind: None,
            terms: Vec::new(),
            order: None,
            ascending: None,
        };
        let mut equalities: Vec<String> = Vec::new();
        for token in tokens(query)? {
            let Token {
                negated,
                key,
                op,
                value,
                quoted,
            } = token;
            let Some(key) = key else {
                search.terms.push(Term {
                    negated,
                    test: free_text(&value, quoted)?,
                });
                continue;
            };
            let key = key.to_ascii_lowercase();
            let raw = format!("{}{key}{}{value}", if negated { "-" } else { "" }, op_text(op));
            match key.as_str() {
                "type" => {
                    search.kind = Some(match (op, negated, value.to_ascii_lowercase().as_str()) {
                        (Op::Eq, false, "ticket") => Kind::Ticket,
                        (Op::Eq, false, "user") => Kind::User,
                        (Op::Eq, false, "organization" | "group") => {
                            return Err(format!("`{raw}`: the simulator searches tickets and users only"));
                        }
                        _ => return Err(format!("`{raw}`: type takes ticket or user")),
                    });
                    continue;
                }
                "order_by" => {
                    search.order = Some(SortField::from_keyword(&value)?);
                    continue;
                }
                "sort" => {
                    search.ascending = Some(match value.as_str() {
                        "asc" => true,
                        "desc" => false,
                        other => return Err(format!("sort:{other} is not asc or desc")),
                    });
                    continue;
                }
                _ => {}
            }
            if op == Op::Eq && key != "tags" && key != "tag" && !negated {
                if equalities.contains(&key) {
                    return Err(format!(
                        "`{raw}`: {key} is given twice; the simulator does not model how Zendesk combines them"
                    ));
                }
                equalities.push(key.clone());
            }
            let test = keyword(&key, op, &value, quoted).map_err(|why| format!("`{raw}`: {why}"))?;
            search.terms.push(Term { negated, test });
        }
        if search.terms.is_empty() && search.kind.is_none() {
            return Err("the query has no term to search for".to_owned());
        }
        Ok(search)
    }

    /// Whether `ticket` matches every term (and the query may find tickets).
    pub fn matches_ticket(&self, state: &State, actor: Id, ticket: &Ticket) -> bool {
        if self.kind == Some(Kind::User) || ticket.status == Status::Deleted {
            return false;
        }
        self.terms.iter().all(|term| {
            let hit = match ticket_test(state, actor, ticket, &term.test) {
                Some(hit) => hit,
                // A user-only keyword never matches a ticket.
                None => return false,
            };
            hit != term.negated
        })
    }

    /// Whether `user` matches every term (and the query may find users).
    pub fn matches_user(&self, user: &User) -> bool {
        if self.kind == Some(Kind::Ticket) {
            return false;
        }
        self.terms.iter().all(|term| match user_test(user, &term.test) {
            Some(hit) => hit != term.negated,
            None => false,
        })
    }
}

/// One term as written: `-key<value`, `key:"a phrase"`, `word`.
#[derive(Debug)]
struct Token {
    negated: bool,
    key: Option<String>,
    op: Op,
    value: String,
    quoted: bool,
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => ":",
        Op::Lt => "<",
        Op::Gt => ">",
        Op::Le => "<=",
        Op::Ge => ">=",
    }
}

/// Splits a query into terms, keeping quoted phrases whole.
fn tokens(query: &str) -> Result<Vec<Token>, Unsupported> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            break;
        };
        let negated = first == '-';
        if negated {
            chars.next();
        }
        // The key (or a bare word), up to an operator, a quote or a space.
        let mut head = String::new();
        let mut op = None;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '"' {
                break;
            }
            if c == ':' || c == '<' || c == '>' {
                chars.next();
                op = Some(match (c, chars.next_if_eq(&'=')) {
                    (':', _) => Op::Eq,
                    ('<', Some(_)) => Op::Le,
                    ('<', None) => Op::Lt,
                    (_, Some(_)) => Op::Ge,
                    _ => Op::Gt,
                });
                break;
            }
            head.push(c);
            chars.next();
        }
        let (value, quoted) = if chars.peek() == Some(&'"') {
            chars.next();
            let mut phrase = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => phrase.push(c),
                    None => return Err(format!("the phrase \"{phrase} has no closing quote")),
                }
            }
            (phrase, true)
        } else if op.is_some() {
            let mut value = String::new();
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
            (value, false)
        } else {
            (std::mem::take(&mut head), false)
        };
        let key = match op {
            Some(_) if head.is_empty() => return Err(format!("a term starts with an operator: `{value}`")),
            Some(_) => Some(head),
            None if !head.is_empty() => return Err(format!("`{head}\"{value}\"`: a quote inside a word")),
            None => None,
        };
        if key.is_some() && value.is_empty() {
            return Err(format!(
                "`{}{}`: no value",
                key.unwrap_or_default(),
                op_text(op.unwrap_or(Op::Eq))
            ));
        }
        out.push(Token {
            negated,
            key,
            op: op.unwrap_or(Op::Eq),
            value,
            quoted,
        });
    }
    Ok(out)
}

/// A free word, number or phrase.
fn free_text(value: &str, quoted: bool) -> Result<Test, Unsupported> {
    if !quoted && let Ok(id) = value.parse::<u64>() {
        return Ok(Test::Number(id));
    }
    let text = if quoted {
        value
    } else {
        value.strip_suffix('*').unwrap_or(value)
    };
    if text.contains('*') {
        return Err(format!(
            "`{value}`: a wildcard is only supported at the end of a word"
        ));
    }
    let words = words(text);
    if words.is_empty() {
        return Err(format!("`{value}` has no word to search for"));
    }
    Ok(Test::Text {
        words,
        phrase: quoted,
    })
}

/// The test of `key op value`, or why it is not supported.
fn keyword(key: &str, op: Op, value: &str, quoted: bool) -> Result<Test, String> {
    let equality_only = |test: Test| {
        if op == Op::Eq {
            Ok(test)
        } else {
            Err(format!("{key} only takes `:`"))
        }
    };
    let lower = value.to_ascii_lowercase();
    match key {
        "status" => match Status::parse(&lower).filter(|s| *s != Status::Deleted) {
            Some(status) => Ok(Test::Status(op, status)),
            None => Err("status takes new, open, pending, hold, solved or closed".to_owned()),
        },
        "priority" => match priority_rank(&lower) {
            Some(rank) => Ok(Test::Priority(op, rank)),
            None => Err("priority takes none, low, normal, high or urgent".to_owned()),
        },
        "ticket_type" => match lower.as_str() {
            "none" => equality_only(Test::TicketType(None)),
            "question" | "incident" | "problem" | "task" => equality_only(Test::TicketType(Some(lower))),
            _ => Err("ticket_type takes none, question, incident, problem or task".to_owned()),
        },
        "tags" | "tag" if quoted => {
            Err("a quoted list of tags is not supported; give tags:one tags:other".to_owned())
        }
        "tags" | "tag" => equality_only(Test::Tag(lower)),
        "requester" => equality_only(Test::Person(Person::Requester, user_ref(value))),
        "assignee" => equality_only(Test::Person(Person::Assignee, user_ref(value))),
        "submitter" => equality_only(Test::Person(Person::Submitter, user_ref(value))),
        "group" => equality_only(Test::Group(match value.parse::<Id>() {
            Ok(id) => GroupRef::Id(id),
            Err(_) if lower == "none" => GroupRef::None,
            Err(_) => GroupRef::Name(fold(value)),
        })),
        "external_id" => equality_only(Test::ExternalId(value.to_owned())),
        "subject" => equality_only(Test::Subject(phrase_words(value)?)),
        "description" => equality_only(Test::Description(phrase_words(value)?)),
        "created" | "created_at" => Ok(Test::Created(op, when(value)?)),
        "updated" | "updated_at" => Ok(Test::Updated(op, when(value)?)),
        "email" => equality_only(Test::Email(lower)),
        "name" => equality_only(Test::Name(phrase_words(value)?)),
        "role" => match lower.as_str() {
            "end-user" | "end_user" => equality_only(Test::Role(Role::EndUser)),
            "agent" => equality_only(Test::Role(Role::Agent)),
            "admin" => equality_only(Test::Role(Role::Admin)),
            _ => Err("role takes end-user, agent or admin".to_owned()),
        },
        _ => Err(format!(
            "the simulator does not support the keyword {key}; tickets: status, priority, ticket_type, tags, \
             requester, assignee, submitter, group, external_id, subject, description, created, updated; \
             users: email, name, role, tags, external_id, created, updated"
        )),
    }
}

fn phrase_words(value: &str) -> Result<Vec<String>, String> {
    let words = words(value.strip_suffix('*').unwrap_or(value));
    if words.is_empty() {
        Err(format!("`{value}` has no word to search for"))
    } else {
        Ok(words)
    }
}

fn user_ref(value: &str) -> UserRef {
    match value.to_ascii_lowercase().as_str() {
        "none" => UserRef::None,
        "me" => UserRef::Me,
        lower if lower.contains('@') => UserRef::Email(lower.to_owned()),
        _ => match value.parse::<Id>() {
            Ok(id) => UserRef::Id(id),
            Err(_) => UserRef::Name(fold(value)),
        },
    }
}

/// A date (`2026-03-01`) or an instant (`2026-03-01T10:00:00Z`).
fn when(value: &str) -> Result<When, String> {
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(When::Day(day));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(When::At(at.with_timezone(&Utc)));
    }
    let relative = value.trim_start_matches(|c: char| c.is_ascii_digit());
    if relative.len() < value.len() && !relative.is_empty() {
        return Err(
            "relative dates (4hours, 2days) are not supported; give a date or an RFC 3339 time".to_owned(),
        );
    }
    Err(format!(
        "`{value}` is not a date (2026-03-01) or an RFC 3339 time"
    ))
}

/// `none` < low < normal < high < urgent.
fn priority_rank(priority: &str) -> Option<Option<u8>> {
    match priority {
        "none" => Some(None),
        "low" => Some(Some(1)),
        "normal" => Some(Some(2)),
        "high" => Some(Some(3)),
        "urgent" => Some(Some(4)),
        _ => None,
    }
}

/// A status's place in Zendesk's order: new < open < pending < hold <
/// solved < closed.
pub fn status_rank(status: Status) -> u8 {
    match status {
        Status::New => 0,
        Status::Open => 1,
        Status::Pending => 2,
        Status::Hold => 3,
        Status::Solved => 4,
        Status::Closed => 5,
        Status::Deleted => 6,
    }
}

/// The rank of a ticket's priority (`None` when unset).
pub fn ticket_priority_rank(ticket: &Ticket) -> Option<u8> {
    ticket.priority.as_deref().and_then(priority_rank).flatten()
}

/// Whether the folded `words` occur in `haystack` (as words or word
/// starts), in a row when `phrase`.
fn text_matches(words: &[String], phrase: bool, haystack: &[String]) -> bool {
    let starts = |query: &str, word: &str| word.starts_with(query);
    if phrase {
        haystack
            .windows(words.len())
            .any(|window| window.iter().zip(words).all(|(w, q)| starts(q, w)))
    } else {
        words.iter().all(|q| haystack.iter().any(|w| starts(q, w)))
    }
}

/// Every word of a ticket that free text searches: subject, description,
/// comments.
fn ticket_words(state: &State, ticket: &Ticket) -> Vec<String> {
    let mut all = words(ticket.subject.as_deref().unwrap_or(""));
    all.extend(words(ticket.description.as_deref().unwrap_or("")));
    for comment in state.comments.get(&ticket.id).into_iter().flatten() {
        all.extend(words(&comment.body));
    }
    all
}

fn user_words(user: &User) -> Vec<String> {
    [
        Some(user.name.as_str()),
        user.email.as_deref(),
        user.notes.as_deref(),
        user.details.as_deref(),
        user.phone.as_deref(),
    ]
    .into_iter()
    .flatten()
    .flat_map(words)
    .collect()
}

/// Whether `user_id` is the user `wanted` names.
fn is_user(state: &State, actor: Id, user_id: Option<Id>, wanted: &UserRef) -> bool {
    let user = user_id.and_then(|id| state.users.get(&id));
    match wanted {
        UserRef::None => user_id.is_none(),
        UserRef::Me => user_id == Some(actor),
        UserRef::Id(id) => user_id == Some(*id),
        UserRef::Email(email) => {
            user.is_some_and(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        }
        UserRef::Name(name) => user.is_some_and(|u| fold(&u.name) == *name),
    }
}

/// A term's test on a ticket; `None` for a user-only keyword.
fn ticket_test(state: &State, actor: Id, ticket: &Ticket, test: &Test) -> Option<bool> {
    Some(match test {
        Test::Text { words, phrase } => text_matches(words, *phrase, &ticket_words(state, ticket)),
        Test::Number(id) => {
            ticket.id == *id || text_matches(&[id.to_string()], false, &ticket_words(state, ticket))
        }
        Test::Status(op, status) => op.holds(status_rank(ticket.status).cmp(&status_rank(*status))),
        Test::Priority(op, rank) => op.holds(ticket_priority_rank(ticket).cmp(rank)),
        Test::TicketType(wanted) => ticket.ticket_type.as_deref() == wanted.as_deref(),
        Test::Tag(tag) => ticket.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)),
        Test::Person(Person::Requester, who) => is_user(state, actor, ticket.requester_id, who),
        Test::Person(Person::Assignee, who) => is_user(state, actor, ticket.assignee_id, who),
        Test::Person(Person::Submitter, who) => is_user(state, actor, ticket.submitter_id, who),
        Test::Group(GroupRef::None) => ticket.group_id.is_none(),
        Test::Group(GroupRef::Id(id)) => ticket.group_id == Some(*id),
        Test::Group(GroupRef::Name(name)) => state
            .groups
            .iter()
            .any(|g| Some(g.id) == ticket.group_id && fold(&g.name) == *name),
        Test::ExternalId(id) => ticket.external_id.as_deref() == Some(id.as_str()),
        Test::Subject(words) => text_matches(
            words,
            true,
            &super::articles::words(ticket.subject.as_deref().unwrap_or("")),
        ),
        Test::Description(words) => text_matches(
            words,
            true,
            &super::articles::words(ticket.description.as_deref().unwrap_or("")),
        ),
        Test::Created(op, when) => op.holds(when.compare(ticket.created_at)),
        Test::Updated(op, when) => op.holds(when.compare(ticket.updated_at)),
        Test::Email(_) | Test::Name(_) | Test::Role(_) => return None,
    })
}

/// A term's test on a user; `None` for a ticket-only keyword.
fn user_test(user: &User, test: &Test) -> Option<bool> {
    Some(match test {
        Test::Text { words, phrase } => {
            let email_hit = words.len() > 1
                && !*phrase
                && user
                    .email
                    .as_deref()
                    .is_some_and(|e| super::articles::words(e) == *words);
            email_hit || text_matches(words, *phrase, &user_words(user))
        }
        // A bare number names a ticket; in a user it is only a word.
        Test::Number(n) => text_matches(&[n.to_string()], false, &user_words(user)),
        Test::Tag(tag) => user.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)),
        Test::ExternalId(id) => user.external_id.as_deref() == Some(id.as_str()),
        Test::Created(op, when) => user.created_at.is_some_and(|t| op.holds(when.compare(t))),
        Test::Updated(op, when) => user.updated_at.is_some_and(|t| op.holds(when.compare(t))),
        Test::Email(email) => user
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email)),
        Test::Name(words) => text_matches(words, true, &super::articles::words(&user.name)),
        Test::Role(role) => user.role == *role,
        Test::Status(..)
        | Test::Priority(..)
        | Test::TicketType(_)
        | Test::Person(..)
        | Test::Group(_)
        | Test::Subject(_)
        | Test::Description(_) => return None,
    })
}

/// When a ticket was last commented on, for `order_by:commented`.
pub fn latest_comment(state: &State, ticket: &Ticket) -> Option<DateTime<Utc>> {
    state
        .comments
        .get(&ticket.id)
        .and_then(|comments| comments.iter().filter_map(|c| c.created_at).max())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keywords_comparisons_phrases_and_negation() {
        let search = Search::parse(r#"type:ticket status<solved -tags:vip "nota fiscal" requester:Maria@Cliente.example created>=2026-01-01 order_by:created sort:asc"#)
            .expect("supported");
        assert_eq!(search.kind, Some(Kind::Ticket));
        assert_eq!(search.order, Some(SortField::Created));
        assert_eq!(search.ascending, Some(true));
        assert_eq!(
            search.terms,
            vec![
                Term {
                    negated: false,
                    test: Test::Status(Op::Lt, Status::Solved)
                },
                Term {
                    negated: true,
                    test: Test::Tag("vip".to_owned())
                },
                Term {
                    negated: false,
                    test: Test::Text {
                        words: vec!["nota".to_owned(), "fiscal".to_owned()],
                        phrase: true
                    }
                },
                Term {
                    negated: false,
                    test: Test::Person(
                        Person::Requester,
                        UserRef::Email("maria@cliente.example".to_owned())
                    )
                },
                Term {
                    negated: false,
                    test: Test::Created(
                        Op::Ge,
                        When::Day(NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"))
                    )
                },
            ]
        );
    }

    #[test]
    fn what_is_not_modelled_is_refused_by_name() {
        for (query, message) in [
            (
                "type:organization acme",
                "`type:organization`: the simulator searches tickets and users only",
            ),
            (
                "created>4hours",
                "`created>4hours`: relative dates (4hours, 2days) are not supported; give a date or an RFC 3339 time",
            ),
            (
                "status:open status:pending",
                "`status:pending`: status is given twice; the simulator does not model how Zendesk combines them",
            ),
            (
                "bo*leto",
                "`bo*leto`: a wildcard is only supported at the end of a word",
            ),
            ("\"unclosed", "the phrase \"unclosed has no closing quote"),
            ("status:", "`status:`: no value"),
            ("", "the query has no term to search for"),
            (
                "status:deleted",
                "`status:deleted`: status takes new, open, pending, hold, solved or closed",
            ),
        ] {
            assert_eq!(Search::parse(query), Err(message.to_owned()), "{query}");
        }
        let err = Search::parse("organization:acme").expect_err("unknown keyword");
        assert!(
            err.starts_with("`organization:acme`: the simulator does not support the keyword organization;"),
            "{err}"
        );
    }

    #[test]
    fn words_match_whole_or_as_the_start_of_a_word() {
        let hay = words("Dessert Toppings, Desktop Solutions");
        assert!(text_matches(&words("top"), false, &hay));
        assert!(!text_matches(&words("sktop"), false, &hay));
        assert!(text_matches(&words("dessert top"), true, &hay));
        assert!(!text_matches(&words("toppings dessert"), true, &hay));
    }
}
