//! Reply cleaning: the new text of a reply, without the quoted history and
//! signature that mail clients append, before it becomes a ticket comment.
//!
//! Ingest calls [`strip_quoted`] on a reply's `body_text`; the full
//! original stays on the comment as an `.eml` attachment, so what this
//! removes is never lost. Still, it is conservative, because dropping a
//! customer's words is worse than keeping a signature:
//!
//! - An attribution line (`On … wrote:`, `Em … escreveu:`, Thunderbird's
//!   and Apple Mail's variants) removes itself and the `>` block under it;
//!   text after that block (a bottom-posted answer) is kept. An attribution
//!   followed by unquoted text cuts to the end.
//! - Outlook's `-----Original Message-----` / `-----Mensagem original-----`
//!   and its header blocks (`From:`/`De:` followed by at least two of
//!   `Sent:`/`Enviado:`/`Date:`/`Data:`, `To:`/`Para:`,
//!   `Subject:`/`Assunto:`, also `*bold*`) cut to the end: Outlook's
//!   history is not quoted, so nothing after it can be told apart.
//!   Outlook's *forwards* look the same and are cut too; header blocks
//!   under a forwarded-message marker (`---------- Forwarded message`,
//!   `Mensagem encaminhada`, `Begin forwarded message:`) are kept.
//! - A `>` block at the end is removed; `>` blocks between the customer's
//!   lines (an inline answer) are kept, as they give the answers meaning.
//! - A signature after the `-- ` delimiter is removed when it is short
//!   (at most [`MAX_SIGNATURE_LINES`] lines); sign-offs such as
//!   "Atenciosamente" are only removed as part of such a signature.
//! - A trailing mobile footer ("Enviado do meu iPhone", "Get Outlook for
//!   Android") is removed.
//! - When nothing would be left, the original (trimmed) is returned.

/// The longest signature, in non-empty lines, that the `-- ` delimiter
/// removes; a longer tail is kept as content.
pub const MAX_SIGNATURE_LINES: usize = 15;

/// The new text of a reply: `body` without quoted history, the signature
/// and mobile footers, trimmed, with LF line endings.
pub fn strip_quoted(body: &str) -> String {
    let text = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if is_history_marker(&lines, i) {
            break;
        }
        if let Some(len) = attribution_len(&lines, i) {
            let after = i + len;
            let quote_end = quoted_block_end(&lines, after);
            if quote_end == after {
                // Attribution without a quoted block: the history follows
                // unquoted, to the end.
                break;
            }
            i = quote_end;
            continue;
        }
        kept.push(lines[i]);
        i += 1;
    }
    drop_trailing_quote(&mut kept);
    drop_signature(&mut kept);
    drop_mobile_footer(&mut kept);
    let cleaned = join(&kept);
    if cleaned.is_empty() {
        body.trim().to_owned()
    } else {
        cleaned
    }
}

/// `>` quoted, after optional indentation.
fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The end of the `>` block that starts at `start` after optional blank
/// lines (blank lines inside the block belong to it); `start` when there is
/// no such block.
fn quoted_block_end(lines: &[&str], start: usize) -> usize {
    let mut end = start;
    let mut i = start;
    let mut seen_quote = false;
    while i < lines.len() {
        if is_quoted(lines[i]) {
            seen_quote = true;
            i += 1;
            end = i;
        } else if is_blank(lines[i]) {
            i += 1;
        } else {
            break;
        }
    }
    if seen_quote { end } else { start }
}

/// Words that end an attribution line, in the languages our customers
/// write in (and a few neighbours).
const WROTE: &[&str] = &[
    "wrote:",
    "escreveu:",
    "escribió:",
    "a écrit :",
    "a écrit:",
    "schrieb:",
    "scritto:",
];

/// Words that start a dated attribution line.
const ATTRIBUTION_STARTS: &[&str] = &["on ", "em ", "el ", "le ", "am ", "il "];

/// How many lines (1 to 3) the attribution starting at line `i` spans,
/// if one does: a line starting with `On`/`Em` (Gmail, Apple Mail,
/// Thunderbird, Yahoo) holding a digit, ending in `wrote:`/`escreveu:`
/// within three lines; or a single `Name <addr> wrote:` line directly
/// followed by a `>` block.
fn attribution_len(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines[i].trim();
    let lower = first.to_lowercase();
    if ATTRIBUTION_STARTS.iter().any(|s| lower.starts_with(s)) {
        let mut joined = String::new();
        for (n, line) in lines.iter().skip(i).take(3).enumerate() {
            let line = line.trim();
            if n > 0 && (line.is_empty() || is_quoted(line)) {
                break;
            }
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(&line.to_lowercase());
            if joined.chars().count() > 400 {
                break;
            }
            if WROTE.iter().any(|w| joined.ends_with(w)) {
                return joined.contains(|c: char| c.is_ascii_digit()).then_some(n + 1);
            }
        }
        return None;
    }
    let ends_wrote = WROTE.iter().any(|w| lower.ends_with(w));
    let short = first.chars().count() <= 200;
    (ends_wrote && short && quoted_block_end(lines, i + 1) > i + 1).then_some(1)
}

/// Whether line `i` starts history that runs to the end: an Outlook
/// `-----Original Message-----` separator, or an Outlook header block
/// (possibly after a `____` rule) that is not part of a forward.
fn is_history_marker(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    if is_original_message_separator(line) {
        return true;
    }
    let start = if is_underscore_rule(line) {
        match lines.iter().skip(i + 1).take(2).position(|l| !is_blank(l)) {
            Some(offset) => i + 1 + offset,
            None => return false,
        }
    } else {
        i
    };
    is_header_block(lines, start) && !follows_forward_marker(lines, i)
}

/// `-----Original Message-----`, `----- Mensagem original -----` and kin.
fn is_original_message_separator(line: &str) -> bool {
    if !line.starts_with("--") {
        return false;
    }
    let inner = line
        .trim_matches(|c: char| c == '-' || c.is_whitespace())
        .to_lowercase();
    matches!(
        inner.as_str(),
        "original message"
            | "mensagem original"
            | "mensaje original"
            | "message d'origine"
            | "ursprüngliche nachricht"
    )
}

/// Outlook's `________________________________` rule above its headers.
fn is_underscore_rule(line: &str) -> bool {
    line.len() >= 10 && line.chars().all(|c| c == '_')
}

/// The header fields that make an Outlook-style block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Date,
    To,
    Subject,
    Cc,
}

/// The field a line such as `De: Maria`, `*From:* Maria` or
/// `**Enviado em:** …` names, if any.
fn header_field(line: &str) -> Option<Field> {
    let line = line.trim().trim_start_matches(['*', '_']);
    let (label, _) = line.split_once(':')?;
    let label = label.trim_end_matches(['*', '_']).trim().to_lowercase();
    let field = match label.as_str() {
        "from" | "de" | "von" => Field::From,
        "sent" | "date" | "enviado" | "enviada" | "enviado em" | "enviada em" | "data" | "fecha"
        | "gesendet" => Field::Date,
        "to" | "para" | "an" => Field::To,
        "subject" | "assunto" | "asunto" | "betreff" => Field::Subject,
        "cc" => Field::Cc,
        _ => return None,
    };
    Some(field)
}

/// A `From:`/`De:` line at `start` followed, within the next six lines,
/// by at least two of a date, a recipient and a subject field.
fn is_header_block(lines: &[&str], start: usize) -> bool {
    if lines.get(start).and_then(|l| header_field(l)) != Some(Field::From) {
        return false;
    }
    let mut seen = Vec::new();
    for line in lines.iter().skip(start + 1).take(6) {
        if is_blank(line) {
            continue;
        }
        match header_field(line) {
            Some(Field::From) | None => break,
            Some(Field::Cc) => {}
            Some(field) => {
                if !seen.contains(&field) {
                    seen.push(field);
                }
            }
        }
    }
    seen.len() >= 2
}

/// Whether a forwarded-message marker stands just above line `i`.
fn follows_forward_marker(lines: &[&str], i: usize) -> bool {
    lines[..i]
        .iter()
        .rev()
        .filter(|l| !is_blank(l))
        .take(2)
        .any(|l| is_forward_marker(l))
}

fn is_forward_marker(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    let inner = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
    matches!(
        inner,
        "forwarded message"
            | "mensagem encaminhada"
            | "mensaje reenviado"
            | "begin forwarded message:"
            | "início da mensagem encaminhada:"
            | "inicio da mensagem encaminhada:"
    )
}

/// Removes a `>` block (and the blank lines around it) at the end.
fn drop_trailing_quote(lines: &mut Vec<&str>) {
    let mut end = lines.len();
    while end > 0 && is_blank(lines[end - 1]) {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && (is_quoted(lines[start - 1]) || is_blank(lines[start - 1])) {
        start -= 1;
    }
    if lines[start..end].iter().any(|l| is_quoted(l)) {
        lines.truncate(start);
    }
}

/// Removes a short signature after the last `-- ` delimiter.
fn drop_signature(lines: &mut Vec<&str>) {
    let Some(delimiter) = lines.iter().rposition(|l| *l == "-- " || l.trim_end() == "--") else {
        return;
    };
    let tail = lines[delimiter + 1..].iter().filter(|l| !is_blank(l)).count();
    if tail <= MAX_SIGNATURE_LINES {
        lines.truncate(delimiter);
    }
}

/// Phrases that start the one-line footer of mobile mail apps.
const MOBILE_FOOTERS: &[&str] = &[
    "sent from my ",
    "sent from mail for windows",
    "sent from outlook for ",
    "sent from yahoo mail",
    "get outlook for ",
    "enviado do meu ",
    "enviado de meu ",
    "enviado do email para windows",
    "enviado do outlook para ",
    "enviado do yahoo mail",
    "obter o outlook para ",
    "baixe o outlook para ",
];

/// Removes a mobile app's footer when it is the last non-empty line.
fn drop_mobile_footer(lines: &mut Vec<&str>) {
    let Some(last) = lines.iter().rposition(|l| !is_blank(l)) else {
        return;
    };
    let lower = lines[last].trim().to_lowercase();
    if lower.chars().count() <= 80 && MOBILE_FOOTERS.iter().any(|f| lower.starts_with(f)) {
        lines.truncate(last);
    }
}

/// Joins lines, collapsing runs of blank lines to one and dropping rules
/// and blank lines at either end.
fn join(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push_str("\n\n");
        } else if !out.is_empty() {
            out.push('\n');
        }
        blank = false;
        out.push_str(line);
    }
    let trimmed = out.trim_end_matches(|c: char| c == '_' || c == '-' || c.is_whitespace());
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (case, reply body, expected new text)
    const CASES: &[(&str, &str, &str)] = &[
        (
            "gmail english",
            "Thanks, it works now.\n\nOn Mon, Feb 2, 2026 at 10:00 AM Support <support@example.com> wrote:\n> Please restart the app.\n>\n> Best,\n> Support\n",
            "Thanks, it works now.",
        ),
        (
            "gmail portuguese wrapped attribution",
            "Obrigada, resolvido!\n\nEm seg., 2 de fev. de 2026 às 10:00, Suporte Carteiro <\nsuporte@example.com> escreveu:\n\n> Olá Maria,\n> reinicie o aplicativo.\n",
            "Obrigada, resolvido!",
        ),
        (
            "thunderbird",
            "Ainda não funciona.\n\nOn 01/02/2026 10:00, Suporte wrote:\n> Tente de novo.\n",
            "Ainda não funciona.",
        ),
        (
            "apple mail",
            "Ok, vou testar.\n\nEnviado do meu iPhone\n\nEm 2 de fev. de 2026, à(s) 10:00, Suporte <s@example.com> escreveu:\n\n> Teste por favor.\n",
            "Ok, vou testar.",
        ),
        (
            "outlook english",
            "See attached log.\n\n-----Original Message-----\nFrom: Support <support@example.com>\nSent: Monday, February 2, 2026 10:00 AM\nTo: John <john@example.com>\nSubject: RE: [#12] Crash\n\nPlease send the log.\n",
            "See attached log.",
        ),
        (
            "outlook portuguese header block",
            "Segue o print.\r\n\r\n________________________________\r\nDe: Suporte <suporte@example.com>\r\nEnviado: segunda-feira, 2 de fevereiro de 2026 10:00\r\nPara: Maria <maria@example.com>\r\nAssunto: RE: [#12] Erro\r\n\r\nPode mandar um print?\r\n",
            "Segue o print.",
        ),
        (
            "outlook bold header from html",
            "Pode fechar o chamado.\n\n*De:* Suporte <suporte@example.com>\n*Enviada em:* terça-feira, 3 de fevereiro de 2026 09:12\n*Para:* Maria\n*Assunto:* [#12] Erro\n\nResolvido?",
            "Pode fechar o chamado.",
        ),
        (
            "mensagem original separator",
            "Sim.\n\n-----Mensagem original-----\nDe: Suporte\nQualquer coisa",
            "Sim.",
        ),
        (
            "bottom posting keeps the answer",
            "On Mon, Feb 2, 2026 at 10:00 AM Support <s@example.com> wrote:\n> Does it work?\n\nYes, it works.\n",
            "Yes, it works.",
        ),
        (
            "inline answers keep their quotes",
            "> Which version?\n2.1\n> Which OS?\nLinux\n\n> Thanks\n",
            "> Which version?\n2.1\n> Which OS?\nLinux",
        ),
        (
            "signature after delimiter",
            "Preciso de ajuda com a fatura.\n\n-- \nAtenciosamente,\nJoão Silva\nFinanceiro | ACME\n",
            "Preciso de ajuda com a fatura.",
        ),
        (
            "sign-off without delimiter is kept",
            "Preciso de ajuda com a fatura.\n\nAtenciosamente,\nJoão Silva",
            "Preciso de ajuda com a fatura.\n\nAtenciosamente,\nJoão Silva",
        ),
        (
            "atenciosamente mid-message is content",
            "Recebi um e-mail que terminava com Atenciosamente, Banco X\ne pedia minha senha. É golpe?",
            "Recebi um e-mail que terminava com Atenciosamente, Banco X\ne pedia minha senha. É golpe?",
        ),
        (
            "long tail after delimiter is content",
            "Intro\n--\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16",
            "Intro\n--\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16",
        ),
        (
            "forward is kept",
            "Veja abaixo.\n\n---------- Forwarded message ---------\nDe: Banco <banco@example.com>\nDate: seg., 2 de fev. de 2026\nSubject: Fatura\nTo: <maria@example.com>\n\nSua fatura venceu.",
            "Veja abaixo.\n\n---------- Forwarded message ---------\nDe: Banco <banco@example.com>\nDate: seg., 2 de fev. de 2026\nSubject: Fatura\nTo: <maria@example.com>\n\nSua fatura venceu.",
        ),
        (
            "a sentence starting with On is content",
            "On Monday the app crashed twice.\nMy colleague wrote: it also crashed for her.",
            "On Monday the app crashed twice.\nMy colleague wrote: it also crashed for her.",
        ),
        (
            "mobile footer",
            "Pode ligar amanhã?\n\nSent from my iPhone",
            "Pode ligar amanhã?",
        ),
        (
            "only quoted text returns the original",
            "> only a quote\n",
            "> only a quote",
        ),
        (
            "name wrote with quote block",
            "Concordo.\n\nMaria Silva <maria@example.com> escreveu:\n> Podemos fechar?\n",
            "Concordo.",
        ),
        ("empty", "", ""),
    ];

    #[test]
    fn strips_history_and_signatures() {
        for (case, body, expected) in CASES {
            assert_eq!(strip_quoted(body), *expected, "case {case}");
        }
    }

    #[test]
    fn header_fields_are_recognised_with_decoration() {
        let cases = [
            ("From: a", Some(Field::From)),
            ("**De:** a", Some(Field::From)),
            ("*Enviada em:* ontem", Some(Field::Date)),
            ("Para: b", Some(Field::To)),
            ("Assunto: c", Some(Field::Subject)),
            ("Nota: d", None),
            ("sem dois pontos", None),
        ];
        for (line, field) in cases {
            assert_eq!(header_field(line), field, "line {line:?}");
        }
    }
}
