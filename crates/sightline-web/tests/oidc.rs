//! The ALB OIDC assertion: one good token is accepted; a corpus of bad ones
//! is refused, each with the claim at fault named in the log and nothing of
//! the configuration told to the caller; users are bound to the IdP's issuer
//! and subject, never taken over by e-mail; the key cache expires keys,
//! remembers misses and fetches over HTTPS only; and ALB users' state
//! changes need this site and their CSRF token.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sightline_core::roles::Role;
use sightline_web::auth::oidc::OidcVerifier;
use sightline_web::auth::tokens;
use support::alb::{self, header, payload, pem, segment, sign, ALB, KID};
use support::{config, server, Auth, Call, Server, Workspace};

const FOREIGN_KID: &str = "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f";
const UNKNOWN_KID: &str = "11111111-2222-4333-8444-555555555555";

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

/// A server behind the "ALB" of `keys`, whose users are workspace alpha's.
async fn alb_server(admin: sqlx::PgPool, verifier: Arc<OidcVerifier>) -> (Server, Workspace) {
    let probe = server(admin.clone(), config()).await;
    let ws = probe.workspace("alpha").await;
    let mut cfg = config();
    cfg.oidc = Some(verifier);
    cfg.oidc_workspace = Some(ws.id);
    (server(admin, cfg).await, ws)
}

fn me(token: &str) -> Call<'static> {
    Call::new(Method::GET, "/api/v1/me", Auth::None).header("x-amzn-oidc-data", token.to_owned())
}

async fn actions(server: &Server, workspace: uuid::Uuid) -> Vec<(String, String)> {
    sqlx::query_as("SELECT action, target FROM audit_log WHERE workspace_id = $1 ORDER BY sequence")
        .bind(workspace)
        .fetch_all(&server.admin)
        .await
        .unwrap()
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

    let signing = alb::key();
    let foreign = alb::key();
    let keys = alb::key_server(HashMap::from([
        (("us-east-1".to_owned(), KID.to_owned()), pem(&signing)),
        // This kid has a key only in another region's endpoint.
        (
            ("eu-west-1".to_owned(), FOREIGN_KID.to_owned()),
            pem(&foreign),
        ),
    ]))
    .await;
    let (server, ws) = alb_server(admin, alb::verifier(&keys)).await;
    let email = ws.session(Role::Operator).email.clone();
    let now = chrono::Utc::now().timestamp();
    let later = now + 300;

    let good = sign(
        &signing,
        &header(KID, ALB, later),
        &payload("idp-operator", &email.to_uppercase(), later),
    );
    assert!(
        good.contains('='),
        "the ALB-style token should carry padding: {good}"
    );
    let reply = server.send(me(&good)).await;
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
            segment(&payload("idp-operator", &email, later))
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
        let forged = segment(&payload("idp-operator", "owner@alpha.example.com", later));
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let with = |field: &str, value: Value| {
        let mut h = header(KID, ALB, later);
        h[field] = value;
        sign(&signing, &h, &payload("idp-operator", &email, later))
    };
    let mut no_sub = payload("idp-operator", &email, later);
    no_sub.as_object_mut().unwrap().remove("sub");
    let mut odd_verified = payload("idp-operator", &email, later);
    odd_verified["email_verified"] = json!(1);
    let corpus: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                segment(&json!({ "alg": "none", "kid": KID, "signer": ALB, "exp": later })),
                segment(&payload("idp-operator", &email, later))
            ),
            "alg",
        ),
        ("HS256 with the public key", hs256, "alg"),
        (
            "wrong signer",
            with("signer", json!(ALB.replace("sightline", "other"))),
            "signer",
        ),
        (
            "expired",
            sign(
                &signing,
                &header(KID, ALB, now - 1),
                &payload("idp-operator", &email, now - 1),
            ),
            "exp",
        ),
        (
            "kid not a UUID",
            with("kid", json!("../../keys/evil")),
            "kid",
        ),
        ("padding stripped", good.replace('=', ""), "signature"),
        (
            "a key for another region",
            sign(
                &foreign,
                &header(FOREIGN_KID, ALB, later),
                &payload("idp-operator", &email, later),
            ),
            "kid",
        ),
        ("tampered payload", tampered, "signature"),
        (
            "another identity provider",
            with("iss", json!("https://evil.example.com")),
            "iss",
        ),
        (
            "another OIDC client",
            with("client", json!("other-app")),
            "client",
        ),
        (
            "no subject",
            sign(&signing, &header(KID, ALB, later), &no_sub),
            "sub",
        ),
        (
            "email_verified neither true nor false",
            sign(&signing, &header(KID, ALB, later), &odd_verified),
            "email_verified",
        ),
    ];
    for (case, token, claim) in corpus {
        log.0.lock().unwrap().clear();
        let reply = server.send(me(&token)).await;
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{case}: {}",
            reply.text
        );
        // The caller learns the claim, never the configuration it was checked against.
        assert!(reply.text.contains(claim), "{case}: {}", reply.text);
        for secret in [
            ALB,
            alb::ISSUER,
            alb::CLIENT,
            keys.endpoint.as_str(),
            "127.0.0.1",
        ] {
            assert!(
                !reply.text.contains(secret),
                "{case}: the refusal tells the caller {secret}: {}",
                reply.text
            );
        }
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
    let stranger = alb::token(&signing, "idp-stranger", "stranger@example.com");
    let reply = server.send(me(&stranger)).await;
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

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn alb_users_are_bound_to_issuer_and_subject_and_never_taken_over(admin: sqlx::PgPool) {
    let signing = alb::key();
    let keys = alb::key_server(HashMap::from([(
        ("us-east-1".to_owned(), KID.to_owned()),
        pem(&signing),
    )]))
    .await;
    let (server, ws) = alb_server(admin, alb::verifier(&keys)).await;
    let email = ws.session(Role::Admin).email.clone();
    let later = chrono::Utc::now().timestamp() + 300;

    // The IdP says the address is not verified: no binding, no access.
    let mut unverified = payload("idp-admin", &email, later);
    unverified["email_verified"] = json!(false);
    let reply = server
        .send(me(&sign(&signing, &header(KID, ALB, later), &unverified)))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.text.contains("not verified"), "{}", reply.text);

    // Verified (as a string, as some IdPs send it): bound to this issuer and subject.
    let mut verified = payload("idp-admin", &email, later);
    verified["email_verified"] = json!("true");
    let owner_token = sign(&signing, &header(KID, ALB, later), &verified);
    let reply = server.send(me(&owner_token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let bound: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT oidc_issuer, oidc_subject FROM users WHERE email = $1")
            .bind(&email)
            .fetch_one(&server.admin)
            .await
            .unwrap();
    assert_eq!(
        bound,
        (Some(alb::ISSUER.to_owned()), Some("idp-admin".to_owned()))
    );

    // The takeover: another subject of the IdP with the same e-mail is refused, and audited.
    let impostor = alb::token(&signing, "idp-someone-else", &email);
    let reply = server.send(me(&impostor)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.text.contains("bound to another identity"),
        "{}",
        reply.text
    );
    let trail = actions(&server, ws.id).await;
    assert!(
        trail.contains(&("auth.oidc_refused".to_owned(), format!("user:{email}"))),
        "{trail:?}"
    );

    // The bound subject stays the user even when the IdP changes the e-mail.
    let renamed = alb::token(&signing, "idp-admin", "renamed@alpha.example.com");
    let reply = server.send(me(&renamed)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["email"], email.as_str());

    // An ALB sign-in is audited once, not on every request.
    for _ in 0..3 {
        assert_eq!(server.send(me(&owner_token)).await.status, StatusCode::OK);
    }
    let trail = actions(&server, ws.id).await;
    let sign_ins: Vec<_> = trail
        .iter()
        .filter(|(a, t)| a == "auth.sign_in" && *t == format!("user:{email}"))
        .collect();
    assert_eq!(sign_ins.len(), 1, "{trail:?}");
    assert!(trail.contains(&("user.oidc_bound".to_owned(), format!("user:{email}"))));
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn alb_keys_expire_misses_are_cached_and_only_https_is_fetched(admin: sqlx::PgPool) {
    let signing = alb::key();
    let keys = alb::key_server(HashMap::from([(
        ("us-east-1".to_owned(), KID.to_owned()),
        pem(&signing),
    )]))
    .await;
    let (server, ws) = alb_server(admin.clone(), alb::verifier(&keys)).await;
    let email = ws.session(Role::Viewer).email.clone();
    let good = alb::token(&signing, "idp-viewer", &email);

    // A key is fetched once and then served from the cache.
    for _ in 0..3 {
        assert_eq!(server.send(me(&good)).await.status, StatusCode::OK);
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1);

    // A kid the endpoint does not know is fetched once, then refused from the cache.
    let later = chrono::Utc::now().timestamp() + 300;
    let unknown = sign(
        &signing,
        &header(UNKNOWN_KID, ALB, later),
        &payload("idp-viewer", &email, later),
    );
    for _ in 0..5 {
        let reply = server.send(me(&unknown)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2);
    // A 403 for an unknown kid is the endpoint's answer too: cached as a miss.
    let forbidden = sign(
        &signing,
        &header("00000000-2222-4333-8444-555555555555", ALB, later),
        &payload("idp-viewer", &email, later),
    );
    for _ in 0..3 {
        let reply = server.send(me(&forbidden)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 3);

    // A flood of unknown kids, more than the cache holds, pushes out only
    // other misses: the real key is still served without a fetch.
    let flooded = alb::verifier(&keys);
    let now = chrono::Utc::now().timestamp();
    flooded.verify(&good, now).await.unwrap();
    for n in 0..sightline_web::auth::oidc::CACHE_ENTRIES + 10 {
        let kid = format!("{n:08x}-aaaa-4bbb-8ccc-dddddddddddd");
        let bad = sign(
            &signing,
            &header(&kid, ALB, later),
            &payload("x", &email, later),
        );
        assert_eq!(flooded.verify(&bad, now).await.unwrap_err().claim, "kid");
    }
    let before = keys.fetches.load(Ordering::SeqCst);
    flooded.verify(&good, now).await.unwrap();
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        before,
        "the real key was evicted"
    );

    // Keys expire: with a lifetime of zero, every use fetches the key again.
    let mut expiring = alb::config(&keys.endpoint);
    expiring.key_ttl = Duration::ZERO;
    let verifier = OidcVerifier::with_roots(expiring, keys.roots.clone()).unwrap();
    let before = keys.fetches.load(Ordering::SeqCst);
    let now = chrono::Utc::now().timestamp();
    for _ in 0..2 {
        verifier.verify(&good, now).await.unwrap();
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), before + 2);

    // The key endpoint is HTTPS only, the region is checked, and so is the ALB's ARN.
    let mut plain = alb::config(&keys.endpoint.replace("https://", "http://"));
    let err = OidcVerifier::with_roots(plain.clone(), keys.roots.clone()).unwrap_err();
    assert!(err.contains("expected an https:// URL"), "{err}");
    plain.key_endpoint = keys.endpoint.clone();
    plain.region = "us-east-1/../../evil".into();
    let err = OidcVerifier::with_roots(plain.clone(), keys.roots.clone()).unwrap_err();
    assert!(err.contains("expected an AWS region name"), "{err}");
    plain.region = "eu-west-1".into();
    let err = OidcVerifier::with_roots(plain, keys.roots.clone()).unwrap_err();
    assert!(err.contains("OIDC ALB ARN"), "{err}");
    // A certificate nobody vouched for is not trusted: the system roots do not know it.
    let untrusted = OidcVerifier::new(alb::config(&keys.endpoint)).unwrap();
    let err = untrusted.verify(&good, now).await.unwrap_err();
    assert_eq!(err.claim, "kid", "{err}");
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn alb_state_changes_need_this_site_and_the_users_csrf_token(admin: sqlx::PgPool) {
    let signing = alb::key();
    let keys = alb::key_server(HashMap::from([(
        ("us-east-1".to_owned(), KID.to_owned()),
        pem(&signing),
    )]))
    .await;
    let (server, ws) = alb_server(admin, alb::verifier(&keys)).await;
    let operator = ws.session(Role::Operator);
    let token = alb::token(&signing, "idp-operator", &operator.email);
    let queue = format!("/api/v1/accounts/{}/scans", ws.account_id);

    // A POST without a body, and without a CSRF token: refused.
    let reply = server
        .send(Call::new(
            Method::POST,
            queue.clone(),
            Auth::Alb {
                token: &token,
                csrf: None,
            },
        ))
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::FORBIDDEN, "csrf_missing"),
        "{}",
        reply.text
    );
    // The ALB user's token comes with any page or from /api/v1/me, bound to the user.
    let reply = server.send(me(&token)).await;
    let csrf = reply.json()["csrf_token"].as_str().unwrap().to_owned();
    let user_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&operator.email)
        .fetch_one(&server.admin)
        .await
        .unwrap();
    assert!(tokens::csrf_valid(
        server.state.csrf_key(),
        &format!("alb:{user_id}"),
        &csrf
    ));
    // Another user's token does not do.
    let other = tokens::csrf_token(
        server.state.csrf_key(),
        "alb:00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    let reply = server
        .send(Call::new(
            Method::POST,
            queue.clone(),
            Auth::Alb {
                token: &token,
                csrf: Some(&other),
            },
        ))
        .await;
    assert_eq!(reply.error(), "csrf_mismatch", "{}", reply.text);
    // From another site: refused, token or not.
    let reply = server
        .send(
            Call::new(
                Method::POST,
                queue.clone(),
                Auth::Alb {
                    token: &token,
                    csrf: Some(&csrf),
                },
            )
            .header("sec-fetch-site", "cross-site"),
        )
        .await;
    assert_eq!(reply.error(), "cross_site", "{}", reply.text);
    let reply = server
        .send(
            Call::new(
                Method::POST,
                queue.clone(),
                Auth::Alb {
                    token: &token,
                    csrf: Some(&csrf),
                },
            )
            .header("origin", "https://evil.example.com"),
        )
        .await;
    assert_eq!(reply.error(), "cross_site", "{}", reply.text);
    // This site, with the token: done.
    let reply = server
        .send(Call::new(
            Method::POST,
            queue,
            Auth::Alb {
                token: &token,
                csrf: Some(&csrf),
            },
        ))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    // A page sets the ALB user's CSRF cookie when the browser has none.
    let reply = server
        .send(Call::new(
            Method::GET,
            "/",
            Auth::Alb {
                token: &token,
                csrf: None,
            },
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let cookie = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-sl_csrf="))
        .unwrap_or_else(|| panic!("no CSRF cookie: {:?}", reply.headers));
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
}
