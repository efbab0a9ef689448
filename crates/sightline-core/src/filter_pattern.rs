//! CloudWatch Logs metric filter patterns for JSON log events, parsed and
//! matched against an event: `{ ($.eventName = CreateTrail) || ... }`.
//!
//! The monitoring checks decide whether a filter watches what a control asks
//! by matching it against sample CloudTrail events, not by comparing its
//! text with the benchmark's: a filter written in another order, with other
//! quoting or with a wildcard still counts, and one that would never fire
//! does not. What this module does not understand (term patterns, regular
//! expressions, a syntax error) is an error: such a filter is reported and
//! never counts as watching anything.
//!
//! Grammar (after AWS's "Filter pattern syntax for metric filters"):
//!
//! ```text
//! pattern    = "{" or "}"
//! or         = and { "||" and }
//! and        = unary { "&&" unary }
//! unary      = "(" or ")" | comparison
//! comparison = selector ( op value | "IS" ("TRUE" | "FALSE" | "NULL") | "NOT" "EXISTS" )
//! selector   = "$" { "." name | "[" digits "]" }
//! op         = "=" | "!=" | "<" | "<=" | ">" | ">="
//! value      = quoted string | bare word | number; a leading or trailing `*`
//!              in a string is a wildcard
//! ```

use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("filter pattern at character {at}: expected {expected}, found {found}")]
pub struct PatternError {
    pub at: usize,
    pub expected: &'static str,
    pub found: String,
}

/// A parsed JSON filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    Or(Vec<Pattern>),
    And(Vec<Pattern>),
    Compare {
        path: Vec<Step>,
        op: Op,
        value: Literal,
    },
    /// `IS TRUE`, `IS FALSE`.
    IsBool(Vec<Step>, bool),
    /// `IS NULL`.
    IsNull(Vec<Step>),
    /// `NOT EXISTS` (`false`; AWS has no positive form).
    Exists(Vec<Step>, bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
}

impl Pattern {
    /// Parse a metric filter pattern; only JSON patterns (`{ ... }`) are
    /// understood.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let mut p = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        p.expect('{', "`{` (a JSON filter pattern)")?;
        let pattern = p.or()?;
        p.expect('}', "`}`, `&&` or `||`")?;
        p.skip_space();
        if p.at < p.chars.len() {
            return Err(p.error("the end of the pattern"));
        }
        Ok(pattern)
    }

    /// Whether a log event (as JSON) matches. A comparison on a field the
    /// event does not have is false, `!=` included.
    pub fn matches(&self, event: &Value) -> bool {
        match self {
            Pattern::Or(parts) => parts.iter().any(|p| p.matches(event)),
            Pattern::And(parts) => parts.iter().all(|p| p.matches(event)),
            Pattern::Compare { path, op, value } => {
                lookup(event, path).is_some_and(|found| compare(found, *op, value))
            }
            Pattern::IsBool(path, want) => lookup(event, path) == Some(&Value::Bool(*want)),
            Pattern::IsNull(path) => lookup(event, path) == Some(&Value::Null),
            Pattern::Exists(path, want) => lookup(event, path).is_some() == *want,
        }
    }
}

fn lookup<'a>(event: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(event, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(*i),
    })
}

fn compare(found: &Value, op: Op, value: &Literal) -> bool {
    match (op, value) {
        (Op::Eq, Literal::Text(want)) => as_text(found).is_some_and(|t| glob(want, &t)),
        (Op::Ne, Literal::Text(want)) => as_text(found).is_some_and(|t| !glob(want, &t)),
        (op, Literal::Number(want)) => {
            let Some(n) = found.as_f64().or_else(|| found.as_str()?.parse().ok()) else {
                return false;
            };
            match op {
                Op::Eq => n == *want,
                Op::Ne => n != *want,
                Op::Lt => n < *want,
                Op::Le => n <= *want,
                Op::Gt => n > *want,
                Op::Ge => n >= *want,
            }
        }
        // `<` and friends compare numbers only.
        (_, Literal::Text(_)) => false,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A leading or trailing `*` matches any run of characters; a `*` anywhere
/// else is itself (AWS: "`Ev*ent` will only match the actual string
/// `Ev*ent`"). Read so, a filter can only count for less than it might.
fn glob(pattern: &str, text: &str) -> bool {
    let (prefix, rest) = match pattern.strip_prefix('*') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (suffix, middle) = match rest.strip_suffix('*') {
        Some(middle) if !middle.is_empty() || !prefix => (true, middle),
        _ => (false, rest),
    };
    match (prefix, suffix) {
        (false, false) => text == middle,
        (true, false) => text.ends_with(middle),
        (false, true) => text.starts_with(middle),
        (true, true) => text.contains(middle),
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn error(&self, expected: &'static str) -> PatternError {
        let found = if self.at >= self.chars.len() {
            "the end of the pattern".to_owned()
        } else {
            let rest: String = self.chars[self.at..].iter().take(20).collect();
            format!("`{rest}`")
        };
        PatternError {
            at: self.at,
            expected,
            found,
        }
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let n = token.chars().count();
        if self.chars.len() >= self.at + n
            && self.chars[self.at..self.at + n]
                .iter()
                .copied()
                .eq(token.chars())
        {
            self.at += n;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, expected: &'static str) -> Result<(), PatternError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn or(&mut self) -> Result<Pattern, PatternError> {
        let mut parts = vec![self.and()?];
        while self.eat("||") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Pattern::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Pattern, PatternError> {
        let mut parts = vec![self.unary()?];
        while self.eat("&&") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Pattern::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Pattern, PatternError> {
        if self.peek() == Some('(') {
            self.at += 1;
            let inner = self.or()?;
            self.expect(')', "`)`, `&&` or `||`")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Pattern, PatternError> {
        let path = self.selector()?;
        if self.eat("IS") {
            return if self.eat("TRUE") {
                Ok(Pattern::IsBool(path, true))
            } else if self.eat("FALSE") {
                Ok(Pattern::IsBool(path, false))
            } else if self.eat("NULL") {
                Ok(Pattern::IsNull(path))
            } else {
                Err(self.error("TRUE, FALSE or NULL after IS"))
            };
        }
        if self.eat("NOT") {
            return if self.eat("EXISTS") {
                Ok(Pattern::Exists(path, false))
            } else {
                Err(self.error("EXISTS after NOT"))
            };
        }
        let op = if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("=") {
            Op::Eq
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return Err(self.error("a comparison (=, !=, <, <=, >, >=, IS, NOT EXISTS)"));
        };
        let value = self.value()?;
        Ok(Pattern::Compare { path, op, value })
    }

    fn selector(&mut self) -> Result<Vec<Step>, PatternError> {
        if self.peek() != Some('$') {
            return Err(self.error("a selector starting with `$`"));
        }
        self.at += 1;
        let mut path = Vec::new();
        loop {
            match self.chars.get(self.at) {
                Some('.') => {
                    self.at += 1;
                    let start = self.at;
                    while self
                        .chars
                        .get(self.at)
                        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | ':'))
                    {
                        self.at += 1;
                    }
                    if self.at == start {
                        return Err(self.error("a field name after `.`"));
                    }
                    path.push(Step::Key(self.chars[start..self.at].iter().collect()));
                }
                Some('[') => {
                    self.at += 1;
                    let start = self.at;
                    while self.chars.get(self.at).is_some_and(char::is_ascii_digit) {
                        self.at += 1;
                    }
                    let digits: String = self.chars[start..self.at].iter().collect();
                    let index = digits.parse().map_err(|_| self.error("an array index"))?;
                    if self.chars.get(self.at) != Some(&']') {
                        return Err(self.error("`]`"));
                    }
                    self.at += 1;
                    path.push(Step::Index(index));
                }
                _ => break,
            }
        }
        if path.is_empty() {
            return Err(self.error("a field after `$`"));
        }
        Ok(path)
    }

    fn value(&mut self) -> Result<Literal, PatternError> {
        match self.peek() {
            Some('"') => {
                self.at += 1;
                let mut text = String::new();
                loop {
                    match self.chars.get(self.at) {
                        None => return Err(self.error("a closing `\"`")),
                        Some('"') => {
                            self.at += 1;
                            break;
                        }
                        Some('\\') => {
                            let Some(c) = self.chars.get(self.at + 1) else {
                                return Err(self.error("a character after `\\`"));
                            };
                            text.push(*c);
                            self.at += 2;
                        }
                        Some(c) => {
                            text.push(*c);
                            self.at += 1;
                        }
                    }
                }
                Ok(Literal::Text(text))
            }
            Some('%') => Err(self.error("a string or number (regular expressions are not read)")),
            _ => {
                let start = self.at;
                while self.chars.get(self.at).is_some_and(|c| {
                    !c.is_whitespace() && !matches!(c, '(' | ')' | '{' | '}' | '&' | '|' | '"')
                }) {
                    self.at += 1;
                }
                if self.at == start {
                    return Err(self.error("a value"));
                }
                let word: String = self.chars[start..self.at].iter().collect();
                Ok(match word.parse::<f64>() {
                    Ok(n) if n.is_finite() => Literal::Number(n),
                    _ => Literal::Text(word),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: &str, event: &Value) -> bool {
        Pattern::parse(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .matches(event)
    }

    #[test]
    fn the_benchmarks_patterns_parse_and_match_what_they_name() {
        let denied = json!({"errorCode": "Client.UnauthorizedOperation", "sourceIPAddress": "198.51.100.7", "eventName": "RunInstances"});
        let cis = r#"{ ($.errorCode ="*UnauthorizedOperation") || ($.errorCode ="AccessDenied*") && ($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }"#;
        assert!(matches(cis, &denied));
        assert!(!matches(cis, &json!({"eventName": "RunInstances"})));

        let root = r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#;
        let by_root = json!({"userIdentity": {"type": "Root"}, "eventType": "AwsApiCall"});
        assert!(matches(root, &by_root));
        let for_root = json!({"userIdentity": {"type": "Root", "invokedBy": "s3.amazonaws.com"}, "eventType": "AwsApiCall"});
        assert!(!matches(root, &for_root));

        let trail =
            "{($.eventName=CreateTrail)||($.eventName=UpdateTrail)||($.eventName=DeleteTrail)}";
        assert!(matches(trail, &json!({"eventName": "DeleteTrail"})));
        assert!(!matches(trail, &json!({"eventName": "DescribeTrails"})));
    }

    #[test]
    fn wildcards_numbers_and_booleans() {
        assert!(matches(
            r#"{ $.eventName = "*SecurityGroup*" }"#,
            &json!({"eventName": "AuthorizeSecurityGroupIngress"})
        ));
        assert!(!matches(
            r#"{ $.eventName = "*SecurityGroup*" }"#,
            &json!({"eventName": "CreateVpc"})
        ));
        assert!(matches("{ $.latency > 500 }", &json!({"latency": 900})));
        assert!(!matches("{ $.latency > 500 }", &json!({"latency": 90})));
        assert!(matches(
            "{ $.readOnly IS FALSE }",
            &json!({"readOnly": false})
        ));
        assert!(matches(
            "{ $.list[1].id = b }",
            &json!({"list": [{"id": "a"}, {"id": "b"}]})
        ));
        // Only a leading or trailing `*` is a wildcard.
        let put = |name: &str| json!({ "eventName": name });
        assert!(!matches(
            r#"{ $.eventName = "Put*Policy" }"#,
            &put("PutRolePolicy")
        ));
        assert!(matches(
            r#"{ $.eventName = "Put*Policy" }"#,
            &put("Put*Policy")
        ));
        assert!(matches(
            r#"{ $.eventName = "Put*" }"#,
            &put("PutRolePolicy")
        ));
        assert!(matches(
            r#"{ $.eventName = "*Policy" }"#,
            &put("PutRolePolicy")
        ));
        assert!(matches(r#"{ $.eventName = "*" }"#, &put("x")));
        // `inf` is a word, not a number.
        assert!(matches("{ $.a = inf }", &json!({"a": "inf"})));
        assert!(Pattern::parse("{ $.a EXISTS }").is_err());
        // A field the event lacks: neither `=` nor `!=` holds.
        assert!(!matches(r#"{ $.errorCode != "x" }"#, &json!({})));
    }

    #[test]
    fn what_is_not_a_json_pattern_says_what_was_expected_and_where() {
        assert_eq!(
            Pattern::parse("ERROR").unwrap_err().to_string(),
            "filter pattern at character 0: expected `{` (a JSON filter pattern), found `ERROR`"
        );
        assert_eq!(
            Pattern::parse("{ $.eventName = %Create.*% }")
                .unwrap_err()
                .expected,
            "a string or number (regular expressions are not read)"
        );
        assert_eq!(
            Pattern::parse("{ ($.a = 1 }").unwrap_err().to_string(),
            "filter pattern at character 11: expected `)`, `&&` or `||`, found `}`"
        );
        assert!(Pattern::parse("{ $.a = 1 } trailing").is_err());
    }
}
