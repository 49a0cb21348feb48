//! Checks real responses against the served OpenAPI document: the status must be documented
//! for the route and the body must match its schema (types, required properties, enums,
//! bounds, `$ref`s; enough of JSON Schema for this document).

use serde_json::Value;

pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    pub fn new(doc: Value) -> Self {
        assert_eq!(
            doc["openapi"].as_str().map(|v| &v[..2]),
            Some("3."),
            "an OpenAPI 3 document"
        );
        Self { doc }
    }

    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let path = r.strip_prefix("#/").expect("a local $ref");
            v = path.split('/').fold(&self.doc, |node, key| &node[key]);
            assert!(!v.is_null(), "dangling $ref {r}");
        }
        v
    }

    /// Fails unless `status` is documented for `method path` and `body` fits its schema.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let op = &self.doc["paths"][path][method];
        assert!(!op.is_null(), "{method} {path} is not documented");
        let response = op["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{method} {path} answered {status}, which is not documented: {body}"));
        let response = self.resolve(response);
        let schema = &response["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "{method} {path} {status} has no JSON schema");
        let mut errors = Vec::new();
        self.validate(schema, body, "$", &mut errors);
        assert!(errors.is_empty(), "{method} {path} {status}: {errors:?}\nbody: {body}");
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let fits = allowed.contains(&actual) || (actual == "integer" && allowed.contains(&"number"));
            if !fits {
                errors.push(format!("{at}: {actual} where {allowed:?} was documented"));
                return;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                errors.push(format!("{at}: {value} is not one of {options:?}"));
            }
        }
        if let (Some(min), Some(v)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64()) {
            if v < min {
                errors.push(format!("{at}: {v} < {min}"));
            }
        }
        if let (Some(max), Some(v)) = (schema.get("maximum").and_then(Value::as_f64), value.as_f64()) {
            if v > max {
                errors.push(format!("{at}: {v} > {max}"));
            }
        }
        if let Value::Object(map) = value {
            for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                if !map.contains_key(key) {
                    errors.push(format!("{at}: required property {key} is missing"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, v) in map {
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => self.validate(s, v, &format!("{at}.{key}"), errors),
                    None if properties.is_some() => errors.push(format!("{at}: property {key} is not documented")),
                    None => {}
                }
            }
        }
        if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
            for (i, v) in items.iter().enumerate() {
                self.validate(s, v, &format!("{at}[{i}]"), errors);
            }
        }
    }
}
