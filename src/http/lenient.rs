//! A JSON request body that is optional and never fails to parse: introspection must
//! answer `{"active": false}` for garbage, not a 400 or 415.
//!
//! Read by serde straight into the type; poem-openapi describes it in the document (its
//! own parser would first build a `serde_json::Value`, a map allocated per request).

use poem::{Body, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::DeserializeOwned;

/// The largest body read; anything larger is treated as garbage.
const MAX_BODY: usize = 16 * 1024;

pub(crate) struct LenientJson<T>(pub Option<T>);

impl<'a, T: DeserializeOwned + Type + Send> ApiExtractor<'a> for LenientJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("Optional; without it the forwarded Cookie header is used."),
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(match body.take() {
            Ok(body) => Self::read(body).await,
            Err(_) => Self(None),
        })
    }
}

impl<T: DeserializeOwned> LenientJson<T> {
    pub(crate) async fn read(body: Body) -> Self {
        let Ok(bytes) = super::body::read_body(body, MAX_BODY).await else {
            return Self(None);
        };
        if bytes.is_empty() {
            return Self(None);
        }
        Self(serde_json::from_slice(&bytes).ok())
    }
}
