//! The ALB OIDC assertion: one good token is accepted, and a corpus of bad
//! ones is refused, each with the claim at fault named in the log.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sightline_core::roles::Role;
use sightline_web::auth::oidc::{OidcConfig, OidcVerifier};
use support::{config, server, Auth, Call};

const ALB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/sightline/50dc6c495c0c9188";
const KID: &str = "7b9a9c4e-3f2d-4c1b-9e8a-1d2c3b4a5f60";
const FOREIGN_KID: &str = "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f";

fn key() -> SigningKey {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).unwrap();
    SigningKey::from_slice(&bytes).unwrap()
}

/// A key endpoint on loopback: `/{region}/{kid}` → PEM public key.
async fn key_server(keys: HashMap<(String, String), String>) -> String {
    let keys = Arc::new(keys);
    let app = axum::Router::new().route(
        "/{region}/{kid}",
        get(move |Path((region, kid)): Path<(String, String)>| {
            let keys = keys.clone();
            async move {
                keys.get(&(region, kid))
                    .cloned()
                    .ok_or(StatusCode::NOT_FOUND)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/{{region}}")
}

/// JSON, base64url-encoded *with* padding, as the ALB does; filler makes the length need padding.
fn segment(value: &Value) -> String {
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

fn sign(key: &SigningKey, header: &Value, payload: &Value) -> String {
    let input = format!("{}.{}", segment(header), segment(payload));
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE.encode(signature.to_bytes()))
}

fn header(kid: &str, signer: &str, exp: i64) -> Value {
    json!({ "alg": "ES256", "kid": kid, "signer": signer, "iss": "https://idp.example.com", "client": "sightline", "exp": exp, "typ": "JWT" })
}

fn payload(email: &str, exp: i64) -> Value {
    json!({ "sub": "idp-user-1", "email": email, "exp": exp, "iss": "https://idp.example.com" })
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn alb_tokens_are_verified_and_the_corpus_is_refused_naming_the_claim(admin: sqlx::PgPool) {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let signing = key();
    let foreign = key();
    let pem = |k: &SigningKey| k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let endpoint = key_server(HashMap::from([
        (("us-east-1".to_owned(), KID.to_owned()), pem(&signing)),
        // This kid has a key only in another region's endpoint.
        (
            ("eu-west-1".to_owned(), FOREIGN_KID.to_owned()),
            pem(&foreign),
        ),
    ]))
    .await;

    let mut cfg = config();
    let probe = server(admin.clone(), config()).await;
    let ws = probe.workspace("alpha").await;
    cfg.oidc = Some(
        OidcVerifier::new(OidcConfig {
            alb_arn: ALB.into(),
            region: "us-east-1".into(),
            key_endpoint: endpoint,
        })
        .unwrap(),
    );
    cfg.oidc_workspace = Some(ws.id);
    let server = server(admin, cfg).await;
    let email = ws.session(Role::Operator).email.clone();
    let now = chrono::Utc::now().timestamp();
    let later = now + 300;

    let call = |token: &str| {
        Call::new(Method::GET, "/api/v1/me", Auth::None)
            .header("x-amzn-oidc-data", token.to_owned())
    };

    let good = sign(
        &signing,
        &header(KID, ALB, later),
        &payload(&email.to_uppercase(), later),
    );
    assert!(
        good.contains('='),
        "the ALB-style token should carry padding: {good}"
    );
    let reply = server.send(call(&good)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        (reply.json()["role"].as_str(), reply.json()["auth"].as_str()),
        (Some("operator"), Some("oidc"))
    );

    let parts: Vec<&str> = good.split('.').collect();
    let hs256 = {
        let input = format!(
            "{}.{}",
            segment(&json!({ "alg": "HS256", "kid": KID, "signer": ALB, "exp": later })),
            segment(&payload(&email, later))
        );
        let mut mac =
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(pem(&signing).as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let tampered = {
        let forged = segment(&payload("owner@alpha.example.com", later));
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let corpus: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                segment(&json!({ "alg": "none", "kid": KID, "signer": ALB, "exp": later })),
                segment(&payload(&email, later))
            ),
            "alg",
        ),
        ("HS256 with the public key", hs256, "alg"),
        (
            "wrong signer",
            sign(
                &signing,
                &header(KID, &ALB.replace("sightline", "other"), later),
                &payload(&email, later),
            ),
            "signer",
        ),
        (
            "expired",
            sign(
                &signing,
                &header(KID, ALB, now - 1),
                &payload(&email, now - 1),
            ),
            "exp",
        ),
        (
            "kid not a UUID",
            sign(
                &signing,
                &header("../../keys/evil", ALB, later),
                &payload(&email, later),
            ),
            "kid",
        ),
        ("padding stripped", good.replace('=', ""), "signature"),
        (
            "a key for another region",
            sign(
                &foreign,
                &header(FOREIGN_KID, ALB, later),
                &payload(&email, later),
            ),
            "kid",
        ),
        ("tampered payload", tampered, "signature"),
    ];
    for (case, token, claim) in corpus {
        log.0.lock().unwrap().clear();
        let reply = server.send(call(&token)).await;
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{case}: {}",
            reply.text
        );
        let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let refusal = logged
            .lines()
            .find(|l| l.contains("refused ALB OIDC token"))
            .unwrap_or_else(|| panic!("{case}: nothing logged: {logged}"));
        let event: Value = serde_json::from_str(refusal).unwrap();
        assert_eq!(event["fields"]["claim"], claim, "{case}: {refusal}");
        // The token itself is never logged.
        assert!(
            !logged.contains(&token[..token.len().min(40)]),
            "{case}: token in log"
        );
    }

    // A user the IdP knows but Sightline does not: authenticated, not authorised.
    let stranger = sign(
        &signing,
        &header(KID, ALB, later),
        &payload("stranger@example.com", later),
    );
    let reply = server.send(call(&stranger)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    // Local sign-in is off when the ALB authenticates.
    let local = server
        .send(
            Call::new(Method::POST, "/api/v1/session", Auth::None)
                .body(json!({ "email": email, "password": support::PASSWORD })),
        )
        .await;
    assert_eq!(local.status, StatusCode::FORBIDDEN);
}
