//! The resource explorer's search syntax, parsed into terms that the store
//! compiles to parameterised SQL:
//!
//! `type:ec2.instance region:eu-west-1 tag:env=prod state:stopped "free text"`
//!
//! Filters on the same field are alternatives (`region:a region:b`); other
//! terms must all hold. A trailing `*` matches a prefix (`type:ec2.*`). An
//! error names its position (in characters) so the page can point at it.

use std::fmt;

/// What a filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The resource type, `service.kind` (`ec2.instance`).
    Type,
    Region,
    /// The 12-digit AWS account id.
    Account,
    /// `tag:key=value`, or `tag:key` for any value.
    Tag,
    /// The `state` attribute (`running`, `stopped`, `available`...).
    State,
    Name,
    /// Free text: a substring of the name, id or ARN.
    Text,
}

impl Field {
    pub const KEYS: [(&'static str, Field); 6] = [
        ("type", Field::Type),
        ("region", Field::Region),
        ("account", Field::Account),
        ("tag", Field::Tag),
        ("state", Field::State),
        ("name", Field::Name),
    ];

    pub fn key(self) -> &'static str {
        Self::KEYS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("text", |(k, _)| k)
    }
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: Field,
    /// The value; for a tag, its key.
    pub value: String,
    /// For `tag:key=value`, the value (`None`: any value).
    pub tag_value: Option<String>,
    /// Ends in `*`: match values that start with `value`.
    pub prefix: bool,
}

/// A parsed query: its terms in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
}

impl Query {
    /// The terms on one field.
    pub fn on(&self, field: Field) -> impl Iterator<Item = &Term> {
        self.terms.iter().filter(move |t| t.field == field)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SyntaxError {
    /// Character offset of the problem in the query.
    pub position: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position + 1, self.message)
    }
}

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;

fn error(position: usize, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        position,
        message: message.into(),
    }
}

/// Read one word or quoted string starting at `i`; returns it and the index after it.
fn word(chars: &[char], mut i: usize, stop_at_colon: bool) -> Result<(String, usize), SyntaxError> {
    let mut out = String::new();
    if chars.get(i) == Some(&'"') {
        let start = i;
        i += 1;
        loop {
            match chars.get(i) {
                None => return Err(error(start, "unterminated quote: expected a closing \"")),
                Some('"') => return Ok((out, i + 1)),
                Some('\\') if matches!(chars.get(i + 1), Some('"') | Some('\\')) => {
                    out.push(chars[i + 1]);
                    i += 2;
                }
                Some(c) => {
                    out.push(*c);
                    i += 1;
                }
            }
        }
    }
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() || (stop_at_colon && c == ':') {
            break;
        }
        if c == '"' {
            return Err(error(
                i,
                "a quote inside a word: put the whole value in quotes",
            ));
        }
        out.push(c);
        i += 1;
    }
    Ok((out, i))
}

/// Parse a search box query.
pub fn parse(input: &str) -> Result<Query, SyntaxError> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(error(
            MAX_QUERY_CHARS,
            format!(
                "the query is too long: expected at most {MAX_QUERY_CHARS} characters, found {}",
                chars.len()
            ),
        ));
    }
    let mut terms = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let (first, next) = word(&chars, i, true)?;
        if chars.get(next) != Some(&':') || chars[start] == '"' {
            if first.is_empty() {
                return Err(error(start, "an empty quoted string"));
            }
            terms.push(Term {
                field: Field::Text,
                value: first,
                tag_value: None,
                prefix: false,
            });
            i = next;
            continue;
        }
        let key = first.to_lowercase();
        let field = Field::KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                error(
                    start,
                    format!(
                        "unknown filter {first:?}: expected one of type, region, account, tag, state, name (or quote the text)"
                    ),
                )
            })?;
        let value_at = next + 1;
        let (raw, after) = word(&chars, value_at, false)?;
        if raw.is_empty() {
            return Err(error(
                value_at,
                format!("{key}: expected a value after the colon"),
            ));
        }
        let (value, tag_value) = match field {
            Field::Tag => match raw.split_once('=') {
                Some(("", _)) => return Err(error(value_at, "tag: expected a key before '='")),
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (raw, None),
            },
            _ => (raw, None),
        };
        let (value, prefix) = match value.strip_suffix('*') {
            Some(v) if field != Field::Tag => (v.to_owned(), true),
            _ => (value, false),
        };
        if field == Field::Account && !prefix && !is_account_id(&value) {
            return Err(error(
                value_at,
                format!("account: expected a 12-digit AWS account id, found {value:?}"),
            ));
        }
        terms.push(Term {
            field,
            value,
            tag_value,
            prefix,
        });
        i = after;
    }
    Ok(Query { terms })
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Escape `%`, `_` and `\` for a `LIKE` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(field: Field, value: &str) -> Term {
        Term {
            field,
            value: value.into(),
            tag_value: None,
            prefix: false,
        }
    }

    #[test]
    fn the_documented_example_parses_into_its_terms() {
        let q =
            parse(r#"type:ec2.instance region:eu-west-1 tag:env=prod state:stopped "free text""#)
                .unwrap();
        assert_eq!(
            q.terms,
            vec![
                term(Field::Type, "ec2.instance"),
                term(Field::Region, "eu-west-1"),
                Term {
                    tag_value: Some("prod".into()),
                    ..term(Field::Tag, "env")
                },
                term(Field::State, "stopped"),
                term(Field::Text, "free text"),
            ]
        );
    }

    #[test]
    fn prefixes_bare_words_tag_keys_and_quoted_values() {
        let q = parse(r#"type:ec2.* web tag:owner name:"my \"db\"" account:123456789012"#).unwrap();
        assert_eq!(
            q.terms,
            vec![
                Term {
                    prefix: true,
                    ..term(Field::Type, "ec2.")
                },
                term(Field::Text, "web"),
                term(Field::Tag, "owner"),
                term(Field::Name, "my \"db\""),
                term(Field::Account, "123456789012"),
            ]
        );
        assert_eq!(parse("   ").unwrap(), Query::default());
    }

    #[test]
    fn errors_name_their_position_and_what_was_expected() {
        let cases = [
            ("colour:red", 0, "unknown filter \"colour\""),
            ("type:ec2.instance region:", 25, "region: expected a value"),
            ("name:\"open", 5, "unterminated quote"),
            ("account:12", 8, "12-digit AWS account id, found \"12\""),
            ("tag:=prod", 4, "expected a key before '='"),
            ("ab\"c", 2, "a quote inside a word"),
            ("\"\"", 0, "an empty quoted string"),
        ];
        for (input, position, message) in cases {
            let e = parse(input).unwrap_err();
            assert_eq!(e.position, position, "{input}: {e}");
            assert!(e.message.contains(message), "{input}: {e}");
        }
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert!(parse(&long).unwrap_err().message.contains("too long"));
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
