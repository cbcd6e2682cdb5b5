//! The hot path: `/introspect` and `/forward-auth` served by calling their operations
//! directly, in front of the OpenAPI router. One implementation and one document; the
//! request skips the router's layers and the introspection is serialized by serde in one
//! pass instead of through an intermediate `serde_json::Value` (docs/PERFORMANCE.md).

use poem::http::header::CONTENT_TYPE;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::payload::Json;

use super::{InternalApi, IntrospectResponse, Introspection};
use crate::http::lenient::LenientJson;

/// The internal listener's routes, with the two hot ones matched first by plain
/// comparison: poem's router would look the path up in its tree and store the matched
/// pattern in the request and the response (two maps allocated per request). Every other
/// request, and these paths with another method or below `/forward-auth/`, goes to
/// `routes`, which holds the same endpoints: the answers are the same either way.
pub(crate) struct HotFirst<I, F, R> {
    pub(crate) introspect: I,
    pub(crate) forward_auth: F,
    pub(crate) routes: R,
}

impl<I, F, R> Endpoint for HotFirst<I, F, R>
where
    I: Endpoint<Output = Response>,
    F: Endpoint<Output = Response>,
    R: Endpoint,
{
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.uri().path() == super::forward_auth::PATH {
            self.forward_auth.call(req).await
        } else if req.method() == Method::POST && req.uri().path() == "/introspect" {
            self.introspect.call(req).await
        } else {
            self.routes.call(req).await.map(IntoResponse::into_response)
        }
    }
}

pub(crate) struct Introspect(pub(crate) InternalApi);

impl Endpoint for Introspect {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let body = LenientJson::read(req.take_body()).await;
        Ok(match self.0.introspect(&req, body).await {
            Ok(IntrospectResponse::Ok(Json(introspection))) => match to_json(&introspection) {
                Ok(json) => Response::builder()
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(json),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            },
            Err(e) => e.into_response(),
        })
    }
}

/// Serialized into a buffer that most answers fit, rather than one grown (and copied) as
/// the fields are written.
fn to_json(introspection: &Introspection) -> serde_json::Result<Vec<u8>> {
    let mut json = Vec::with_capacity(1024);
    serde_json::to_writer(&mut json, introspection)?;
    Ok(json)
}

pub(crate) struct ForwardAuth(pub(crate) InternalApi);

impl Endpoint for ForwardAuth {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        Ok(match self.0.forward_auth(&req).await {
            Ok(ok) => ok.into_response(),
            Err(e) => e.into_response(),
        })
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::super::Introspection;
    use crate::session::Claims;

    #[test]
    fn serde_and_the_openapi_document_serialize_an_introspection_alike() {
        let full = Introspection {
            active: true,
            kind: Some("session".into()),
            sub: Some("u1".into()),
            sid: Some("s1".into()),
            username: Some("jane".into()),
            email: Some("jane@example.com".into()),
            email_verified: Some(true),
            name: Some("Jane".into()),
            groups: Some(vec!["a".into(), "b".into()]),
            claims: Some(Claims::new(
                serde_json::json!({"sub": "u1", "nested": {"x": [1, 2]}})
                    .as_object()
                    .unwrap(),
            )),
            auth_time: Some(3),
            acr: Some("mfa".into()),
            amr: Some(vec!["otp".into()]),
            session_expires_at: Some(1),
            access_token_expires_at: Some(2),
            access_token: Some("at".into()),
        };
        for value in [full, Introspection::default()] {
            assert_eq!(serde_json::to_value(&value).unwrap(), value.to_json().unwrap());
        }
        assert_eq!(
            serde_json::to_value(Introspection::default()).unwrap(),
            serde_json::json!({"active": false})
        );
    }
}
