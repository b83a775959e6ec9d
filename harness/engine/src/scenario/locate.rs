//! Turning a (line, column) in a YAML text into the key path a person
//! recognises (`world.pods[0].app.client`), and suggesting the nearest valid
//! key for a typo. Works on block and single-line flow YAML as scenario files
//! write it; it is a reading aid, never used to interpret the file.

/// The key path at `line`/`column` (both 1-based) of `text`.
pub(crate) fn key_path(text: &str, line: usize, column: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(target) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return String::new();
    };
    let mut rev: Vec<String> = keys_at(target, column).into_iter().rev().collect();
    let (ind, rest) = leading(target);
    let mut cur = ind;
    let mut after_item = false;
    if rest.starts_with("- ") {
        rev.push(format!("[{}]", item_index(&lines, line - 1, ind)));
        after_item = true;
    }
    for i in (0..line - 1).rev() {
        let (ind, rest) = leading(lines[i]);
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        let shallower = ind < cur || (after_item && ind == cur && !rest.starts_with("- "));
        if !shallower {
            continue;
        }
        if rest.starts_with("- ") {
            rev.push(format!("[{}]", item_index(&lines, i, ind)));
            after_item = true;
        } else if let Some(k) = leading_key(rest) {
            rev.push(k);
            after_item = false;
        }
        cur = ind;
        if cur == 0 && !after_item {
            break;
        }
    }
    let mut out = String::new();
    for seg in rev.iter().rev() {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}

/// Indentation and the rest of a line.
fn leading(line: &str) -> (usize, &str) {
    let trimmed = line.trim_start_matches(' ');
    (line.len() - trimmed.len(), trimmed.trim_end())
}

/// Position of the list item starting at line `i` among its siblings.
fn item_index(lines: &[&str], i: usize, dash: usize) -> usize {
    let mut n = 0;
    for l in lines[..i].iter().rev() {
        let (ind, rest) = leading(l);
        if rest.is_empty() || rest.starts_with('#') || ind > dash {
            continue;
        }
        if ind < dash || !rest.starts_with("- ") {
            break;
        }
        n += 1;
    }
    n
}

/// The key a line starts with (after an optional `- `).
fn leading_key(rest: &str) -> Option<String> {
    let rest = rest.strip_prefix("- ").unwrap_or(rest);
    let end = rest.find(':')?;
    let key = rest[..end].trim().trim_matches(['"', '\'']);
    (!key.is_empty() && !key.contains(' ') && !key.starts_with('{')).then(|| key.to_string())
}

/// The keys open at `column` of one line: its leading key, then the keys of
/// any flow mappings (`{ a: { b: 1 } }`) the column is inside.
fn keys_at(line: &str, column: usize) -> Vec<String> {
    let bytes = line.as_bytes();
    let limit = column.saturating_sub(1).min(bytes.len());
    let mut by_depth: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() && i <= limit {
        let b = bytes[i];
        if b == b'{' {
            depth += 1;
        } else if b == b'}' {
            depth = depth.saturating_sub(1);
            by_depth.truncate(depth + 1);
        } else if is_key_char(b) && (i == 0 || !is_key_char(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && is_key_char(bytes[i]) {
                i += 1;
            }
            let colon = i < bytes.len() && bytes[i] == b':';
            let spaced = i + 1 >= bytes.len() || bytes[i + 1] == b' ';
            if colon && spaced && start <= limit {
                by_depth.truncate(depth);
                while by_depth.len() < depth {
                    by_depth.push(String::new());
                }
                by_depth.push(line[start..i].to_string());
            }
            continue;
        }
        i += 1;
    }
    by_depth.into_iter().filter(|k| !k.is_empty()).collect()
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// For serde's `unknown field `x`, expected one of a, b` message: the valid
/// key nearest to the typo, if it is close enough to be a typo.
pub(crate) fn suggestion(message: &str) -> Option<String> {
    let start = message.find("unknown field `")? + "unknown field `".len();
    let end = start + message[start..].find('`')?;
    let typo = &message[start..end];
    let list = message[end..].split_once("expected one of ")?.1;
    let candidates = list.split(',').map(|c| c.trim().trim_matches('`'));
    let (best, dist) = candidates
        .map(|c| (c.to_string(), levenshtein(typo, c)))
        .min_by_key(|(_, d)| *d)?;
    (dist <= (typo.len() / 2).max(2)).then_some(best)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            row.push(sub.min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
version: 1
world:
  pods:
    - name: a
      app:
        client: jvm
    - name: b
      app:
        clinet: go
timeline:
- at: 5m
  dns.set: { api.example: { a: [1.2.3.4], tll: 60s } }
";

    #[test]
    fn block_keys_and_list_indices_make_the_path() {
        assert_eq!(key_path(DOC, 6, 9), "world.pods[0].app.client");
        assert_eq!(key_path(DOC, 9, 9), "world.pods[1].app.clinet");
    }

    #[test]
    fn flow_mappings_and_unindented_lists_make_the_path() {
        let col = DOC.lines().nth(11).unwrap().find("tll").unwrap() + 1;
        assert_eq!(
            key_path(DOC, 12, col),
            "timeline[0].dns.set.api.example.tll"
        );
    }

    #[test]
    fn a_typo_gets_the_nearest_valid_key() {
        let msg = "unknown field `clinet`, expected one of client, calls, keep_alive";
        assert_eq!(suggestion(msg).as_deref(), Some("client"));
        let far = "unknown field `zzzzzzzz`, expected one of client, calls";
        assert_eq!(suggestion(far), None);
    }
}
