//! Values with an encoding of their own on the wire, and their OpenAPI descriptions.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

use crate::session::Claims;

/// A header value from a claim: UTF-8 sent as is (as oauth2-proxy does; poem-openapi's
/// `String` headers would silently drop anything non-ASCII), cut at the first control
/// character, which a header cannot carry.
pub(crate) struct HeaderText(String);

pub(super) fn header_safe(value: String) -> HeaderText {
    match value.find(|c: char| c.is_control()) {
        Some(i) => HeaderText(value[..i].to_owned()),
        None => HeaderText(value),
    }
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
