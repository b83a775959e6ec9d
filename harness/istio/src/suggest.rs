//! "Did you mean" for unknown keys and kinds: the nearest candidate by edit
//! distance, when it is close enough to be a plausible typo.

/// Levenshtein distance over chars, case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate nearest to `word`, if within a third of its length (at least
/// 2 edits). Ties go to the earlier candidate, so the answer is deterministic.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (word.chars().count() / 3).max(2);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = distance(word, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_key_is_suggested_for_a_typo() {
        let keys = ["attempts", "perTryTimeout", "retryOn"];
        assert_eq!(nearest("retyOn", keys).as_deref(), Some("retryOn"));
        assert_eq!(
            nearest("perTryTimeOut", keys).as_deref(),
            Some("perTryTimeout")
        );
        assert_eq!(nearest("attempt", keys).as_deref(), Some("attempts"));
    }

    #[test]
    fn nothing_is_suggested_for_an_unrelated_word() {
        assert_eq!(nearest("banana", ["attempts", "retryOn"]), None);
    }
}
