//! Help Center article search, as the simulator answers it: an article
//! matches when any query word occurs in its title or body, compared without
//! case or accents ("emissao" finds "Emissão"), and articles that match more
//! words come first.

use super::state::strip_html;
use crate::helpdesk::model::Article;

/// How many words of context a snippet shows around the first hit.
const SNIPPET_BEFORE: usize = 8;
const SNIPPET_AFTER: usize = 20;

/// An article that matched, with its snippet.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub article: &'a Article,
    pub snippet: String,
}

/// The published articles matching `query` (in `locale`, when given), best
/// first.
pub fn search<'a>(articles: &'a [Article], query: &str, locale: Option<&str>) -> Vec<Hit<'a>> {
    let mut wanted = words(query);
    wanted.dedup();
    let mut unique: Vec<String> = Vec::new();
    for word in wanted {
        if !unique.contains(&word) {
            unique.push(word);
        }
    }
    if unique.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(usize, usize, &Article, String)> = articles
        .iter()
        .filter(|a| a.draft != Some(true))
        .filter(|a| match (locale, a.locale.as_deref()) {
            (Some(wanted), Some(have)) => wanted.eq_ignore_ascii_case(have),
            _ => true,
        })
        .filter_map(|article| {
            let body = strip_html(article.body.as_deref().unwrap_or(""));
            let title_words = words(&article.title);
            let body_words = words(&body);
            let in_title = unique.iter().filter(|w| occurs(w, &title_words)).count();
            let matched = unique
                .iter()
                .filter(|w| occurs(w, &title_words) || occurs(w, &body_words))
                .count();
            (matched > 0).then(|| (matched, in_title, article, snippet(&body, &unique)))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.id.cmp(&b.2.id)));
    scored
        .into_iter()
        .map(|(_, _, article, snippet)| Hit { article, snippet })
        .collect()
}

/// Whether query word `word` occurs among `tokens`: equal, or (for words of
/// four letters or more) the start of a longer word, so "boleto" finds
/// "boletos".
fn occurs(word: &str, tokens: &[String]) -> bool {
    tokens
        .iter()
        .any(|t| t == word || (word.chars().count() >= 4 && t.starts_with(word)))
}

/// A window of the body around the first hit, hits in `<em>`.
fn snippet(body: &str, wanted: &[String]) -> String {
    let pieces: Vec<&str> = body.split_whitespace().collect();
    let hit = |piece: &str| {
        let tokens = words(piece);
        wanted.iter().any(|w| occurs(w, &tokens))
    };
    let first = pieces.iter().position(|p| hit(p)).unwrap_or(0);
    let start = first.saturating_sub(SNIPPET_BEFORE);
    let end = (first + SNIPPET_AFTER).min(pieces.len());
    let mut out: Vec<String> = pieces[start..end]
        .iter()
        .map(|p| {
            if hit(p) {
                format!("<em>{p}</em>")
            } else {
                (*p).to_owned()
            }
        })
        .collect();
    if start > 0 {
        out.insert(0, "...".to_owned());
    }
    if end < pieces.len() {
        out.push("...".to_owned());
    }
    out.join(" ")
}

/// The words of `text`, lower-cased and without accents.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `text` in lower case with accents removed: "Emissão" → "emissao".
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => out.push('a'),
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => out.push('c'),
            'ď' | 'đ' => out.push('d'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => out.push('e'),
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => out.push('g'),
            'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => out.push('i'),
            'ñ' | 'ń' | 'ņ' | 'ň' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => out.push('o'),
            'ś' | 'ŝ' | 'ş' | 'š' => out.push('s'),
            'ţ' | 'ť' => out.push('t'),
            'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ź' | 'ż' | 'ž' => out.push('z'),
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            // Combining accents (text already in decomposed form).
            '\u{0300}'..='\u{036f}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: u64, title: &str, body: &str, locale: &str) -> Article {
        Article {
            id,
            url: None,
            html_url: None,
            title: title.to_owned(),
            body: Some(body.to_owned()),
            snippet: None,
            result_type: None,
            locale: Some(locale.to_owned()),
            section_id: None,
            label_names: Vec::new(),
            draft: Some(false),
            promoted: None,
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn folds_accents_and_case() {
        assert_eq!(
            fold("Emissão de NOTA Fiscal, Ação"),
            "emissao de nota fiscal, acao"
        );
        assert_eq!(fold("e\u{0301}"), "e");
    }

    #[test]
    fn ranks_by_words_matched_and_ignores_accents() {
        let articles = vec![
            article(
                1,
                "Segunda via de boleto",
                "<p>Como emitir a segunda via.</p>",
                "pt-br",
            ),
            article(
                2,
                "Emissão de nota fiscal",
                "<p>Para emitir a nota, acesse o portal.</p>",
                "pt-br",
            ),
            article(3, "Invoice", "<p>emissao nota</p>", "en-us"),
        ];
        let hits = search(&articles, "emissao nota boletos", Some("pt-br"));
        let ids: Vec<_> = hits.iter().map(|h| h.article.id).collect();
        assert_eq!(ids, vec![2], "boletos is not a prefix of boleto");
        let hits = search(&articles, "EMITIR boleto", Some("pt-BR"));
        let ids: Vec<_> = hits.iter().map(|h| h.article.id).collect();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(hits[1].snippet, "Para <em>emitir</em> a nota, acesse o portal.");
    }
}
