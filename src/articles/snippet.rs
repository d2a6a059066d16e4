//! The snippet of a search hit, made by the service from the body it loads
//! for the page anyway: the passage holding the most of the search's words,
//! each found word in `<mark>…</mark>`, everything else HTML-escaped.
//!
//! Made here rather than by the database (`ts_headline` cost PostgreSQL
//! about 1.4 ms per row, seven times the search itself), and the same on
//! both backends. A body word is found when its Snowball English stem (the
//! stemmer of PostgreSQL's `english` configuration) is a search word's, so
//! "refunds" marks "refunded".

use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Words in a snippet.
const WINDOW: usize = 30;
/// Words shown before the first found word, when the passage starts later.
const LEAD: usize = 4;

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// A search word, stemmed, with the prefix a body word must start with to
/// be worth stemming (a stem keeps its word's first letters).
struct Term {
    stem: String,
    prefix: String,
}

impl Term {
    fn new(word: &str) -> Self {
        let stem = stemmer().stem(word).into_owned();
        let prefix = stem.chars().take(3).collect();
        Term { stem, prefix }
    }

    fn finds(&self, lowered: &str) -> bool {
        lowered.starts_with(&self.prefix)
            && (lowered == self.stem || stemmer().stem(lowered) == self.stem)
    }
}

/// The snippet of `body` for the search `words` (lower-case, as
/// `search::words` makes them).
pub fn snippet(body: &str, words: &[String]) -> String {
    let terms: Vec<Term> = words.iter().map(|w| Term::new(w)).collect();
    // Each word of the body: its byte range and which term it is, if any.
    let mut tokens: Vec<(usize, usize, Option<usize>)> = Vec::new();
    let mut start = None;
    for (i, c) in body
        .char_indices()
        .chain(std::iter::once((body.len(), ' ')))
    {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let lowered = body[s..i].to_lowercase();
                let term = terms.iter().position(|t| t.finds(&lowered));
                tokens.push((s, i, term));
                start = None;
            }
            _ => {}
        }
    }
    let (from, to) = passage(&tokens, terms.len());
    let Some(&(first, _, _)) = tokens.get(from) else {
        return String::new();
    };
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = first;
    for &(s, e, term) in &tokens[from..to] {
        push_text(&mut out, &body[at..s]);
        if term.is_some() {
            out.push_str("<mark>");
            push_text(&mut out, &body[s..e]);
            out.push_str("</mark>");
        } else {
            push_text(&mut out, &body[s..e]);
        }
        at = e;
    }
    if to < tokens.len() {
        out.push('…');
    } else {
        push_text(&mut out, body[at..].trim_end());
    }
    out
}

/// The tokens `from..to` to show: the window of [`WINDOW`] words holding
/// the most distinct terms (then the most found words, then the earliest),
/// starting a few words before its first found word; the start of the body
/// when nothing is found (a match in the title only).
fn passage(tokens: &[(usize, usize, Option<usize>)], terms: usize) -> (usize, usize) {
    let found: Vec<(usize, usize)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.2.map(|term| (i, term)))
        .collect();
    let mut best: Option<(usize, usize, usize)> = None; // (distinct, count, first index)
    let mut seen = vec![false; terms];
    for (k, &(i, _)) in found.iter().enumerate() {
        seen.iter_mut().for_each(|s| *s = false);
        let mut count = 0;
        for &(_, term) in found[k..]
            .iter()
            .take_while(|(j, _)| *j < i + WINDOW - LEAD)
        {
            seen[term] = true;
            count += 1;
        }
        let distinct = seen.iter().filter(|s| **s).count();
        if best.is_none_or(|(d, c, _)| (distinct, count) > (d, c)) {
            best = Some((distinct, count, i));
        }
    }
    let from = best.map_or(0, |(_, _, i)| i.saturating_sub(LEAD));
    let to = (from + WINDOW).min(tokens.len());
    // A passage cut short by the end of the body starts earlier instead.
    let from = to.saturating_sub(WINDOW).min(from);
    (from, to)
}

/// Appends body text, HTML-escaped, with every run of white space (line
/// breaks included) as one space.
fn push_text(out: &mut String, text: &str) {
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    if space {
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::snippet;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn marks_word_forms_and_escapes_the_rest() {
        let body = "We <b>refunded</b> the order & the refunds were quick.\n\nRefund again.";
        assert_eq!(
            snippet(body, &words(&["refunds"])),
            "We &lt;b&gt;<mark>refunded</mark>&lt;/b&gt; the order &amp; the \
             <mark>refunds</mark> were quick. <mark>Refund</mark> again."
        );
    }

    #[test]
    fn shows_the_passage_with_the_most_search_words() {
        let filler = "lorem ipsum dolor sit amet ".repeat(20);
        let body =
            format!("invoice at the start. {filler} the invoice export fails here. {filler}");
        let s = snippet(&body, &words(&["invoice", "export"]));
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(
            s.contains("<mark>invoice</mark> <mark>export</mark> fails"),
            "{s}"
        );
        assert_eq!(s.matches("<mark>").count(), 2, "{s}");
        // About WINDOW words.
        let shown = s.split_whitespace().count();
        assert!((25..=31).contains(&shown), "{shown}: {s}");
    }

    #[test]
    fn without_a_found_word_shows_the_start() {
        let body = "one two three ".repeat(30);
        let s = snippet(&body, &words(&["title"]));
        assert!(s.starts_with("one two three one"), "{s}");
        assert!(s.ends_with('…') && !s.contains("<mark>"));
        assert_eq!(snippet("", &words(&["x"])), "");
        assert_eq!(
            snippet("Short body.", &words(&["body"])),
            "Short <mark>body</mark>."
        );
    }

    #[test]
    fn a_match_near_the_end_keeps_a_full_window() {
        let body = format!("{} final refund", "word ".repeat(100));
        let s = snippet(&body, &words(&["refund"]));
        assert!(
            s.starts_with('…') && s.ends_with("<mark>refund</mark>"),
            "{s}"
        );
        assert_eq!(s.split_whitespace().count(), 30, "{s}");
    }
}
