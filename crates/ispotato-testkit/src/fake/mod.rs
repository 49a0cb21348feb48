//! Fake platforms on 127.0.0.1 that the real bot clients talk to in tests.

pub mod discord;
pub mod telegram;

/// One part of a multipart/form-data body.
pub struct Part {
    pub name: String,
    /// Set for file parts.
    pub filename: Option<String>,
    pub content: Vec<u8>,
}

/// The parts of a multipart/form-data body (the boundary is read from its first line); empty
/// for anything else. Byte-safe, so uploaded files come back whole.
pub fn multipart_parts(body: &[u8]) -> Vec<Part> {
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }
    fn quoted(headers: &str, key: &str) -> Option<String> {
        let start = headers.find(key)? + key.len();
        let end = headers[start..].find('"')?;
        Some(headers[start..start + end].to_string())
    }
    let mut parts = Vec::new();
    let Some(line_end) = find(body, b"\r\n") else {
        return parts;
    };
    let boundary = &body[..line_end];
    if !boundary.starts_with(b"--") {
        return parts;
    }
    let delimiter = [b"\r\n".as_slice(), boundary].concat();
    let mut rest = &body[line_end + 2..];
    while let Some(headers_end) = find(rest, b"\r\n\r\n") {
        let headers = String::from_utf8_lossy(&rest[..headers_end]).into_owned();
        let content = &rest[headers_end + 4..];
        let Some(content_end) = find(content, &delimiter) else {
            break;
        };
        parts.push(Part {
            name: quoted(&headers, "name=\"").unwrap_or_default(),
            filename: quoted(&headers, "filename=\""),
            content: content[..content_end].to_vec(),
        });
        rest = &content[content_end + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
    }
    parts
}

/// A multipart body's text fields as a JSON object; file parts as `{"filename", "bytes"}`.
pub fn multipart_json(parts: &[Part]) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    for part in parts {
        let value = match &part.filename {
            Some(filename) => serde_json::json!({ "filename": filename, "bytes": part.content.len() }),
            None => serde_json::Value::String(String::from_utf8_lossy(&part.content).into_owned()),
        };
        fields.insert(part.name.clone(), value);
    }
    serde_json::Value::Object(fields)
}
