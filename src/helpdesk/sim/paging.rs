//! Pagination, as Zendesk answers its list endpoints.
//!
//! - **Offset** (no `page[...]` parameter): `page` and `per_page` (at most
//!   100) in, `{<list>, next_page, previous_page, count}` out, as in every
//!   recorded offset list (e.g. the shared corpus's `GET/tickets.json`).
//!   Past page 100 or record 10,000 Zendesk refuses with 400
//!   `InvalidPaginationDepth` (announced at
//!   <https://support.zendesk.com/hc/en-us/articles/5591904358938>; the body
//!   is quoted in transferwise/pipelinewise PR #1183).
//! - **Cursor** (`page[size]`, `page[after]`, `page[before]`,
//!   <https://developer.zendesk.com/api-reference/introduction/pagination/>):
//!   `{<list>, meta {has_more, after_cursor, before_cursor}, links {prev,
//!   next}}` and no offset key. Modelled on the pages recorded in zenpy's
//!   cassettes: a page with items links both ways even when `has_more` is
//!   false (the last page still has `links.next`), and following that link
//!   gives an empty page whose cursors and links are all `null`. Links keep
//!   the request's other parameters, sorted by name, as Zendesk's do.
//!
//! Cursors are opaque to clients, as Zendesk's are: standard base64 (so they
//! may hold `+`, `/` and `=`, which a client must encode) of the list's
//! order and the position, e.g. `{"o":"nice_id","v":["",12]}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::api_error::ApiError;
use super::routes::Query;
use crate::helpdesk::model::Id;
use crate::helpdesk::wire::{CursorLinks, CursorMeta, OffsetLinks, Paging};

/// The default and largest page of both kinds of pagination.
pub const MAX_PAGE: usize = 100;
/// Offset pagination stops at page 100, or 10,000 records.
const MAX_OFFSET_PAGE: usize = 100;
const MAX_OFFSET_RECORDS: usize = 10_000;

/// Where an item sits in its list's order: a text (a group's name) then an
/// id. Lists ordered by id alone leave the text empty.
pub type Key = (String, Id);

/// One list endpoint being answered.
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    /// `http://host:port`, the base of the links.
    pub base: &'a str,
    /// The path links point at, e.g. `/api/v2/tickets.json`.
    pub path: &'a str,
    pub query: &'a Query,
    /// The order's name inside its cursors, as Zendesk names it
    /// (`nice_id` for tickets, `name,id` for groups).
    pub order: &'static str,
}

/// Whether the request asks for cursor pagination: any `page[...]`
/// parameter does.
pub fn wants_cursor(query: &Query) -> bool {
    query.pairs().any(|(k, _)| k.starts_with("page["))
}

/// One page of `items` (in any order; they are sorted by key), in the mode
/// the request asked for.
pub fn page<T>(list: &List, mut items: Vec<(Key, T)>) -> Result<(Vec<T>, Paging), ApiError> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    if wants_cursor(list.query) {
        let (page, meta, links) = cursor(list, items)?;
        Ok((page, Paging::cursor(meta, links)))
    } else {
        let items = items.into_iter().map(|(_, item)| item).collect();
        let (page, links) = offset(list, items, MAX_PAGE)?;
        check_depth(list.query)?;
        Ok((page, Paging::offset(links)))
    }
}

/// The page `page` (from 1) of `per_page` (default `default_size`, at most
/// 100), with `next_page`/`previous_page` links that keep the request's
/// other parameters, and `count`, the whole list's size.
pub fn offset<T>(list: &List, items: Vec<T>, default_size: usize) -> Result<(Vec<T>, OffsetLinks), ApiError> {
    let (page, per_page) = offset_request(list.query, default_size)?;
    let count = items.len();
    let start = (page - 1).saturating_mul(per_page);
    let link = |n: usize| {
        let mut pairs: Vec<(&str, String)> = list
            .query
            .pairs()
            .filter(|(k, _)| *k != "page" && *k != "per_page")
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        pairs.push(("page", n.to_string()));
        pairs.push(("per_page", per_page.to_string()));
        url(list, pairs)
    };
    let items: Vec<T> = items.into_iter().skip(start).take(per_page).collect();
    let links = OffsetLinks {
        next_page: (start.saturating_add(per_page) < count).then(|| link(page + 1)),
        previous_page: (page > 1).then(|| link(page - 1)),
        count: Some(count as u64),
    };
    Ok((items, links))
}

/// `page` (at least 1) and `per_page` (1 to 100) of an offset request.
pub fn offset_request(query: &Query, default_size: usize) -> Result<(usize, usize), ApiError> {
    let per_page = query.number("per_page", default_size)?.clamp(1, MAX_PAGE);
    let page = query.number("page", 1)?.max(1);
    Ok((page, per_page))
}

/// Zendesk's limit on offset depth.
pub fn check_depth(query: &Query) -> Result<(), ApiError> {
    let (page, per_page) = offset_request(query, MAX_PAGE)?;
    if page > MAX_OFFSET_PAGE || page.saturating_mul(per_page) > MAX_OFFSET_RECORDS {
        return Err(ApiError::errors(
            400,
            "InvalidPaginationDepth",
            "Pagination requests using Offset Pagination are limited to page 100 or up to 10000 records (page * per_page)",
            "There are limits to how deep offset pagination can go; use cursor pagination (page[size]) to list further",
        ));
    }
    Ok(())
}

/// A cursor page of `items` (sorted by key).
fn cursor<T>(list: &List, items: Vec<(Key, T)>) -> Result<(Vec<T>, CursorMeta, CursorLinks), ApiError> {
    let query = list.query;
    let size = page_size(query)?;
    let after = query.get("page[after]").filter(|c| !c.is_empty());
    let before = query.get("page[before]").filter(|c| !c.is_empty());
    let (page, has_more) = match (after, before) {
        (Some(_), Some(_)) => {
            return Err(invalid_parameter(
                "page[before] and page[after] can't be used together in the same request",
            ));
        }
        (Some(cursor), None) => {
            let after = decode(list.order, "page[after]", cursor)?;
            let mut rest: Vec<(Key, T)> = items.into_iter().filter(|(k, _)| *k > after).collect();
            let has_more = rest.len() > size;
            rest.truncate(size);
            (rest, has_more)
        }
        (None, Some(cursor)) => {
            let before = decode(list.order, "page[before]", cursor)?;
            let earlier: Vec<(Key, T)> = items.into_iter().filter(|(k, _)| *k < before).collect();
            let skip = earlier.len().saturating_sub(size);
            (earlier.into_iter().skip(skip).collect(), skip > 0)
        }
        (None, None) => {
            let has_more = items.len() > size;
            (items.into_iter().take(size).collect(), has_more)
        }
    };
    let after_cursor = page.last().map(|(k, _)| encode(list.order, k));
    let before_cursor = page.first().map(|(k, _)| encode(list.order, k));
    let link = |key: &'static str, cursor: &str| {
        let mut pairs: Vec<(&str, String)> = query
            .pairs()
            .filter(|(k, _)| !matches!(*k, "page[after]" | "page[before]" | "page[size]"))
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        pairs.push((key, cursor.to_owned()));
        pairs.push(("page[size]", size.to_string()));
        url(list, pairs)
    };
    let links = CursorLinks {
        next: after_cursor.as_deref().map(|c| link("page[after]", c)),
        prev: before_cursor.as_deref().map(|c| link("page[before]", c)),
    };
    let meta = CursorMeta {
        has_more,
        after_cursor,
        before_cursor,
    };
    Ok((page.into_iter().map(|(_, item)| item).collect(), meta, links))
}

/// `page[size]`: 1 to 100, default 100.
fn page_size(query: &Query) -> Result<usize, ApiError> {
    match query.get("page[size]") {
        None | Some("") => Ok(MAX_PAGE),
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(size) if (1..=MAX_PAGE).contains(&size) => Ok(size),
            _ => Err(invalid_parameter(&format!(
                "page[size] must be a whole number from 1 to {MAX_PAGE}, not `{raw}`"
            ))),
        },
    }
}

/// `{base}{path}?{pairs sorted by name}`.
fn url(list: &List, mut pairs: Vec<(&str, String)>) -> String {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        query.append_pair(k, v);
    }
    format!("{}{}?{}", list.base, list.path, query.finish())
}

/// What a cursor holds.
#[derive(Debug, Serialize, Deserialize)]
struct Position {
    /// The list's order.
    o: String,
    /// The key of the item the cursor points at.
    v: Key,
}

fn encode(order: &str, key: &Key) -> String {
    let position = Position {
        o: order.to_owned(),
        v: key.clone(),
    };
    STANDARD.encode(serde_json::to_vec(&position).unwrap_or_default())
}

/// A cursor handed out for a list in `order`. Anything else, a cursor of
/// another list included, is a 400 (the code Zendesk answers a garbled
/// cursor with, per dust-tt/dust PR #8702; the body's text is ours).
fn decode(order: &str, name: &str, cursor: &str) -> Result<Key, ApiError> {
    let position = STANDARD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Position>(&bytes).ok())
        .filter(|p| p.o == order);
    position
        .map(|p| p.v)
        .ok_or_else(|| invalid_parameter(&format!("{name} `{cursor}` is not a cursor of this list")))
}

fn invalid_parameter(description: &str) -> ApiError {
    ApiError::new(400, "InvalidPaginationParameter", description)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Query {
        Query::parse(Some(q))
    }

    fn list<'a>(query: &'a Query) -> List<'a> {
        List {
            base: "http://sim",
            path: "/api/v2/tickets.json",
            query,
            order: "nice_id",
        }
    }

    fn items(n: u64) -> Vec<(Key, u64)> {
        (1..=n).map(|id| ((String::new(), id), id)).collect()
    }

    #[test]
    fn the_last_page_links_on_and_the_page_after_it_is_empty_with_nulls() {
        let q = query("page%5Bsize%5D=2&include=users");
        let (got, paging) = page(&list(&q), items(3)).expect("first page");
        assert_eq!(got, vec![1, 2]);
        let meta = paging.meta.clone().expect("meta");
        assert!(meta.has_more);
        let next = paging.links.clone().and_then(|l| l.next).expect("next");
        assert!(
            next.starts_with("http://sim/api/v2/tickets.json?include=users&page%5Bafter%5D="),
            "{next}"
        );
        assert!(next.ends_with("&page%5Bsize%5D=2"), "{next}");
        assert_eq!(paging.offset, None, "no offset key on a cursor page");

        let q = query(next.split_once('?').expect("query").1);
        let (last, paging) = page(&list(&q), items(3)).expect("last page");
        assert_eq!(last, vec![3]);
        assert!(!paging.meta.as_ref().expect("meta").has_more);
        let next = paging
            .links
            .and_then(|l| l.next)
            .expect("a last page still links on");

        let q = query(next.split_once('?').expect("query").1);
        let (empty, paging) = page(&list(&q), items(3)).expect("the page after");
        assert!(empty.is_empty());
        assert_eq!(
            paging.meta,
            Some(CursorMeta {
                has_more: false,
                after_cursor: None,
                before_cursor: None
            })
        );
        assert_eq!(
            paging.links,
            Some(CursorLinks {
                next: None,
                prev: None
            })
        );
    }

    #[test]
    fn before_pages_backwards_and_bad_cursors_are_400s() {
        let key = (String::new(), 4);
        let q = query(&format!(
            "page[size]=2&page[before]={}",
            url::form_urlencoded::byte_serialize(encode("nice_id", &key).as_bytes()).collect::<String>()
        ));
        let (got, paging) = page(&list(&q), items(5)).expect("before");
        assert_eq!(got, vec![2, 3]);
        assert!(paging.meta.expect("meta").has_more, "ticket 1 is before");

        for (q, message) in [
            (
                "page[after]=bm9wZQ==",
                "page[after] `bm9wZQ==` is not a cursor of this list",
            ),
            (
                "page[size]=101",
                "page[size] must be a whole number from 1 to 100, not `101`",
            ),
            (
                "page[size]=0",
                "page[size] must be a whole number from 1 to 100, not `0`",
            ),
            (
                "page[after]=a&page[before]=b",
                "page[before] and page[after] can't be used together in the same request",
            ),
        ] {
            let q = query(q);
            let err = page(&list(&q), items(1)).expect_err(message);
            assert_eq!(err.status, 400);
            assert_eq!(err.code(), "InvalidPaginationParameter");
            assert_eq!(err.body.description.as_deref(), Some(message));
        }
        let other_list = encode("name,id", &key);
        let q = Query::parse(Some(&format!(
            "page[after]={}",
            url::form_urlencoded::byte_serialize(other_list.as_bytes()).collect::<String>()
        )));
        assert!(page(&list(&q), items(1)).is_err(), "a groups cursor on tickets");
    }

    #[test]
    fn offset_pages_count_and_stop_at_the_depth_limit() {
        let q = query("page=2&per_page=2&external_id=x");
        let (got, paging) = page(&list(&q), items(5)).expect("offset");
        assert_eq!(got, vec![3, 4]);
        let links = paging.offset.expect("offset keys");
        assert_eq!(links.count, Some(5));
        assert_eq!(
            links.next_page.as_deref(),
            Some("http://sim/api/v2/tickets.json?external_id=x&page=3&per_page=2")
        );
        assert_eq!(
            links.previous_page.as_deref(),
            Some("http://sim/api/v2/tickets.json?external_id=x&page=1&per_page=2")
        );
        assert_eq!(paging.meta, None);

        let q = query("page=101&per_page=10");
        let err = page(&list(&q), items(1)).expect_err("too deep");
        assert_eq!(err.status, 400);
        assert_eq!(err.code(), "InvalidPaginationDepth");
    }
}
