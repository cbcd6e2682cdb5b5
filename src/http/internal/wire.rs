//! Values with an encoding of their own on the wire, and their OpenAPI descriptions.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

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
}
