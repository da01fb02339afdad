//! Label matchers in Alertmanager's syntax (`name="value"`, `!=`, `=~`, `!~`), as `amtool` and
//! the API's `filter` parameter take them. hale sends each one to Alertmanager and applies it
//! again to every alert that comes back, so a peer that ignores the filter (an old or a lying
//! Alertmanager) cannot hand this host another host's alerts.
//!
//! Regexes are anchored at both ends, as in Alertmanager and Prometheus: `host=~"web1.*"`
//! matches `web1` and `web10`, and `host=~"web1"` matches only `web1`.

use std::collections::BTreeMap;

use regex::Regex;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
        }
    }
}

/// One matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    /// The anchored regex, for `=~` and `!~`.
    regex: Option<Regex>,
}

impl Matcher {
    /// An equality matcher.
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.to_string(),
            op: Op::Equal,
            value: value.to_string(),
            regex: None,
        }
    }

    /// Parses `name op "value"` (the value may be unquoted when it has no spaces or quotes;
    /// a quoted value takes the escapes `\"`, `\\` and `\n`).
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let s = s.trim();
        let bad = |why: &str| format!("matcher {s:?}: {why} (write name=\"value\", !=, =~ or !~)");
        let at = s.find(['=', '!']).ok_or_else(|| bad("no operator"))?;
        let (name, rest) = s.split_at(at);
        let name = name.trim();
        let valid_name = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() || !valid_name {
            return Err(bad("the label name must match [a-zA-Z_][a-zA-Z0-9_]*"));
        }
        let (op, value) = [
            ("=~", Op::Regex),
            ("!~", Op::NotRegex),
            ("!=", Op::NotEqual),
            ("=", Op::Equal),
        ]
        .into_iter()
        .find_map(|(text, op)| rest.strip_prefix(text).map(|v| (op, v.trim())))
        .ok_or_else(|| bad("unknown operator"))?;
        let value = unquote(value).map_err(|why| bad(&why))?;
        let regex = match op {
            Op::Regex | Op::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| bad(&format!("bad regex: {e}")))?,
            ),
            Op::Equal | Op::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value,
            regex,
        })
    }

    /// Whether the label set matches; a missing label is the empty string, as in Alertmanager.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (Op::Equal, _) => v == self.value,
            (Op::NotEqual, _) => v != self.value,
            (Op::Regex, Some(re)) => re.is_match(v),
            (Op::NotRegex, Some(re)) => !re.is_match(v),
            (Op::Regex | Op::NotRegex, None) => false,
        }
    }
}

impl std::fmt::Display for Matcher {
    /// The matcher as Alertmanager's `filter` parameter takes it: the value always quoted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), quote(&self.value))
    }
}

fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unquote(v: &str) -> Result<String, String> {
    let Some(inner) = v.strip_prefix('"') else {
        if v.contains(['"', ' ', ',', '{', '}']) {
            return Err("quote a value with spaces, quotes, commas or braces".into());
        }
        return Ok(v.to_string());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or("the quoted value has no closing quote")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                _ => return Err("unknown escape (use \\\", \\\\ or \\n)".into()),
            },
            '"' => return Err("an unescaped quote inside the value".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_alertmanagers_four_operators_and_prints_them_back() {
        for (text, shown) in [
            ("hale_host=\"web-1\"", "hale_host=\"web-1\""),
            ("hale_host = web-1", "hale_host=\"web-1\""),
            ("severity!=\"info\"", "severity!=\"info\""),
            ("team=~\"ops|sre\"", "team=~\"ops|sre\""),
            ("env!~dev.*", "env!~\"dev.*\""),
            ("a=\"say \\\"hi\\\"\"", "a=\"say \\\"hi\\\"\""),
        ] {
            assert_eq!(Matcher::parse(text).unwrap().to_string(), shown, "{text}");
        }
        for bad in [
            "",
            "host",
            "1x=\"a\"",
            "a=\"open",
            "a=~\"(\"",
            "a=b c",
            "a=\"x\\q\"",
        ] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regexes_are_anchored_so_a_prefix_needs_its_wildcard() {
        let exact = Matcher::parse("hale_host=~\"host1\"").unwrap();
        let prefix = Matcher::parse("hale_host=~\"host1.*\"").unwrap();
        assert!(exact.matches(&labels(&[("hale_host", "host1")])));
        assert!(!exact.matches(&labels(&[("hale_host", "host10")])));
        assert!(prefix.matches(&labels(&[("hale_host", "host10")])));
        assert!(!prefix.matches(&labels(&[("hale_host", "xhost1")])));
        let absent = Matcher::parse("team!=\"ops\"").unwrap();
        assert!(absent.matches(&labels(&[])), "a missing label is empty");
        assert!(!Matcher::equal("hale_host", "h").matches(&labels(&[])));
    }
}
