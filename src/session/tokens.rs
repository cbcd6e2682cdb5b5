//! The tokens a session holds, and how they are stored: packed, then sealed.
//!
//! A compact JWS or JWE is kept as its decoded segments: base64url costs a third more, and
//! deflate finds what the ID and access tokens' claims have in common only in the decoded
//! JSON. The JSON segments (headers, claims) and opaque tokens are deflated together; the
//! other segments (signatures, keys, IVs, ciphertext) follow as they are, since random bytes
//! do not compress and, mixed in, make the text compress worse. A session read on the hot
//! path carries the packed bytes untouched; only [`StoredTokens::open`] unpacks them.
//!
//! ```text
//! packed = deflated length (LEB128) | deflated body | tail (the raw segments, in order)
//! body   = per token: absent | raw: length, bytes | compact: segment count, then per
//!          segment length << 1 | 1 if it is in the tail, then its bytes if it is not
//! ```

use bytes::Bytes;

use super::SessionKey;
use crate::crypto::{DecryptError, KeyRing};
use crate::domain::Tokens;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use miniz_oxide::deflate::compress_to_vec;
use miniz_oxide::inflate::decompress_to_vec_with_limit;

/// Inflating the body stops here, so that a damaged or hostile value cannot balloon. Far
/// above any token set a provider issues: tokens that large would not fit a header or URL.
pub const MAX_TOKENS_BYTES: usize = 256 * 1024;
/// Sessions are written at login and refresh only, so the smallest output is worth the CPU.
const DEFLATE_LEVEL: u8 = 9;

const ABSENT: u8 = 0;
const RAW: u8 = 1;
const COMPACT: u8 = 2;

/// Tokens as stored: packed, and sealed with the key ring when one is configured.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredTokens {
    /// Packed, in clear (no `OIDC_SESSION_ENCRYPTION_KEY`).
    Plain(Bytes),
    /// Packed, then sealed (nonce, ciphertext, tag), bound to the session key.
    Sealed(Bytes),
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (mode, bytes) = match self {
            Self::Plain(b) => ("Plain", b),
            Self::Sealed(b) => ("Sealed", b),
        };
        write!(f, "StoredTokens::{mode}({} bytes)", bytes.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    #[error("the stored tokens are damaged")]
    Damaged,
}

/// The most a whole stored session (tokens, claims, identity) may take: every request
/// reads it, and the provider decides how large tokens and userinfo claims are.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// A session too large to be stored or read back: refused when written, rather than lost
/// when read.
#[derive(Debug, thiserror::Error)]
#[error("the session (the provider's tokens and claims) would take {0} bytes, more than the {MAX_RECORD_BYTES} a session can hold")]
pub struct TooLarge(pub usize);

impl StoredTokens {
    /// Packs the tokens, and seals them when a key ring is configured; refused when they
    /// would be too large to read back.
    pub fn seal(tokens: &Tokens, keys: Option<&KeyRing>, key: &SessionKey) -> Result<Self, TooLarge> {
        let packed = pack(tokens)?;
        Ok(match keys {
            None => Self::Plain(packed.into()),
            Some(ring) => Self::Sealed(ring.seal(&packed, key.0.as_bytes()).into()),
        })
    }

    pub fn open(&self, keys: Option<&KeyRing>, key: &SessionKey) -> Result<Tokens, OpenError> {
        let opened;
        let packed = match (self, keys) {
            (Self::Plain(bytes), _) => &bytes[..],
            (Self::Sealed(sealed), Some(ring)) => {
                opened = ring.open(sealed, key.0.as_bytes())?;
                opened.as_slice()
            }
            (Self::Sealed(_), None) => return Err(DecryptError.into()),
        };
        unpack(packed).ok_or(OpenError::Damaged)
    }

    pub fn is_sealed(&self) -> bool {
        matches!(self, Self::Sealed(_))
    }

    /// The stored bytes: packed tokens, sealed or not.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Plain(bytes) | Self::Sealed(bytes) => bytes,
        }
    }
}

/// Lays the tokens out as the module comment says.
fn pack(tokens: &Tokens) -> Result<Vec<u8>, TooLarge> {
    let (mut body, mut tail) = (Vec::with_capacity(4096), Vec::with_capacity(1024));
    for token in [
        Some(tokens.id_token.as_str()),
        Some(tokens.access_token.as_str()),
        tokens.refresh_token.as_deref(),
    ] {
        let Some(token) = token else {
            body.push(ABSENT);
            continue;
        };
        let Some(segments) = compact_segments(token) else {
            body.push(RAW);
            put_length(&mut body, token.len());
            body.extend_from_slice(token.as_bytes());
            continue;
        };
        body.extend([COMPACT, segments.len() as u8]);
        for segment in segments {
            let json = segment.first() == Some(&b'{');
            put_length(&mut body, segment.len() << 1 | usize::from(!json));
            if json { &mut body } else { &mut tail }.extend_from_slice(&segment);
        }
    }
    if body.len() > MAX_TOKENS_BYTES {
        return Err(TooLarge(body.len()));
    }
    let deflated = compress_to_vec(&body, DEFLATE_LEVEL);
    let mut packed = Vec::with_capacity(deflated.len() + tail.len() + 4);
    put_length(&mut packed, deflated.len());
    packed.extend_from_slice(&deflated);
    packed.extend_from_slice(&tail);
    Ok(packed)
}

/// The decoded segments of a compact JWS (3) or JWE (5), only when encoding them again
/// gives back the very same token.
fn compact_segments(token: &str) -> Option<Vec<Vec<u8>>> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 && parts.len() != 5 {
        return None;
    }
    parts
        .into_iter()
        .map(|part| {
            let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
            (URL_SAFE_NO_PAD.encode(&bytes) == part).then_some(bytes)
        })
        .collect()
}

pub(crate) fn unpack(packed: &[u8]) -> Option<Tokens> {
    let mut reader = Reader(packed);
    let deflated = reader.bytes()?;
    let body = decompress_to_vec_with_limit(deflated, MAX_TOKENS_BYTES).ok()?;
    let (mut body, mut tail) = (Reader(&body), reader);
    let mut token = || -> Option<Option<String>> {
        match body.byte()? {
            ABSENT => Some(None),
            RAW => String::from_utf8(body.bytes()?.to_vec()).ok().map(Some),
            COMPACT => {
                let count = body.byte()?;
                if count != 3 && count != 5 {
                    return None;
                }
                let mut segments = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    let length = body.length()?;
                    let from = if length & 1 == 1 { &mut tail } else { &mut body };
                    segments.push(URL_SAFE_NO_PAD.encode(from.take(length >> 1)?));
                }
                Some(Some(segments.join(".")))
            }
            _ => None,
        }
    };
    let (id_token, access_token, refresh_token) = (token()??, token()??, token()?);
    (body.0.is_empty() && tail.0.is_empty()).then_some(Tokens {
        id_token,
        access_token,
        refresh_token,
    })
}

/// LEB128: token lengths mostly fit in two bytes.
fn put_length(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn length(&mut self) -> Option<usize> {
        let mut n = 0usize;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    /// A length, then that many bytes.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.length()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng};

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    fn jws(header: &str, claims: &str, signature_bytes: usize) -> String {
        let mut signature = vec![0u8; signature_bytes];
        rand::thread_rng().fill_bytes(&mut signature);
        [header.as_bytes(), claims.as_bytes(), &signature]
            .map(|s| URL_SAFE_NO_PAD.encode(s))
            .join(".")
    }

    fn keycloak_like() -> Tokens {
        let claims = r#"{"exp":1764000000,"iat":1763999700,"auth_time":1763999690,"jti":"0b8f3c1e-2a4d-4e5f-9a1b-3c4d5e6f7a8b","iss":"https://sso.example.com/realms/main","aud":"portal","sub":"8a1f2b3c-4d5e-6f70-8192-a3b4c5d6e7f8","typ":"ID","azp":"portal","sid":"5d6e7f80-9a1b-2c3d-4e5f-60718293a4b5","email_verified":true,"name":"Alice Example","preferred_username":"alice","given_name":"Alice","family_name":"Example","email":"alice@example.com"}"#;
        let header = r#"{"alg":"RS256","typ":"JWT","kid":"q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c"}"#;
        Tokens {
            id_token: jws(header, claims, 256),
            access_token: jws(header, &claims.replace("\"ID\"", "\"Bearer\""), 256),
            refresh_token: Some(jws(r#"{"alg":"HS512","typ":"JWT","kid":"r1"}"#, claims, 64)),
        }
    }

    fn session() -> SessionKey {
        SessionKey("session-a".into())
    }

    #[test]
    fn jwts_and_opaque_tokens_come_back_exactly_sealed_or_not() {
        let ring = KeyRing::parse(K1).unwrap();
        let jwe = format!(
            "{}..{}.{}.{}",
            URL_SAFE_NO_PAD.encode(b"{\"alg\":\"dir\"}"),
            "AAAA",
            "BBBB",
            "CCCC"
        );
        let cases = [
            keycloak_like(),
            Tokens {
                id_token: jwe,
                access_token: "opaque-access-token".into(),
                refresh_token: None,
            },
            Tokens {
                // Not canonical base64url (non-zero trailing bits), four parts, padding, empty.
                id_token: "eyJhIjoxfR.eyJhIjoxfR.QR".into(),
                access_token: "a.b.c.d".into(),
                refresh_token: Some("eyJhIjoxfQ==.e30.e30".into()),
            },
            Tokens {
                id_token: String::new(),
                access_token: "ünïcödé..".into(),
                refresh_token: Some(String::new()),
            },
        ];
        for tokens in cases {
            for keys in [None, Some(&ring)] {
                let stored = StoredTokens::seal(&tokens, keys, &session()).unwrap();
                assert_eq!(stored.is_sealed(), keys.is_some());
                assert_eq!(stored.open(keys, &session()).unwrap(), tokens);
            }
        }
    }

    #[test]
    fn jwts_are_stored_decoded_and_deflated_in_well_under_their_text_size() {
        let tokens = keycloak_like();
        let text = tokens.id_token.len() + tokens.access_token.len() + tokens.refresh_token.as_ref().unwrap().len();
        let stored = StoredTokens::seal(&tokens, None, &session()).unwrap();
        assert!(
            stored.as_bytes().len() * 10 < text * 6,
            "{} of {text} B",
            stored.as_bytes().len()
        );
    }

    #[test]
    fn sealed_tokens_open_only_with_a_key_of_the_ring_and_for_their_own_session() {
        let stored = StoredTokens::seal(&keycloak_like(), Some(&KeyRing::parse(K1).unwrap()), &session()).unwrap();
        let rotated = KeyRing::parse(&format!("{K2},{K1}")).unwrap();
        assert!(stored.open(Some(&rotated), &session()).is_ok());
        assert!(stored.open(None, &session()).is_err());
        assert!(stored.open(Some(&KeyRing::parse(K2).unwrap()), &session()).is_err());
        assert!(stored.open(Some(&rotated), &SessionKey("session-b".into())).is_err());
    }

    #[test]
    fn damaged_or_truncated_tokens_give_an_error_never_a_panic() {
        let ring = KeyRing::parse(K1).unwrap();
        let plain = StoredTokens::seal(&keycloak_like(), None, &session())
            .unwrap()
            .as_bytes()
            .to_vec();
        let sealed = StoredTokens::seal(&keycloak_like(), Some(&ring), &session())
            .unwrap()
            .as_bytes()
            .to_vec();
        for end in 0..plain.len() {
            assert!(StoredTokens::Plain(Bytes::copy_from_slice(&plain[..end]))
                .open(None, &session())
                .is_err());
        }
        for end in 0..sealed.len() {
            let cut = StoredTokens::Sealed(Bytes::copy_from_slice(&sealed[..end]));
            assert!(cut.open(Some(&ring), &session()).is_err());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let mut bytes = plain.clone();
            let i = rng.gen_range(0..bytes.len());
            bytes[i] ^= 1 << rng.gen_range(0..8);
            let _ = StoredTokens::Plain(bytes.into()).open(None, &session()); // Ok or Err; no panic
            let noise: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
            let _ = StoredTokens::Plain(noise.clone().into()).open(None, &session());
            let _ = unpack(&noise);
        }
        // Bodies and tails that do not fit together, each in a valid deflate stream.
        let jws = [COMPACT, 3, 2, b'{', 2, b'{', 3];
        for (body, tail) in [
            (&[][..], &[][..]),
            (&[RAW, 5, b'a'], &[]),
            (&[COMPACT, 4], &[]),
            (&[ABSENT, ABSENT, ABSENT], &[]),
            (&[9], &[]),
            (&[RAW, 0xff], &[]),
            (&[jws, jws].concat(), &[7, 8][..]),
            (&[&jws[..], &jws, &[ABSENT]].concat(), &[7][..]),
            (&[&jws[..], &jws, &[ABSENT]].concat(), &[7, 8, 9][..]),
        ] {
            let stored = StoredTokens::Plain(packed(body, tail).into());
            assert!(stored.open(None, &session()).is_err(), "{body:?} {tail:?}");
        }
        let fits = [&jws[..], &jws, &[ABSENT]].concat();
        assert!(StoredTokens::Plain(packed(&fits, &[7, 8]).into())
            .open(None, &session())
            .is_ok());
    }

    /// What `pack` would write for this body and tail.
    fn packed(body: &[u8], tail: &[u8]) -> Vec<u8> {
        let deflated = compress_to_vec(body, DEFLATE_LEVEL);
        let mut out = Vec::new();
        put_length(&mut out, deflated.len());
        [out, deflated, tail.to_vec()].concat()
    }

    #[test]
    fn inflating_stops_at_the_bound() {
        let bomb = packed(&vec![0u8; MAX_TOKENS_BYTES + 1], &[]);
        assert!(bomb.len() < 1024);
        assert!(matches!(
            StoredTokens::Plain(bomb.into()).open(None, &session()),
            Err(OpenError::Damaged)
        ));
    }
}
