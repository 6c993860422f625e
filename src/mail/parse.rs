//! Raw bytes to [`ParsedMail`]: the one place a mail is decoded.
//!
//! Every source (IMAP, Maildir, `carteiro mail inspect`) hands its raw
//! bytes to [`parse`], which never fails and never panics: whatever is
//! damaged (no From, an unparsable Date, an unknown charset, a broken MIME
//! boundary, an attachment above the size cap) is written to
//! `ParsedMail::problems` and decoding goes on with what is left. MIME
//! structure and charsets are `mail-parser`'s (with `full_encoding`);
//! header values that carry ids are read from the raw header text so that
//! junk around them is tolerated. [`classify`](super::classify::classify)
//! then says whether a person or a machine sent it.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{
    Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use sha2::{Digest, Sha256};

use super::classify::classify;
use super::html;
use super::{Address, MailAttachment, ParsedMail, Sender};
use crate::helpdesk::Id;

/// The domain of Message-IDs derived for mails that have none. Distinct
/// from our own Message-ID domain (so a derived id never reads as our own
/// mail) and fixed (so the same bytes give the same id whatever the
/// configuration).
pub const DERIVED_MESSAGE_ID_DOMAIN: &str = "derived.carteiro.invalid";

/// What `parse` needs to know about this installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Attachments larger than this (decoded) keep their metadata only:
    /// `content` is `None` and a problem says so.
    pub max_attachment_bytes: usize,
    /// Our own addresses, lowercased; mail from one of them is `Own`.
    pub own_addresses: Vec<String>,
    /// The domain of the Message-IDs we generate; a mail whose Message-ID
    /// ends in `@<domain>` is `Own`.
    pub message_id_domain: String,
    /// The header we put on every mail we send; present means `Own`.
    pub loop_header: String,
    /// The text before the ticket number in a subject tag (`[#`).
    pub subject_tag_prefix: String,
    /// The text after the ticket number in a subject tag (`]`).
    pub subject_tag_suffix: String,
    /// The header our outbound mail names its ticket in.
    pub ticket_header: String,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            max_attachment_bytes: 25 * 1024 * 1024,
            own_addresses: Vec::new(),
            message_id_domain: "carteiro.invalid".to_owned(),
            loop_header: "X-Carteiro-Loop".to_owned(),
            subject_tag_prefix: "[#".to_owned(),
            subject_tag_suffix: "]".to_owned(),
            ticket_header: "X-Carteiro-Ticket".to_owned(),
        }
    }
}

impl ParseOptions {
    /// The options the `[mail]` settings give (the ticket header keeps its
    /// default).
    pub fn from_config(mail: &crate::config::MailConfig) -> ParseOptions {
        ParseOptions {
            max_attachment_bytes: usize::try_from(mail.max_attachment_bytes).unwrap_or(usize::MAX),
            own_addresses: mail.own_addresses.clone(),
            message_id_domain: mail.message_id_domain.clone(),
            loop_header: mail.loop_header.clone(),
            subject_tag_prefix: mail.subject_tag.prefix().to_owned(),
            subject_tag_suffix: mail.subject_tag.suffix().to_owned(),
            ..ParseOptions::default()
        }
    }
}

/// Decodes a raw mail. Never fails and never panics: damage is listed in
/// `problems`, and a mail with no headers at all comes back with no From,
/// an empty body and a derived Message-ID.
pub fn parse(raw: &[u8], options: &ParseOptions) -> ParsedMail {
    let raw_sha256 = hex(&Sha256::digest(raw));
    let mut problems = Vec::new();
    // mail-parser promises not to panic; this guard keeps that promise
    // ours too should it ever break it (a fuzzer would still see the panic,
    // as libFuzzer aborts on any).
    let message = match std::panic::catch_unwind(|| MessageParser::default().parse(raw)) {
        Ok(Some(message)) if !message.parts.is_empty() => Some(message),
        Ok(_) => {
            problems.push("no mail headers found; nothing could be decoded".to_owned());
            None
        }
        Err(_) => {
            problems.push("the MIME parser failed on this mail; nothing could be decoded".to_owned());
            None
        }
    };
    let mut mail = ParsedMail {
        message_id: String::new(),
        message_id_derived: false,
        from: None,
        reply_to: Vec::new(),
        to: Vec::new(),
        cc: Vec::new(),
        subject: String::new(),
        date: None,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        body_text: String::new(),
        body_html: None,
        attachments: Vec::new(),
        sender: Sender::Person,
        ticket_ref: None,
        raw_sha256,
        problems: Vec::new(),
    };
    if let Some(message) = &message {
        decode(message, options, &mut mail, &mut problems);
        mail.sender = classify(message, options);
    }
    if mail.message_id.is_empty() {
        mail.message_id = format!("sha256-{}@{DERIVED_MESSAGE_ID_DOMAIN}", &mail.raw_sha256[..32]);
        mail.message_id_derived = true;
        if message.is_some() {
            problems.push(format!("no usable Message-ID; derived {}", mail.message_id));
        }
    }
    mail.problems = problems;
    mail
}

/// Fills `mail` from a parsed message.
fn decode(message: &Message<'_>, options: &ParseOptions, mail: &mut ParsedMail, problems: &mut Vec<String>) {
    let headers = root_headers(message);
    let raw = message.raw_message.as_ref();

    match headers.iter().find(|h| h.name == HeaderName::From) {
        None => problems.push("no From header".to_owned()),
        Some(from) => {
            mail.from = addresses(&from.value).into_iter().next();
            if mail.from.is_none() {
                let value = raw_value(raw, from);
                problems.push(format!("From has no usable address: {:?}", shorten(&value)));
            }
        }
    }
    mail.reply_to = all_addresses(headers, &HeaderName::ReplyTo);
    mail.to = all_addresses(headers, &HeaderName::To);
    mail.cc = all_addresses(headers, &HeaderName::Cc);
    mail.subject = subject(headers, raw, problems);
    mail.date = date(headers, raw, problems);

    if let Some(header) = headers.iter().find(|h| h.name == HeaderName::MessageId) {
        let value = raw_value(raw, header);
        match parse_ids(&value).into_iter().next() {
            Some(id) => mail.message_id = id,
            None => problems.push(format!("Message-ID holds no id: {:?}", shorten(&value))),
        }
    }
    mail.in_reply_to = ids_of(headers, raw, &HeaderName::InReplyTo);
    mail.references = ids_of(headers, raw, &HeaderName::References);
    mail.ticket_ref = ticket_ref(headers, raw, &mail.subject, options, problems);

    body(message, mail, problems);
    part_problems(message, problems);
    mail.attachments = attachments(message, options, problems);
}

/// The headers of the message itself (its first part), or none.
pub(crate) fn root_headers<'a, 'x>(message: &'a Message<'x>) -> &'a [Header<'x>] {
    message.parts.first().map_or(&[], |part| part.headers.as_slice())
}

/// The raw text of a header's value, unfolded and trimmed (invalid UTF-8
/// replaced).
pub(crate) fn raw_value(raw: &[u8], header: &Header<'_>) -> String {
    let bytes = raw
        .get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default();
    unfold(&String::from_utf8_lossy(bytes))
}

/// The raw values of every header named `name` (case-insensitive).
pub(crate) fn raw_values(headers: &[Header<'_>], raw: &[u8], name: &str) -> Vec<String> {
    let name = HeaderName::from(name);
    headers
        .iter()
        .filter(|h| h.name == name)
        .map(|h| raw_value(raw, h))
        .collect()
}

/// Joins folded lines and trims.
fn unfold(value: &str) -> String {
    value
        .split('\n')
        .map(|line| line.trim_matches(|c: char| c == '\r' || c == ' ' || c == '\t'))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The addresses of a parsed address header, groups flattened; entries
/// without an `@` are dropped.
pub(crate) fn addresses(value: &HeaderValue<'_>) -> Vec<Address> {
    let HeaderValue::Address(address) = value else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| to_address(addr.name.as_deref(), addr.address.as_deref()))
        .collect()
}

fn all_addresses(headers: &[Header<'_>], name: &HeaderName<'_>) -> Vec<Address> {
    let mut seen = HashSet::new();
    let mut out: Vec<Address> = Vec::new();
    for header in headers.iter().filter(|h| h.name == *name) {
        for address in addresses(&header.value) {
            if seen.insert(address.email.clone()) {
                out.push(address);
            }
        }
    }
    out
}

/// Normalises one address: the e-mail lowercased and trimmed, without
/// angle brackets; `None` when it is not an address.
pub(crate) fn to_address(name: Option<&str>, email: Option<&str>) -> Option<Address> {
    let email = normalize_email(email?);
    let valid = email.contains('@') && !email.starts_with('@') && !email.ends_with('@');
    if !valid {
        return None;
    }
    let name = name
        .map(|n| collapse_whitespace(n.trim().trim_matches('"').trim()))
        .filter(|n| !n.is_empty());
    Some(Address { name, email })
}

/// `<Maria@Example.COM> ` → `maria@example.com`.
pub(crate) fn normalize_email(email: &str) -> String {
    email
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
}

/// Runs of whitespace become one space; the ends are trimmed.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The decoded Subject. Raw 8-bit bytes that are not UTF-8 (an old client
/// that skipped RFC 2047) are read as Windows-1252.
fn subject(headers: &[Header<'_>], raw: &[u8], problems: &mut Vec<String>) -> String {
    let Some(header) = headers.iter().find(|h| h.name == HeaderName::Subject) else {
        return String::new();
    };
    let decoded = match &header.value {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(" "),
        _ => String::new(),
    };
    let bytes = raw
        .get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default();
    if decoded.contains('\u{FFFD}')
        && std::str::from_utf8(bytes).is_err()
        && let Some(cp1252) = charset_decoder(b"windows-1252")
    {
        problems.push("Subject has raw 8-bit bytes that are not UTF-8; read them as Windows-1252".to_owned());
        return collapse_whitespace(&unfold(&cp1252(bytes)));
    }
    collapse_whitespace(&decoded)
}

/// The Date in UTC; a problem when it is missing or unparsable.
fn date(headers: &[Header<'_>], raw: &[u8], problems: &mut Vec<String>) -> Option<DateTime<Utc>> {
    let Some(header) = headers.iter().find(|h| h.name == HeaderName::Date) else {
        problems.push("no Date header".to_owned());
        return None;
    };
    let parsed = match &header.value {
        HeaderValue::DateTime(dt) if dt.is_valid() => to_utc(dt),
        _ => None,
    };
    if parsed.is_none() {
        problems.push(format!("unparsable Date: {:?}", shorten(&raw_value(raw, header))));
    }
    parsed
}

fn to_utc(dt: &mail_parser::DateTime) -> Option<DateTime<Utc>> {
    let local = NaiveDate::from_ymd_opt(i32::from(dt.year), u32::from(dt.month), u32::from(dt.day))?
        .and_hms_opt(u32::from(dt.hour), u32::from(dt.minute), u32::from(dt.second))?;
    let offset = i64::from(dt.tz_hour) * 3600 + i64::from(dt.tz_minute) * 60;
    let offset = if dt.tz_before_gmt { -offset } else { offset };
    let utc = local.checked_sub_signed(chrono::Duration::try_seconds(offset)?)?;
    Some(Utc.from_utc_datetime(&utc))
}

/// The ids of every header named `name`, in order, without duplicates.
fn ids_of(headers: &[Header<'_>], raw: &[u8], name: &HeaderName<'_>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for header in headers.iter().filter(|h| h.name == *name) {
        for id in parse_ids(&raw_value(raw, header)) {
            if seen.insert(id.clone()) {
                out.push(id);
            }
        }
    }
    out
}

/// The message ids in a header value, without angle brackets: every
/// `<…>`, or, when there is none, every bare word holding an `@`.
/// Comments and other junk are skipped.
pub fn parse_ids(value: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            break;
        };
        let id: String = after[..close].chars().filter(|c| !c.is_whitespace()).collect();
        if !id.is_empty() && seen.insert(id.clone()) {
            ids.push(id);
        }
        rest = &after[close + 1..];
    }
    if ids.is_empty() {
        for word in value.split(|c: char| c.is_whitespace() || c == ',') {
            let word = word.trim_matches(|c| c == '<' || c == '>');
            if word.contains('@') && !word.starts_with('(') && seen.insert(word.to_owned()) {
                ids.push(word.to_owned());
            }
        }
    }
    ids
}

/// The ticket our ticket header names, else the one a subject tag names.
fn ticket_ref(
    headers: &[Header<'_>],
    raw: &[u8],
    subject: &str,
    options: &ParseOptions,
    problems: &mut Vec<String>,
) -> Option<Id> {
    if let Some(value) = raw_values(headers, raw, &options.ticket_header)
        .into_iter()
        .next()
    {
        match value.trim().parse::<Id>() {
            Ok(id) => return Some(id),
            Err(_) => problems.push(format!(
                "{} is not a ticket number: {:?}",
                options.ticket_header,
                shorten(&value)
            )),
        }
    }
    subject_ticket(subject, &options.subject_tag_prefix, &options.subject_tag_suffix)
}

/// The ticket number in a subject: the configured tag (`[#123]`) anywhere
/// in it, or else a Zendesk-style `#123` inside square brackets
/// (`[Suporte #123]`). A bare `#123` outside brackets is not a tag.
pub fn subject_ticket(subject: &str, prefix: &str, suffix: &str) -> Option<Id> {
    if !prefix.is_empty() {
        for (start, _) in subject.match_indices(prefix) {
            let rest = &subject[start + prefix.len()..];
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits > 0
                && rest[digits..].starts_with(suffix)
                && let Ok(id) = rest[..digits].parse::<Id>()
            {
                return Some(id);
            }
        }
    }
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let inside = &rest[open + 1..];
        let Some(close) = inside.find(']') else {
            break;
        };
        let group = &inside[..close];
        for (hash, _) in group.match_indices('#') {
            let before_ok = group[..hash]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
            let number = &group[hash + 1..];
            let digits = number.find(|c: char| !c.is_ascii_digit()).unwrap_or(number.len());
            let after_ok = number[digits..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric());
            if before_ok
                && after_ok
                && digits > 0
                && let Ok(id) = number[..digits].parse::<Id>()
            {
                return Some(id);
            }
        }
        rest = &inside[close + 1..];
    }
    None
}

/// The text body (the text parts, or text derived from the HTML ones) and
/// the sanitised HTML body.
fn body(message: &Message<'_>, mail: &mut ParsedMail, problems: &mut Vec<String>) {
    let part = |id: &u32| message.parts.get(*id as usize);
    let mut texts = Vec::new();
    for p in message.text_body.iter().filter_map(part) {
        match &p.body {
            PartType::Text(text) => texts.push(text.to_string()),
            PartType::Html(html) => texts.push(html::html_to_text(html)),
            _ => {}
        }
    }
    let htmls: Vec<&str> = message
        .html_body
        .iter()
        .filter_map(part)
        .filter_map(|p| match &p.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    let mut text = normalize_newlines(&texts.join("\n"));
    if text.trim().is_empty() && !htmls.is_empty() {
        text = normalize_newlines(&html::html_to_text(&htmls.join("\n")));
    }
    mail.body_text = text.trim().to_owned();
    if !htmls.is_empty() {
        let sanitized = html::sanitize(&htmls.join("\n"));
        problems.extend(sanitized.problem);
        mail.body_html = Some(sanitized.html);
    }
}

/// CRLF and lone CR become LF.
pub fn normalize_newlines(text: &str) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_owned()
    }
}

/// Damage mail-parser noted on the parts, and text whose charset could
/// not be honoured.
fn part_problems(message: &Message<'_>, problems: &mut Vec<String>) {
    for (index, part) in message.parts.iter().enumerate() {
        let ctype = content_type(part);
        if part.is_encoding_problem {
            problems.push(format!(
                "part {index} ({ctype}): broken MIME boundary or transfer encoding; kept as raw text"
            ));
        }
        if !part.is_text() {
            continue;
        }
        let charset = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .map(str::trim);
        match charset {
            Some(charset) if !is_known_charset(charset) => problems.push(format!(
                "part {index} ({ctype}): unknown charset {:?}; decoded as UTF-8 with invalid bytes replaced",
                shorten(charset)
            )),
            None if part.text_contents().is_some_and(|t| t.contains('\u{FFFD}')) => problems.push(format!(
                "part {index} ({ctype}): names no charset and is not UTF-8; invalid bytes replaced"
            )),
            _ => {}
        }
    }
}

/// Whether mail-parser decodes `charset` (UTF-8 is its default and has no
/// decoder of its own).
fn is_known_charset(charset: &str) -> bool {
    const UTF8: &[&str] = &[
        "utf-8",
        "utf8",
        "unicode-1-1-utf-8",
        "unicode11utf8",
        "unicode20utf8",
        "x-unicode20utf8",
    ];
    let lower = charset.trim_matches('"').to_ascii_lowercase();
    UTF8.contains(&lower.as_str()) || charset_decoder(lower.as_bytes()).is_some()
}

/// `type/subtype`, lowercased; MIME's default for a part without one.
fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match part.body {
            PartType::Text(_) => "text/plain".to_owned(),
            PartType::Html(_) => "text/html".to_owned(),
            PartType::Message(_) => "message/rfc822".to_owned(),
            _ => "application/octet-stream".to_owned(),
        },
    }
}

/// Every attachment and inline part, with its bytes unless above the cap.
///
/// `winmail.dat` (TNEF, `application/ms-tnef`) is kept as an attachment,
/// not unpacked: the only TNEF crate on crates.io (`tnef` 0.1.1) has had no
/// release since 2019 and calls itself "basic", which is not what a parser
/// of hostile input should be.
fn attachments(
    message: &Message<'_>,
    options: &ParseOptions,
    problems: &mut Vec<String>,
) -> Vec<MailAttachment> {
    let mut out = Vec::new();
    for (n, id) in message.attachments.iter().enumerate() {
        let Some(part) = message.parts.get(*id as usize) else {
            continue;
        };
        let content_type = content_type(part);
        let name = part
            .attachment_name()
            .and_then(safe_file_name)
            .unwrap_or_else(|| format!("attachment-{}.{}", n + 1, extension(&content_type)));
        let bytes: Cow<'_, [u8]> = Cow::Borrowed(part.contents());
        let size = bytes.len();
        let inline = matches!(part.body, PartType::InlineBinary(_))
            || part.content_disposition().is_some_and(|d| d.is_inline());
        let content_id = part
            .content_id()
            .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
            .filter(|id| !id.is_empty());
        let content = if size > options.max_attachment_bytes {
            problems.push(format!(
                "attachment {name:?} ({size} bytes) is above the {} byte cap; only its name, type and size are kept",
                options.max_attachment_bytes
            ));
            None
        } else {
            Some(bytes.into_owned())
        };
        out.push(MailAttachment {
            name,
            content_type,
            size,
            inline,
            content_id,
            content,
        });
    }
    out
}

/// A file name safe to store: the last path component, without control
/// characters, at most 200 characters; `None` when nothing is left.
fn safe_file_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty() && cleaned != "." && cleaned != "..").then(|| cleaned.to_owned())
}

/// The file extension for a generated attachment name.
fn extension(content_type: &str) -> &'static str {
    match content_type {
        "text/plain"
        | "text/rfc822-headers"
        | "message/delivery-status"
        | "message/global-delivery-status" => "txt",
        "text/html" => "html",
        "text/calendar" => "ics",
        "text/csv" => "csv",
        "message/rfc822" | "message/global" => "eml",
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/ms-tnef" | "application/vnd.ms-tnef" => "dat",
        _ => "bin",
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value cut to 200 characters for a problem line.
pub(crate) fn shorten(value: &str) -> String {
    if value.chars().count() <= 200 {
        value.to_owned()
    } else {
        let cut: String = value.chars().take(200).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(text: &str) -> ParsedMail {
        parse(text.as_bytes(), &ParseOptions::default())
    }

    #[test]
    fn headers_are_decoded_and_normalised() {
        let m = mail(concat!(
            "From: \"Maria Silva\" <Maria.Silva@Example.COM>\r\n",
            "To: Suporte <suporte@example.com>, undisclosed:;\r\n",
            "Cc: Equipe: a@example.com, B@example.com;, c@example.com\r\n",
            "Reply-To: <responder@example.com>\r\n",
            "Subject: =?UTF-8?Q?Fatura_n=C3=A3o_chegou?=\r\n  [#42]\r\n",
            "Date: Mon, 2 Feb 2026 10:00:00 -0300\r\n",
            "Message-ID: <abc@mail.example.com>\r\n",
            "In-Reply-To: <x@carteiro.invalid> (Suporte's message)\r\n",
            "References: <a@x> junk\r\n <b@y>\r\n\t<a@x>\r\n",
            "\r\n",
            "Olá\r\nmundo\r\n",
        ));
        assert_eq!(
            m.from,
            Some(Address {
                name: Some("Maria Silva".to_owned()),
                email: "maria.silva@example.com".to_owned()
            })
        );
        let emails = |list: &[Address]| list.iter().map(|a| a.email.clone()).collect::<Vec<_>>();
        assert_eq!(emails(&m.to), ["suporte@example.com"]);
        assert_eq!(emails(&m.cc), ["a@example.com", "b@example.com", "c@example.com"]);
        assert_eq!(emails(&m.reply_to), ["responder@example.com"]);
        assert_eq!(m.subject, "Fatura não chegou [#42]");
        assert_eq!(
            m.date.map(|d| d.to_rfc3339()),
            Some("2026-02-02T13:00:00+00:00".to_owned())
        );
        assert_eq!(m.message_id, "abc@mail.example.com");
        assert!(!m.message_id_derived);
        assert_eq!(m.in_reply_to, ["x@carteiro.invalid"]);
        assert_eq!(m.references, ["a@x", "b@y"]);
        assert_eq!(m.ticket_ref, Some(42));
        assert_eq!(m.body_text, "Olá\nmundo");
        assert_eq!(m.sender, Sender::Person);
        assert_eq!(m.problems, Vec::<String>::new());
    }

    #[test]
    fn missing_message_id_is_derived_from_the_bytes() {
        let raw = "From: a@example.com\nDate: Mon, 2 Feb 2026 10:00:00 +0000\nSubject: x\n\nbody\n";
        let first = mail(raw);
        let again = mail(raw);
        let other = mail(&raw.replace("body", "body!"));
        assert!(first.message_id_derived);
        assert_eq!(first.message_id, again.message_id);
        assert_ne!(first.message_id, other.message_id);
        assert_eq!(
            first.message_id,
            format!("sha256-{}@derived.carteiro.invalid", &first.raw_sha256[..32])
        );
        assert_eq!(
            first.problems,
            [format!("no usable Message-ID; derived {}", first.message_id)]
        );
    }

    #[test]
    fn damage_is_listed_not_raised() {
        let m = mail("From: just a name\nDate: yesterday at noon\nMessage-ID: junk\n\nx");
        assert_eq!(m.from, None);
        assert_eq!(
            m.problems[..3],
            [
                "From has no usable address: \"just a name\"".to_owned(),
                "unparsable Date: \"yesterday at noon\"".to_owned(),
                "Message-ID holds no id: \"junk\"".to_owned(),
            ]
        );
        let empty = mail("");
        assert_eq!(
            empty.problems,
            ["no mail headers found; nothing could be decoded"]
        );
        assert!(empty.message_id_derived);
    }

    #[test]
    fn subject_tags() {
        let cases: &[(&str, Option<Id>)] = &[
            ("[#123] Ajuda", Some(123)),
            ("Re: Ajuda [#123]", Some(123)),
            ("Re: [Suporte #77] Ajuda", Some(77)),
            ("[Ticket#88]", None),
            ("Pedido #123", None),
            ("[#] vazio", None),
            ("[#12a]", None),
            ("[#99999999999999999999999]", None),
            ("[ACME] Re: [#5]", Some(5)),
        ];
        for (subject, expected) in cases {
            assert_eq!(
                subject_ticket(subject, "[#", "]"),
                *expected,
                "subject {subject:?}"
            );
        }
        assert_eq!(subject_ticket("Chamado {9} aberto", "{", "}"), Some(9));
    }

    #[test]
    fn ticket_header_wins_over_subject() {
        let m = mail("From: a@example.com\nX-Carteiro-Ticket: 17\nSubject: [#3]\n\nx");
        assert_eq!(m.ticket_ref, Some(17));
    }

    #[test]
    fn ids_tolerate_junk() {
        let cases: &[(&str, &[&str])] = &[
            ("<a@b>", &["a@b"]),
            ("<a@b> <c@d>", &["a@b", "c@d"]),
            ("<a@b>,<c@d>", &["a@b", "c@d"]),
            ("a@b", &["a@b"]),
            ("(comment) <a @b>", &["a@b"]),
            ("<>", &[]),
            ("<unterminated@x", &["unterminated@x"]),
            ("no id here", &[]),
        ];
        for (value, ids) in cases {
            assert_eq!(parse_ids(value), *ids, "value {value:?}");
        }
    }

    #[test]
    fn attachments_get_names_and_the_cap() {
        let raw = concat!(
            "From: a@example.com\n",
            "Content-Type: multipart/mixed; boundary=b\n\n",
            "--b\nContent-Type: text/plain\n\nsee attached\n",
            "--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"../../etc/fatura.pdf\"\n\n%PDF-1.4 0123456789\n",
            "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment\n\nxy\n",
            "--b\nContent-Type: application/ms-tnef; name=winmail.dat\nContent-Transfer-Encoding: base64\n\neJ8+IgAA\n",
            "--b--\n",
        );
        let options = ParseOptions {
            max_attachment_bytes: 10,
            ..ParseOptions::default()
        };
        let m = parse(raw.as_bytes(), &options);
        let summary: Vec<_> = m
            .attachments
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.content_type.as_str(),
                    a.size,
                    a.content.is_some(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("fatura.pdf", "application/pdf", 19, false),
                ("attachment-2.bin", "application/octet-stream", 2, true),
                ("winmail.dat", "application/ms-tnef", 6, true),
            ]
        );
        assert!(
            m.problems.contains(
                &"attachment \"fatura.pdf\" (19 bytes) is above the 10 byte cap; only its name, type and size are kept"
                    .to_owned()
            ),
            "{:?}",
            m.problems
        );
        assert_eq!(m.body_text, "see attached");
    }

    #[test]
    fn unknown_charset_is_best_effort() {
        let m = mail("From: a@example.com\nContent-Type: text/plain; charset=x-klingon\n\nqapla'\n");
        assert_eq!(m.body_text, "qapla'");
        assert!(
            m.problems
                .contains(&"part 0 (text/plain): unknown charset \"x-klingon\"; decoded as UTF-8 with invalid bytes replaced".to_owned()),
            "{:?}",
            m.problems
        );
    }

    #[test]
    fn raw_latin1_subject_is_read_as_windows_1252() {
        let raw = b"From: a@example.com\nSubject: Cota\xe7\xe3o\n\nx";
        let m = parse(raw, &ParseOptions::default());
        assert_eq!(m.subject, "Cotação");
    }
}
