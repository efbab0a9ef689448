//! Command lines for a human to review and run: every remediation, rollback
//! and change-plan line is built here, and every value in it (a resource
//! name, an id, a policy document: anyone's text) goes through [`quote`],
//! the one function that quotes for a POSIX shell. Placeholders the human
//! must fill in are static text by type, never data.

use std::borrow::Cow;

/// One shell word: as it is when it holds only characters no shell treats
/// specially, else in single quotes (a `'` inside becomes `'\''`). An empty
/// value is `''`, still one word.
pub fn quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// Text for a `#` comment: kept on one line (a newline would end the
/// comment and start a command), with other control characters dropped.
pub fn comment(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => ' ',
            c => c,
        })
        .filter(|c| !c.is_control())
        .collect()
}

/// A whole line that is only a comment: a note for the human, never run.
pub fn note_line(text: &str) -> String {
    format!("# {}", comment(text))
}

/// An `aws` command line, built word by word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    line: String,
}

impl Command {
    /// `aws <service> <operation>` (both static: the CLI's own words).
    pub fn aws(service: &'static str, operation: &'static str) -> Self {
        Self {
            line: format!("aws {service} {operation}"),
        }
    }

    /// `--region <region>`.
    pub fn region(self, region: &str) -> Self {
        self.arg("--region", region)
    }

    /// `<flag> <value>`, the value quoted.
    pub fn arg(mut self, flag: &'static str, value: &str) -> Self {
        self.line.push(' ');
        self.line.push_str(flag);
        self.line.push(' ');
        self.line.push_str(&quote(value));
        self
    }

    /// `<flag> <v1> <v2> …`, each value quoted.
    pub fn args<'a>(
        mut self,
        flag: &'static str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        self.line.push(' ');
        self.line.push_str(flag);
        for v in values {
            self.line.push(' ');
            self.line.push_str(&quote(v));
        }
        self
    }

    /// A flag with no value, such as `--multi-az`.
    pub fn flag(mut self, flag: &'static str) -> Self {
        self.line.push(' ');
        self.line.push_str(flag);
        self
    }

    /// `<flag> '<what>'`: a value the human fills in, left as a placeholder
    /// that AWS refuses if it is run as it is. Quoted, so that the shell
    /// passes it on as one word instead of reading `<` and `>` as redirections.
    pub fn placeholder(self, flag: &'static str, what: &'static str) -> Self {
        self.placeholders(flag, &[what])
    }

    /// `<flag> '<what1>' '<what2>' …`: several values the human fills in.
    pub fn placeholders(mut self, flag: &'static str, whats: &[&'static str]) -> Self {
        self.line.push(' ');
        self.line.push_str(flag);
        for what in whats {
            self.line.push(' ');
            self.line.push_str(&quote(&format!("<{what}>")));
        }
        self
    }

    /// `<flag> <value>` when the value is known, else the placeholder.
    pub fn arg_or(self, flag: &'static str, value: Option<&str>, what: &'static str) -> Self {
        match value {
            Some(v) => self.arg(flag, v),
            None => self.placeholder(flag, what),
        }
    }

    /// `> <file>`: the command's output saved to a file named from data.
    pub fn save_to(mut self, file: &str) -> Self {
        self.line.push_str(" > ");
        self.line.push_str(&quote(file));
        self
    }

    /// `<this> && <next>`: the next command runs only if this one succeeded.
    pub fn and_then(mut self, next: Command) -> Self {
        self.line.push_str(" && ");
        self.line.push_str(&next.line);
        self
    }

    /// A trailing `# note`, kept to one line.
    pub fn note(mut self, text: &str) -> Self {
        self.line.push_str("  # ");
        self.line.push_str(&comment(text));
        self
    }

    pub fn build(self) -> String {
        self.line
    }
}

impl From<Command> for String {
    fn from(c: Command) -> String {
        c.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_and_everything_else_is_one_quoted_word() {
        assert_eq!(quote("vol-0abc"), "vol-0abc");
        assert_eq!(
            quote("arn:aws:iam::123456789012:role/x"),
            "arn:aws:iam::123456789012:role/x"
        );
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(quote("x\ny"), "'x\ny'");
        assert_eq!(quote("{\"a\":1}"), "'{\"a\":1}'");
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment("a\nrm -rf /\r\u{2028}b\u{7}"), "a rm -rf /  b");
    }

    #[test]
    fn commands_quote_every_value_and_leave_placeholders_as_placeholders() {
        let line = Command::aws("iam", "update-access-key")
            .arg("--user-name", "o'brien $(touch x)")
            .placeholder("--access-key-id", "key-id")
            .flag("--dry-run")
            .note("line one\nline two")
            .build();
        assert_eq!(
            line,
            r"aws iam update-access-key --user-name 'o'\''brien $(touch x)' --access-key-id '<key-id>' --dry-run  # line one line two"
        );
    }
}
