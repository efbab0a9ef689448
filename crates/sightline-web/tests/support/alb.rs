//! The ALB's side of OIDC for tests: a key endpoint on loopback over HTTPS
//! (a self-signed certificate the verifier is told to trust), counting its
//! fetches, and tokens signed the way the ALB signs them (ES256, base64url
//! with padding).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sightline_web::auth::oidc::{OidcConfig, OidcVerifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ALB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/sightline/50dc6c495c0c9188";
pub const KID: &str = "7b9a9c4e-3f2d-4c1b-9e8a-1d2c3b4a5f60";
pub const ISSUER: &str = "https://idp.example.com";
pub const CLIENT: &str = "sightline";

pub fn key() -> SigningKey {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).unwrap();
    SigningKey::from_slice(&bytes).unwrap()
}

pub fn pem(k: &SigningKey) -> String {
    k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
}

/// A key endpoint on loopback: `GET /{region}/{kid}` → PEM public key, over TLS.
pub struct KeyServer {
    /// `https://127.0.0.1:<port>/{region}`, as the verifier's configuration takes it.
    pub endpoint: String,
    pub roots: rustls::RootCertStore,
    /// Requests answered, hits and misses alike.
    pub fetches: Arc<AtomicUsize>,
}

pub async fn key_server(keys: HashMap<(String, String), String>) -> KeyServer {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fetches = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(keys);
    let counter = fetches.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, keys, counter) = (acceptor.clone(), keys.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("");
                let mut parts = path.trim_start_matches('/').splitn(2, '/');
                let (region, kid) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let reply = match keys.get(&(region.to_owned(), kid.to_owned())) {
                    Some(pem) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{pem}",
                        pem.len()
                    ),
                    // Like the real endpoint, some unknown kids get a 403 (S3's AccessDenied).
                    None if kid.starts_with("00000000-") => {
                        "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned()
                    }
                    None => {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned()
                    }
                };
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    KeyServer {
        endpoint: format!("https://127.0.0.1:{}/{{region}}", addr.port()),
        roots,
        fetches,
    }
}

pub fn config(endpoint: &str) -> OidcConfig {
    OidcConfig {
        alb_arn: ALB.into(),
        region: "us-east-1".into(),
        key_endpoint: endpoint.into(),
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        key_ttl: sightline_web::auth::oidc::KEY_TTL,
        miss_ttl: sightline_web::auth::oidc::MISS_TTL,
    }
}

/// A verifier for `server`'s endpoint that trusts its certificate.
pub fn verifier(server: &KeyServer) -> Arc<OidcVerifier> {
    OidcVerifier::with_roots(config(&server.endpoint), server.roots.clone()).unwrap()
}

/// JSON, base64url-encoded *with* padding, as the ALB does; filler makes the length need padding.
pub fn segment(value: &Value) -> String {
    let mut v = value.clone();
    let mut filler = String::new();
    loop {
        v["x"] = json!(filler);
        let text = v.to_string();
        if !text.len().is_multiple_of(3) {
            return URL_SAFE.encode(text);
        }
        filler.push('f');
    }
}

pub fn sign(key: &SigningKey, header: &Value, payload: &Value) -> String {
    let input = format!("{}.{}", segment(header), segment(payload));
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE.encode(signature.to_bytes()))
}

pub fn header(kid: &str, signer: &str, exp: i64) -> Value {
    json!({ "alg": "ES256", "kid": kid, "signer": signer, "iss": ISSUER, "client": CLIENT, "exp": exp, "typ": "JWT" })
}

pub fn payload(sub: &str, email: &str, exp: i64) -> Value {
    json!({ "sub": sub, "email": email, "exp": exp, "iss": ISSUER })
}

/// A good token for `sub`/`email`, valid for five minutes.
pub fn token(key: &SigningKey, sub: &str, email: &str) -> String {
    let later = chrono::Utc::now().timestamp() + 300;
    sign(key, &header(KID, ALB, later), &payload(sub, email, later))
}
