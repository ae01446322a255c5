//! HTML building blocks: the one escape every interpolated value goes
//! through, and the page frame. Pages are built with `format!` and these
//! helpers, not a template engine: the console is a handful of tables and
//! forms, and one visible escape function is easier to audit than a
//! template language's auto-escaping rules.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// `text` safe in element content and in a double- or single-quoted
/// attribute value.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One URL path segment (a tenant name, a token id), percent-encoded so it
/// cannot change the path; escape the whole URL with [`html_escape`] too.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// A query string from `pairs`, leaving out empty values.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    q.finish()
}

/// A JSON string's text, a number or bool as written, `null` and absence as "".
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `value` pretty-printed and escaped, in a `<pre>`.
pub fn json_block(value: &Value) -> String {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    format!("<pre>{}</pre>", html_escape(&pretty))
}

/// Who is signed in, for the frame: the session's CSRF token (the sign-out
/// form needs it). `None` on the sign-in page.
pub struct Frame<'a> {
    pub csrf: Option<&'a str>,
}

impl Frame<'_> {
    /// A whole page: `title` (escaped here) and `body` (already HTML).
    pub fn page(&self, title: &str, body: &str) -> String {
        let nav = match self.csrf {
            Some(csrf) => format!(
                r#"<nav><a href="/console">Tenants</a><a href="/console/reload">Reload</a></nav>
<form method="post" action="/console/logout">{}<button type="submit">Sign out</button></form>"#,
                csrf_field(csrf)
            ),
            None => String::from("<nav></nav>"),
        };
        format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · scimgate console</title>
<link rel="stylesheet" href="/console/static/console.css?v={v}">
<script src="/console/static/console.js?v={v}" defer></script>
</head>
<body>
<header><span class="brand">scimgate</span>{nav}</header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
            title = html_escape(title),
            v = super::asset_version(),
        )
    }
}

/// The hidden field every state-changing form carries.
pub fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, html_escape(csrf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_escape_covers_markup_and_both_quotes() {
        assert_eq!(
            html_escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(html_escape("plain"), "plain");
    }

    #[test]
    fn console_segments_and_queries_are_encoded() {
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(query(&[("resource_id", "x y&z"), ("outcome", "")]), "resource_id=x+y%26z");
    }
}
