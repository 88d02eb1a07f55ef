//! Filling `sms.body`: `{to}` and `{message}` escaped for the content type.

use mfa_core::delivery::BodyEncoding;

/// Replaces `{to}` and `{message}` in one pass (so a message that itself contains `{to}` is
/// not filled again), each value escaped for `encoding`.
pub(crate) fn render(template: &str, encoding: BodyEncoding, to: &str, message: &str) -> String {
    let mut out = String::with_capacity(template.len() + message.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("{to}") {
            escape_into(&mut out, encoding, to);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{message}") {
            escape_into(&mut out, encoding, message);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn escape_into(out: &mut String, encoding: BodyEncoding, value: &str) {
    match encoding {
        BodyEncoding::Json => {
            // A JSON string's content: serde_json quotes it; the template has the quotes.
            let quoted = serde_json::Value::from(value).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
        BodyEncoding::Form => out.extend(form_urlencoded::byte_serialize(value.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_escaped_as_string_content() {
        let body = render(
            r#"{"to":"{to}","text":"{message}"}"#,
            BodyEncoding::Json,
            "+4912345689",
            "say \"hi\"\\ {to}\n\u{1}",
        );
        assert_eq!(
            body,
            r#"{"to":"+4912345689","text":"say \"hi\"\\ {to}\n\u0001"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["text"], "say \"hi\"\\ {to}\n\u{1}");
    }

    #[test]
    fn form_values_are_percent_encoded() {
        let body = render(
            "to={to}&text={message}&x={other}",
            BodyEncoding::Form,
            "+4912345689",
            "a b&c=d\"é",
        );
        assert_eq!(body, "to=%2B4912345689&text=a+b%26c%3Dd%22%C3%A9&x={other}");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs[1], ("text".into(), "a b&c=d\"é".into()));
    }
}
