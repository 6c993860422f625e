//! HTML bodies: plain text derived from them, and the sanitised copy that
//! may be passed on.
//!
//! `parse` calls [`html_to_text`] when a mail has no text part, and
//! [`sanitize`] for every HTML body it keeps. The text converter is our
//! own small streaming one rather than `html2text`: it keeps no tree (so
//! no recursion and no stack to overflow on hostile nesting), never
//! re-wraps lines, and writes `<blockquote>` as `> ` lines so that
//! [`strip_quoted`](super::clean::strip_quoted) can remove quoted history
//! from HTML-only replies. Sanitising goes through `ammonia`, but only for
//! HTML of sane size and nesting: html5ever's tree building is quadratic in
//! nesting depth (20,000 nested `<div>` took 34 s in a debug build), so
//! deeper or larger HTML is replaced by its escaped text.

use std::collections::HashSet;

/// Above this nesting depth (counting elements whose end tag is required)
/// the HTML is not given to `ammonia`.
pub const MAX_SANITIZE_DEPTH: usize = 256;

/// Above this size in bytes the HTML is not given to `ammonia`.
pub const MAX_SANITIZE_BYTES: usize = 4 * 1024 * 1024;

/// The sanitised HTML, and a problem line when it had to be replaced by
/// escaped text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitized {
    /// Safe to show in a browser: no scripts, styles, event handlers or
    /// foreign URL schemes (`cid:` is kept for inline images).
    pub html: String,
    /// Why the HTML was replaced by its text, when it was.
    pub problem: Option<String>,
}

/// Sanitises `html` with `ammonia`, or, when it is too large or too deeply
/// nested for that to be cheap, returns its text escaped in a `<pre>`.
pub fn sanitize(html: &str) -> Sanitized {
    let depth = nesting_depth(html);
    let problem = if html.len() > MAX_SANITIZE_BYTES {
        Some(format!(
            "HTML body of {} bytes is above {MAX_SANITIZE_BYTES} bytes; kept as escaped text",
            html.len()
        ))
    } else if depth > MAX_SANITIZE_DEPTH {
        Some(format!(
            "HTML body is nested {depth} elements deep (above {MAX_SANITIZE_DEPTH}); kept as escaped text"
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Sanitized {
            html: format!("<pre>{}</pre>", escape(&html_to_text(html))),
            problem: Some(problem),
        },
        None => {
            let schemes: HashSet<&str> = ["http", "https", "mailto", "tel", "cid"].into_iter().collect();
            let html = ammonia::Builder::default()
                .url_schemes(schemes)
                .clean(html)
                .to_string();
            Sanitized { html, problem: None }
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Plain text of an HTML document: block elements become line breaks,
/// `<blockquote>` lines are prefixed with `> `, list items with `- `,
/// links keep their target when it differs from their text, entities are
/// decoded, and `<script>`, `<style>`, `<head>` and comments are dropped.
pub fn html_to_text(html: &str) -> String {
    let mut out = TextWriter::default();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.text(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        match Token::read(rest) {
            Some((token, len)) => {
                rest = &rest[len..];
                match token {
                    Token::Skip => {}
                    Token::Tag(tag) => {
                        if !tag.closing && RAW_TEXT.contains(&tag.name.as_str()) {
                            rest = skip_raw_text(rest, &tag.name);
                        } else {
                            out.tag(&tag);
                        }
                    }
                }
            }
            None => {
                out.text("<");
                rest = &rest[1..];
            }
        }
    }
    out.text(&decode_entities(rest));
    out.finish()
}

/// Elements whose content is not text to show.
const RAW_TEXT: &[&str] = &["script", "style", "head", "title", "template", "noscript", "xml"];

/// Elements that never have content.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr",
];

/// Elements whose end tag may be left out, so their nesting is not counted.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "tbody", "thead", "tfoot", "option", "optgroup", "colgroup",
    "caption", "rb", "rt", "rp", "html", "body",
];

/// Elements that start and end a line of text.
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "main",
    "nav",
    "ol",
    "section",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
];

/// How deeply `html` nests elements whose end tag is required.
fn nesting_depth(html: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        match Token::read(rest) {
            Some((token, len)) => {
                rest = &rest[len..];
                if let Token::Tag(tag) = token {
                    let name = tag.name.as_str();
                    if VOID.contains(&name) || OPTIONAL_END.contains(&name) || tag.self_closing {
                        continue;
                    }
                    if tag.closing {
                        depth = depth.saturating_sub(1);
                    } else {
                        depth += 1;
                        max = max.max(depth);
                        if RAW_TEXT.contains(&name) {
                            rest = skip_raw_text(rest, name);
                            depth = depth.saturating_sub(1);
                        }
                    }
                }
            }
            None => rest = &rest[1..],
        }
    }
    max
}

/// A start or end tag, with the attributes the text needs.
#[derive(Debug, Default)]
struct Tag {
    /// Lowercased; namespace prefixes (`o:p`) kept.
    name: String,
    closing: bool,
    self_closing: bool,
    href: Option<String>,
    class: Option<String>,
}

#[derive(Debug)]
enum Token {
    /// A comment, doctype or processing instruction.
    Skip,
    Tag(Tag),
}

impl Token {
    /// Reads the markup at the start of `input` (which starts with `<`):
    /// the token and its length, or `None` when the `<` is plain text.
    fn read(input: &str) -> Option<(Token, usize)> {
        let after = &input[1..];
        if let Some(comment) = after.strip_prefix("!--") {
            let len = comment.find("-->").map_or(input.len(), |end| 4 + end + 3);
            return Some((Token::Skip, len));
        }
        if after.starts_with('!') || after.starts_with('?') {
            let len = after.find('>').map_or(input.len(), |end| end + 2);
            return Some((Token::Skip, len));
        }
        let (closing, body) = match after.strip_prefix('/') {
            Some(body) => (true, body),
            None => (false, after),
        };
        if !body.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        let name_len = body
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .unwrap_or(body.len());
        let mut tag = Tag {
            name: body[..name_len].to_ascii_lowercase(),
            closing,
            ..Tag::default()
        };
        let consumed_before_attrs = input.len() - body.len() + name_len;
        let (attrs_len, self_closing) = read_attributes(&body[name_len..], &mut tag);
        tag.self_closing = self_closing;
        Some((Token::Tag(tag), consumed_before_attrs + attrs_len))
    }
}

/// Reads attributes up to and including the closing `>` (or to the end);
/// returns the length read and whether the tag ended with `/>`.
fn read_attributes(input: &str, tag: &mut Tag) -> (usize, bool) {
    let bytes = input.as_bytes();
    let mut i = 0;
    let mut self_closing = false;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return (i + 1, self_closing),
            b'/' => {
                self_closing = true;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                self_closing = false;
                let name_start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b'=' | b'>' | b'/')
                    && !bytes[i].is_ascii_whitespace()
                {
                    i += 1;
                }
                let name = input[name_start..i].to_ascii_lowercase();
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'=' {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    let value = match bytes.get(i) {
                        Some(&quote @ (b'"' | b'\'')) => {
                            let start = i + 1;
                            let end = input[start..]
                                .find(quote as char)
                                .map_or(input.len(), |e| start + e);
                            i = (end + 1).min(input.len());
                            &input[start..end]
                        }
                        _ => {
                            let start = i;
                            while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                                i += 1;
                            }
                            &input[start..i]
                        }
                    };
                    match name.as_str() {
                        "href" => tag.href = Some(decode_entities(value).trim().to_owned()),
                        "class" => tag.class = Some(value.to_ascii_lowercase()),
                        _ => {}
                    }
                }
            }
        }
    }
    (input.len(), self_closing)
}

/// Skips the content of a raw-text element up to and including its end
/// tag (or to the end of the input).
fn skip_raw_text<'a>(input: &'a str, name: &str) -> &'a str {
    for (start, _) in input.match_indices("</") {
        let after = &input[start + 2..];
        let matches = after
            .as_bytes()
            .get(..name.len())
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name.as_bytes()));
        if matches {
            let end = after.find('>').map_or(after.len(), |e| e + 1);
            return &after[end..];
        }
    }
    ""
}

/// Decodes character references (`&amp;`, `&#233;`, `&#xE9;`, and the
/// named ones common in Portuguese and English mail); unknown ones stay
/// as written.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .map_or(rest.len(), |e| e + 1);
        let name = &rest[1..end];
        let decoded = if let Some(number) = name.strip_prefix('#') {
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse::<u32>().ok(),
            };
            code.map(|c| match c {
                0 => '\u{FFFD}',
                0xA0 => ' ',
                _ => char::from_u32(c).unwrap_or('\u{FFFD}'),
            })
        } else {
            named_entity(name)
        };
        match decoded {
            Some(c) if !name.is_empty() => {
                out.push(c);
                let after = &rest[end..];
                rest = after.strip_prefix(';').unwrap_or(after);
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<char> {
    let c = match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" | "ensp" | "emsp" | "thinsp" => ' ',
        "shy" => '\u{AD}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "ordm" => 'º',
        "ordf" => 'ª',
        "sect" => '§',
        "middot" => '·',
        "bull" => '•',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "euro" => '€',
        "pound" => '£',
        "cent" => '¢',
        "times" => '×',
        "divide" => '÷',
        "iexcl" => '¡',
        "iquest" => '¿',
        "aacute" => 'á',
        "Aacute" => 'Á',
        "agrave" => 'à',
        "Agrave" => 'À',
        "acirc" => 'â',
        "Acirc" => 'Â',
        "atilde" => 'ã',
        "Atilde" => 'Ã',
        "auml" => 'ä',
        "Auml" => 'Ä',
        "eacute" => 'é',
        "Eacute" => 'É',
        "egrave" => 'è',
        "Egrave" => 'È',
        "ecirc" => 'ê',
        "Ecirc" => 'Ê',
        "euml" => 'ë',
        "iacute" => 'í',
        "Iacute" => 'Í',
        "igrave" => 'ì',
        "icirc" => 'î',
        "iuml" => 'ï',
        "oacute" => 'ó',
        "Oacute" => 'Ó',
        "ograve" => 'ò',
        "ocirc" => 'ô',
        "Ocirc" => 'Ô',
        "otilde" => 'õ',
        "Otilde" => 'Õ',
        "ouml" => 'ö',
        "Ouml" => 'Ö',
        "uacute" => 'ú',
        "Uacute" => 'Ú',
        "ugrave" => 'ù',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "Uuml" => 'Ü',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "szlig" => 'ß',
        _ => return None,
    };
    Some(c)
}

/// Builds the text line by line, tracking quote depth, lists, links and
/// `<pre>`.
#[derive(Debug, Default)]
struct TextWriter {
    /// Finished lines with their quote depth.
    lines: Vec<(usize, String)>,
    line: String,
    /// Quote depth of `line`, fixed when its first text arrives.
    line_depth: Option<usize>,
    quote_depth: usize,
    pre_depth: usize,
    /// `None` for `<ul>`, `Some(n)` for `<ol>` at item `n`.
    lists: Vec<Option<u64>>,
    /// The open link's target and the text written inside it so far.
    link: Option<(String, String)>,
    /// A space is owed before the next word.
    space: bool,
    /// An Outlook line (`<p class=MsoNormal>`) is open; the number of lines
    /// finished when it opened.
    outlook_line: Option<usize>,
}

impl TextWriter {
    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.pre_depth > 0 {
            for (i, piece) in text.split('\n').enumerate() {
                if i > 0 {
                    self.hard_break();
                }
                self.push(piece.trim_end_matches('\r'));
            }
            return;
        }
        for (i, word) in text.split(|c: char| c.is_whitespace()).enumerate() {
            if i > 0 {
                self.space = true;
            }
            if word.is_empty() {
                continue;
            }
            if self.space && !self.line.is_empty() {
                self.push(" ");
            }
            self.space = false;
            self.push(word);
        }
    }

    fn push(&mut self, text: &str) {
        if self.line_depth.is_none() {
            self.line_depth = Some(self.quote_depth);
        }
        self.line.push_str(text);
        if let Some((_, link_text)) = &mut self.link {
            link_text.push_str(text);
        }
    }

    /// Ends the current line (an empty line too).
    fn hard_break(&mut self) {
        let depth = self.line_depth.take().unwrap_or(self.quote_depth);
        self.lines.push((depth, std::mem::take(&mut self.line)));
        self.space = false;
    }

    /// Ends the current line unless it is empty.
    fn soft_break(&mut self) {
        if !self.line.is_empty() {
            self.hard_break();
        }
        self.space = false;
    }

    /// Ends the line and leaves one empty line, unless there already is one.
    fn paragraph_break(&mut self) {
        self.soft_break();
        if self.lines.last().is_some_and(|(_, l)| !l.is_empty()) {
            self.lines.push((self.quote_depth, String::new()));
        }
    }

    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        match (name, tag.closing) {
            ("br", _) => self.hard_break(),
            ("p", true) => {
                // An empty Outlook line is a blank line.
                let empty = self.outlook_line.take() == Some(self.lines.len()) && self.line.is_empty();
                if empty {
                    self.hard_break();
                } else {
                    self.soft_break();
                }
            }
            ("p", false) => {
                // Outlook writes each line as `<p class=MsoNormal>`; other
                // writers use `<p>` for paragraphs.
                if tag.class.as_deref().is_some_and(|c| c.contains("msonormal")) {
                    self.soft_break();
                    self.outlook_line = Some(self.lines.len());
                } else {
                    self.outlook_line = None;
                    self.paragraph_break();
                }
            }
            ("blockquote", false) => {
                self.soft_break();
                self.quote_depth += 1;
            }
            ("blockquote", true) => {
                self.soft_break();
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            ("pre", false) => {
                self.soft_break();
                self.pre_depth += 1;
            }
            ("pre", true) => {
                self.soft_break();
                self.pre_depth = self.pre_depth.saturating_sub(1);
            }
            ("ul", false) => {
                self.soft_break();
                self.lists.push(None);
            }
            ("ol", false) => {
                self.soft_break();
                self.lists.push(Some(0));
            }
            ("ul" | "ol", true) => {
                self.soft_break();
                self.lists.pop();
            }
            ("li", false) => {
                self.soft_break();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{n}. ")
                    }
                    _ => "- ".to_owned(),
                };
                self.push(&marker);
            }
            ("hr", _) => self.paragraph_break(),
            ("td" | "th", false) => self.space = true,
            ("a", false) => {
                self.link = tag.href.as_ref().map(|href| (href.clone(), String::new()));
            }
            ("a", true) => {
                if let Some((href, text)) = self.link.take() {
                    let shown = href.starts_with("http://") || href.starts_with("https://");
                    if shown && !text.trim().is_empty() && !text.contains(href.as_str()) {
                        self.push(&format!(" <{href}>"));
                    }
                }
            }
            _ if BLOCK.contains(&name) => self.soft_break(),
            _ => {}
        }
    }

    fn finish(mut self) -> String {
        self.soft_break();
        let mut out = String::new();
        let mut blank_run = 0;
        for (depth, line) in &self.lines {
            let line = line.trim_end();
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            for _ in 0..*depth {
                out.push('>');
            }
            if *depth > 0 && !line.is_empty() {
                out.push(' ');
            }
            out.push_str(line);
            out.push('\n');
        }
        out.trim_matches('\n').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        let cases: &[(&str, &str)] = &[
            ("<p>Olá,</p><p>tudo bem?</p>", "Olá,\n\ntudo bem?"),
            (
                "<div>linha 1</div><div>linha 2</div><div><br></div><div>fim</div>",
                "linha 1\nlinha 2\n\nfim",
            ),
            ("a<br>b<br/>c", "a\nb\nc"),
            (
                "<p class=MsoNormal>Bom dia<o:p></o:p></p><p class=MsoNormal>Segue<o:p></o:p></p>",
                "Bom dia\nSegue",
            ),
            (
                "<html><head><title>t</title><style>p{color:red}</style></head><body><script>alert(1)</script>Oi</body></html>",
                "Oi",
            ),
            (
                "<!-- comment -->Texto &amp; mais&nbsp;coisa &eacute; &#231;&#xE3;o",
                "Texto & mais coisa é ção",
            ),
            ("<ul><li>um</li><li>dois</li></ul>", "- um\n- dois"),
            ("<ol><li>um<li>dois</ol>", "1. um\n2. dois"),
            (
                "Resposta<blockquote>Pergunta<br>antiga</blockquote>",
                "Resposta\n> Pergunta\n> antiga",
            ),
            (
                "<a href=\"https://x.example/a\">link</a>",
                "link <https://x.example/a>",
            ),
            (
                "<a href=\"https://x.example/a\">https://x.example/a</a>",
                "https://x.example/a",
            ),
            ("<a href=\"mailto:a@b.example\">a@b.example</a>", "a@b.example"),
            ("<pre>  code\n    indented</pre>", "  code\n    indented"),
            ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
            (
                "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>",
                "a b\nc",
            ),
            ("unknown &bogus; & done", "unknown &bogus; & done"),
            ("<b>unterminated", "unterminated"),
            ("<", "<"),
            ("<a href='x", ""),
        ];
        for (html, text) in cases {
            assert_eq!(html_to_text(html), *text, "for {html:?}");
        }
    }

    #[test]
    fn sanitize_removes_scripts_and_keeps_cid_images() {
        let clean = sanitize("<p onclick=\"x()\">Oi<script>alert(1)</script><img src=\"cid:logo@x\"></p>");
        assert_eq!(clean.problem, None);
        assert_eq!(clean.html, "<p>Oi<img src=\"cid:logo@x\"></p>");
    }

    #[test]
    fn deep_nesting_is_not_sanitized_by_ammonia() {
        let html = "<div>".repeat(MAX_SANITIZE_DEPTH + 1) + "a";
        let clean = sanitize(&html);
        assert_eq!(clean.html, "<pre>a</pre>");
        assert_eq!(
            clean.problem.as_deref(),
            Some("HTML body is nested 257 elements deep (above 256); kept as escaped text")
        );
        assert_eq!(nesting_depth("<p><p><p><li><br><img><div></div>"), 1);
    }
}
