//! Values with an encoding of their own on the wire, and their OpenAPI descriptions.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

use super::IntrospectRequest;
use crate::session::Claims;

/// A header value from a claim: UTF-8 sent as is (as oauth2-proxy does; poem-openapi's
/// `String` headers would silently drop anything non-ASCII), without the control
/// characters a header cannot carry.
pub(crate) struct HeaderText(String);

pub(super) fn header_safe(mut value: String) -> HeaderText {
    if value.contains(char::is_control) {
        value.retain(|c| !c.is_control());
    }
    HeaderText(value)
}

/// `X-Auth-Request-Groups`: the names joined with `,`, each with `%` and `,` percent-encoded
/// so that a consumer splitting on `,` never sees part of a name; each name is cleaned of
/// control characters on its own.
pub(super) fn groups_header(groups: &[String]) -> HeaderText {
    let mut value = String::with_capacity(groups.iter().map(|g| g.len() + 1).sum());
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            value.push(',');
        }
        for c in group.chars() {
            match c {
                '%' => value.push_str("%25"),
                ',' => value.push_str("%2C"),
                c if c.is_control() => {}
                c => value.push(c),
            }
        }
    }
    HeaderText(value)
}

impl Type for HeaderText {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl poem_openapi::types::ToHeader for HeaderText {
    fn to_header(&self) -> Option<poem::http::HeaderValue> {
        poem::http::HeaderValue::from_bytes(self.0.as_bytes()).ok()
    }
}

/// Claims go out as the JSON text they are stored as; the document calls them "any".
impl Type for Claims {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        Value::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        Value::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for Claims {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Object(self.to_map()))
    }
}

impl ParseFromJSON for Claims {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Object(map)) => Ok(Claims::new(&map)),
            _ => Err(poem_openapi::types::ParseError::expected_type(Value::Null)),
        }
    }
}

/// Read as poem-openapi reads it from a `serde_json::Value` (tested): other fields ignored,
/// `null` as absent, a number or boolean as its text, a field given twice taken from its
/// last value, an array or object refusing the whole body. Written out because serde's
/// derive refuses a field given twice.
impl<'de> serde::Deserialize<'de> for IntrospectRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Session,
            Token,
            #[serde(other)]
            Other,
        }

        struct Fields;

        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = IntrospectRequest;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<IntrospectRequest, A::Error> {
                let mut request = IntrospectRequest {
                    session: None,
                    token: None,
                };
                while let Some(field) = map.next_key()? {
                    match field {
                        Field::Session => request.session = map.next_value::<Option<Text>>()?.map(|t| t.0),
                        Field::Token => request.token = map.next_value::<Option<Text>>()?.map(|t| t.0),
                        Field::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(request)
            }
        }

        deserializer.deserialize_map(Fields)
    }
}

/// A string field as poem-openapi reads one: a string, or a number or boolean as its JSON text.
struct Text(String);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scalar;

        impl serde::de::Visitor<'_> for Scalar {
            type Value = Text;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }

            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }

            fn visit_string<E>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }

            fn visit_bool<E>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| Text(n.to_string()))
                    .ok_or_else(|| E::custom("not a finite number"))
            }
        }

        deserializer.deserialize_any(Scalar)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToHeader;

    use super::*;

    fn sent(value: HeaderText) -> Vec<u8> {
        value.to_header().expect("a valid header value").as_bytes().to_vec()
    }

    #[test]
    fn control_characters_are_removed_and_the_rest_kept() {
        assert_eq!(sent(header_safe("jürgen".into())), "jürgen".as_bytes());
        assert_eq!(
            sent(header_safe("a\r\nX-Injected: 1\tb\u{7f}c\u{85}".into())),
            b"aX-Injected: 1bc"
        );
        assert_eq!(sent(header_safe(String::new())), b"");
    }

    #[test]
    fn groups_are_percent_encoded_then_joined_and_each_is_cleaned_on_its_own() {
        let groups = ["dev,admins", "100%", "ops\nteam", "\u{1}", "plain", "%2C"].map(String::from);
        assert_eq!(
            sent(groups_header(&groups)),
            b"dev%2Cadmins,100%25,opsteam,,plain,%252C"
        );
        assert_eq!(sent(groups_header(&[])), b"");
        assert_eq!(sent(groups_header(&["Ärzte".into()])), "Ärzte".as_bytes());
    }
    #[test]
    fn an_introspection_body_is_read_as_the_openapi_parser_reads_it() {
        use poem_openapi::types::ParseFromJSON;
        let fields = |r: IntrospectRequest| (r.session, r.token);
        for body in [
            r#"{"session":"abc"}"#,
            r#"{"token":"t","session":"s","other":[1,{"x":null}]}"#,
            r#"{"session":"first","session":"last"}"#,
            r#"{"session":null}"#,
            r#"{"session":"caf\u00e9\n"}"#,
            r#"{"sess\u0069on":"escaped name"}"#,
            r#"{}"#,
            r#"{"session":5}"#,
            r#"{"session":-5,"token":true}"#,
            r#"{"session":1.5e3}"#,
            r#"{"session":18446744073709551615}"#,
            r#"{"session":1e400}"#,
            r#"{"session":[]}"#,
            r#"{"token":{"a":1}}"#,
            r#"["session"]"#,
            r#""session""#,
            r#"{"session":"x"} trailing"#,
            r#"{"session":"x""#,
            "null",
        ] {
            let by_serde = serde_json::from_str::<IntrospectRequest>(body).ok().map(fields);
            let by_openapi = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| IntrospectRequest::parse_from_json(Some(v)).ok())
                .map(fields);
            assert_eq!(by_serde, by_openapi, "{body}");
        }
        assert_eq!(
            serde_json::from_str::<IntrospectRequest>(r#"{"session":"first","session":"last"}"#)
                .map(fields)
                .unwrap(),
            (Some("last".into()), None)
        );
    }
}
