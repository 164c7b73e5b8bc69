//! The PACT v3 REST host of a live node: OAuth client credentials, ListFootprints with filters
//! and paging, GetFootprint, Events, and every bad input answered with a clear error.

use std::net::SocketAddr;
use std::time::Duration;

use node::dashboard::client::{self, HttpResponse};
use node::home::Home;
use node::pact::ValidationContext;
use node::store::RequestState;
use node::store::SignatureStatus;
use serde_json::{Value, json};
use tests::{TestNode, company, footprint, policy_template, uuid};

pub(crate) const EVENTS_CT: &str = "application/cloudevents+json";

/// A node with the PACT API on port 0 (token lifetime `ttl` seconds), and its address.
async fn start(slug: &str, ttl: u64) -> (TestNode, SocketAddr) {
    start_pact(slug, move |pact| pact.token_ttl_secs = ttl).await
}

/// A node with the PACT API on port 0, `[pact]` set by `configure`, and its address.
pub(crate) async fn start_pact(
    slug: &str,
    configure: impl FnOnce(&mut node::config::RawPact),
) -> (TestNode, SocketAddr) {
    let tn = TestNode::start_with(slug, |raw| {
        raw.pact.listen = Some("127.0.0.1:0".into());
        configure(&mut raw.pact);
    })
    .await;
    let addr = tn.pact_addr.expect("pact api bound");
    (tn, addr)
}

pub(crate) struct Api {
    addr: SocketAddr,
    fingerprint: String,
}

impl Api {
    pub(crate) fn of(tn: &TestNode, addr: SocketAddr) -> Api {
        Api {
            addr,
            fingerprint: tn.node.identity().fingerprint.clone(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        client::request(self.addr, &self.fingerprint, method, path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    async fn token_raw(&self, id: &str, secret: &str, body: &str) -> HttpResponse {
        let basic = format!("Basic {}", b64(format!("{id}:{secret}").as_bytes()));
        self.send(
            "POST",
            "/auth/token",
            &[
                ("authorization", &basic),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
        .await
    }

    pub(crate) async fn token(&self, id: &str, secret: &str) -> String {
        let r = self
            .token_raw(id, secret, "grant_type=client_credentials")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json().expect("token json");
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["expires_in"].as_u64().is_some());
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> HttpResponse {
        let auth = format!("Bearer {token}");
        self.send("GET", path, &[("authorization", &auth)], b"")
            .await
    }

    pub(crate) async fn event(&self, token: &str, content_type: &str, body: &[u8]) -> HttpResponse {
        self.event_at("/3/events", token, content_type, body).await
    }

    /// An event posted to `path` (`/3/events` with a query).
    pub(crate) async fn event_at(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: &[u8],
    ) -> HttpResponse {
        let auth = format!("Bearer {token}");
        self.send(
            "POST",
            path,
            &[("authorization", &auth), ("content-type", content_type)],
            body,
        )
        .await
    }
}

/// Trust in exactly the certificate with this fingerprint.
fn pinned(fingerprint: &str) -> node::pact_api::trust::ServerTrust {
    node::pact_api::trust::ServerTrust::pinned(fingerprint).expect("fingerprint")
}

/// A PACT error body: exactly `code` (of the OpenAPI enum) and a non-empty `message`.
fn assert_error(r: &HttpResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r
        .json()
        .unwrap_or_else(|| panic!("error body is json: {}", r.text()));
    let obj = v.as_object().expect("error body is an object");
    assert_eq!(obj.len(), 2, "only code and message: {v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(
        [
            "BadRequest",
            "AccessDenied",
            "TokenExpired",
            "NotFound",
            "InternalError",
            "NotImplemented"
        ]
        .contains(&code)
    );
}

/// An OAuth error body.
fn assert_oauth_error(r: &HttpResponse, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json().expect("oauth error json");
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"].is_string(), "{v}");
}

/// A served full footprint: valid against the OpenAPI schema and the rules, and carrying a
/// verifying owner signature.
fn assert_footprint(v: &Value) {
    let findings = node::pact::validate(v, &ValidationContext::default());
    assert!(findings.is_empty(), "{findings:?}");
    node::signed::verify_document(v).expect("owner signature verifies");
}

/// A supplier with `n` footprints, shared in full with its `customer` group; a client for a
/// customer and one for a stranger.
async fn supplier(
    n: usize,
    ttl: u64,
) -> (
    TestNode,
    Api,
    Vec<String>,
    (String, String),
    (String, String),
) {
    let (tn, addr) = start("steel", ttl).await;
    let mut ids = Vec::new();
    let mut docs = Vec::new();
    for i in 0..n {
        let id = uuid();
        docs.push(footprint("steel", &id, &format!("urn:tanso:steel:product:p{i}")).to_string());
        ids.push(id);
    }
    tn.node.publish(&docs.join("\n")).expect("publish");
    tn.node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let home = Home::new(&tn.home);
    let buyer = node::pact_api::add_client(&home, &company("oem"), vec!["customer".into()])
        .expect("client");
    let stranger =
        node::pact_api::add_client(&home, &company("stranger"), Vec::new()).expect("client");
    let api = Api::of(&tn, addr);
    ids.sort();
    (tn, api, ids, buyer, stranger)
}

/// A `/3/footprints` page holds at most `[limits] max_message_bytes` of footprint JSON:
/// footprints too large to go together come in more pages (by the `Link` header), all of
/// them; before, one page carried them all whatever their size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_are_sized_by_the_message_limit() {
    let tn = TestNode::start_with("steel", |raw| {
        raw.pact.listen = Some("127.0.0.1:0".into());
        raw.limits.max_message_bytes = 64 * 1024;
    })
    .await;
    let home = Home::new(&tn.home);
    let api = Api::of(&tn, tn.pact_addr.expect("pact api address"));
    let mut ids = Vec::new();
    let mut docs = Vec::new();
    for i in 0..30 {
        let id = uuid();
        let mut fp = footprint("steel", &id, &format!("urn:tanso:steel:product:p{i}"));
        fp["comment"] = Value::String("m".repeat(6000));
        docs.push(fp.to_string());
        ids.push(id);
    }
    ids.sort();
    tn.node.publish(&docs.join("\n")).expect("publish");
    tn.node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let buyer = node::pact_api::add_client(&home, &company("oem"), vec!["customer".into()])
        .expect("client");
    let token = api.token(&buyer.0, &buyer.1).await;
    let mut seen = Vec::new();
    let mut path = "/3/footprints?limit=100".to_string();
    let mut pages = 0;
    loop {
        let r = api.get(&path, &token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.body.len() <= 64 * 1024 + 16,
            "a page of {} bytes",
            r.body.len()
        );
        let v = r.json().expect("json");
        for fp in v["data"].as_array().expect("data") {
            seen.push(fp["id"].as_str().expect("id").to_string());
        }
        pages += 1;
        let Some(link) = r.header("link") else { break };
        let url = link
            .strip_prefix('<')
            .and_then(|l| l.split_once(">; rel=\"next\""))
            .map(|(u, _)| u.to_string())
            .expect("next link");
        path = url
            .strip_prefix(&format!("https://{}", api.addr))
            .expect("same host")
            .to_string();
    }
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(seen, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_list_page_and_get() {
    let (tn, api, ids, buyer, stranger) = supplier(5, 3600).await;

    // Discovery names the token endpoint as an absolute URL on the request's host.
    let r = api
        .send("GET", "/.well-known/openid-configuration", &[], b"")
        .await;
    assert_eq!(r.status, 200);
    let conf = r.json().expect("json");
    assert_eq!(
        conf["token_endpoint"],
        format!("https://{}/auth/token", api.addr)
    );

    let token = api.token(&buyer.0, &buyer.1).await;

    // Paging: limit 2 gives 2 + 2 + 1, following the Link header.
    let mut seen = Vec::new();
    let mut path = "/3/footprints?limit=2".to_string();
    let mut pages = 0;
    loop {
        let r = api.get(&path, &token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json().expect("json");
        let data = v["data"].as_array().expect("data is an array");
        assert!(data.len() <= 2);
        for fp in data {
            assert_footprint(fp);
            seen.push(fp["id"].as_str().expect("id").to_string());
        }
        pages += 1;
        match r.header("link") {
            Some(link) => {
                let url = link
                    .strip_prefix('<')
                    .and_then(|l| l.split_once(">; rel=\"next\""))
                    .map(|(u, _)| u)
                    .unwrap_or_else(|| panic!("link {link}"));
                let base = format!("https://{}", api.addr);
                path = url
                    .strip_prefix(&base)
                    .expect("absolute, same host")
                    .to_string();
                assert!(path.contains("limit=2"), "{path}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // Filters: productId (case-insensitive), unknown values give an empty list.
    let r = api
        .get("/3/footprints?productId=URN:TANSO:STEEL:PRODUCT:P3", &token)
        .await;
    let v = r.json().expect("json");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["data"][0]["productIds"][0], "urn:tanso:steel:product:p3");
    let r = api
        .get(
            "/3/footprints?productId=urn:tanso:steel:product:p1&productId=urn:tanso:steel:product:p2&geography=KR&status=Active",
            &token,
        )
        .await;
    assert_eq!(
        r.json().expect("json")["data"].as_array().map(Vec::len),
        Some(2)
    );
    let r = api.get("/3/footprints?geography=DE", &token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().expect("json"), json!({"data": []}));
    let r = api
        .get("/3/footprints?validOn=2026-06-01T00:00:00Z", &token)
        .await;
    assert_eq!(
        r.json().expect("json")["data"].as_array().map(Vec::len),
        Some(5)
    );

    // GetFootprint.
    let r = api.get(&format!("/3/footprints/{}", ids[0]), &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().expect("json");
    assert!(v["data"].is_object());
    assert_footprint(&v["data"]);
    assert_eq!(v["data"]["id"], ids[0].as_str());

    // Not found and not permitted read the same.
    let missing = api.get(&format!("/3/footprints/{}", uuid()), &token).await;
    assert_error(&missing, 404, "NotFound");
    let other = api.token(&stranger.0, &stranger.1).await;
    let hidden = api.get(&format!("/3/footprints/{}", ids[0]), &other).await;
    assert_error(&hidden, 404, "NotFound");
    assert_eq!(missing.body, hidden.body);
    let r = api.get("/3/footprints", &other).await;
    assert_eq!(r.json().expect("json"), json!({"data": []}));

    // The audit log names the PACT client's company like any partner.
    let mut out = Vec::new();
    tn.node.audit_export(&mut out).expect("export");
    let text = String::from_utf8(out).expect("utf8");
    assert!(text.contains("GET /3/footprints"), "{text}");
    assert!(text.contains(&company("oem")));
    assert!(text.contains(&company("stranger")));
    tn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors_and_store_nothing() {
    let (tn, api, ids, buyer, _) = supplier(1, 3600).await;
    let token = api.token(&buyer.0, &buyer.1).await;

    for q in [
        "colour=red",
        "validOn=yesterday",
        "validAfter=2026-13-01T00:00:00Z",
        "validOn=2026-01-01T00:00:00Z&validOn=2026-02-01T00:00:00Z",
        "validOn=",
        "limit=-1",
        "limit=ten",
        "limit=1&limit=2",
        "x-tanso-cursor=not-a-cursor",
    ] {
        let r = api.get(&format!("/3/footprints?{q}"), &token).await;
        assert_error(&r, 400, "BadRequest");
    }
    let r = api.get("/3/footprints?colour=red", &token).await;
    assert!(r.text().contains("colour"), "{}", r.text());
    for bad in ["not-a-uuid", "1234", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"] {
        let r = api.get(&format!("/3/footprints/{bad}"), &token).await;
        assert_error(&r, 400, "BadRequest");
    }

    // A status PACT does not define is a filter nothing matches (conformance case 37), alone
    // or with other filters: 200 and an empty list, not 400.
    for q in [
        "status=BogusStatus",
        "status=Retired&geography=KR&productId=urn:tanso:steel:product:p0",
    ] {
        let r = api.get(&format!("/3/footprints?{q}"), &token).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        assert_eq!(r.json().expect("json"), json!({ "data": [] }), "{q}");
    }
    // An empty list criterion is no constraint (conformance case 23): every footprint.
    let all = api.get("/3/footprints", &token).await;
    let all = all.json().expect("json")["data"]
        .as_array()
        .expect("data")
        .len();
    assert!(all > 0);
    let r = api.get("/3/footprints?classification=", &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().expect("json")["data"]
            .as_array()
            .expect("data")
            .len(),
        all
    );
    // A `+01:00` offset sent without percent-encoding (its `+` decodes to a space) is read.
    let r = api
        .get("/3/footprints?validOn=2025-06-01T01:00:00+01:00", &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // limit=0 is allowed (the schema's minimum): an empty page whose Link starts real paging.
    let r = api.get("/3/footprints?limit=0", &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().expect("json"), json!({ "data": [] }));
    let link = r
        .header("link")
        .expect("limit=0 answers a Link to the first page");
    assert!(
        link.contains("/3/footprints?") && !link.contains("limit=0"),
        "{link}"
    );
    // An unknown path under /3/ (or anywhere) is 404 NotFound, not 400.
    for path in [
        "/3/footprint",
        "/3/footprints/a/b",
        "/3/nothing-here",
        "/4/footprints",
    ] {
        let r = api.get(path, &token).await;
        assert_error(&r, 404, "NotFound");
    }

    // Tokens: missing, garbage, wrong scheme: 401 with a WWW-Authenticate challenge and, as
    // the PACT text says for any token problem but expiry, code BadRequest (conformance cases
    // 6, 7, 16); a presented but unusable token says error="invalid_token" (RFC 6750 s. 3).
    // An expired one is TokenExpired (below).
    let r = api.send("GET", "/3/footprints", &[], b"").await;
    assert_error(&r, 401, "BadRequest");
    let challenge = r.header("www-authenticate").expect("challenge");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let r = api.get("/3/footprints", "garbage").await;
    assert_error(&r, 401, "BadRequest");
    let challenge = r.header("www-authenticate").expect("challenge");
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let r = api
        .send(
            "GET",
            &format!("/3/footprints/{}", ids[0]),
            &[("authorization", &format!("Basic {token}"))],
            b"",
        )
        .await;
    assert_error(&r, 401, "BadRequest");
    let ev = published_event(&[&uuid()]);
    let r = api
        .event("garbage", EVENTS_CT, ev.to_string().as_bytes())
        .await;
    assert_error(&r, 401, "BadRequest");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.contains("invalid_token"))
    );

    // Client credentials.
    let r = api
        .token_raw(&buyer.0, "wrong", "grant_type=client_credentials")
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
    let r = api
        .token_raw("tanso-nobody", &buyer.1, "grant_type=client_credentials")
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
    let r = api
        .token_raw(&buyer.0, &buyer.1, "grant_type=password")
        .await;
    assert_oauth_error(&r, 400, "unsupported_grant_type");
    let r = api
        .send(
            "POST",
            "/auth/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"grant_type=client_credentials",
        )
        .await;
    assert_oauth_error(&r, 401, "invalid_client");

    // Events.
    let good = published_event(&[&uuid()]).to_string();
    let r = api.event(&token, "application/json", good.as_bytes()).await;
    assert_error(&r, 400, "BadRequest");
    let r = api.event(&token, EVENTS_CT, b"{\"specversion\": ").await;
    assert_error(&r, 400, "BadRequest");
    let r = api.event(&token, EVENTS_CT, b"[1,2]").await;
    assert_error(&r, 400, "BadRequest");
    for attr in ["specversion", "id", "source", "type", "time", "data"] {
        let mut ev = request_event(&["urn:tanso:steel:product:p0"]);
        ev.as_object_mut().expect("object").remove(attr);
        let r = api
            .event(&token, EVENTS_CT, ev.to_string().as_bytes())
            .await;
        assert_error(&r, 400, "BadRequest");
        assert!(r.text().contains(attr), "{}", r.text());
    }
    let mut ev = request_event(&["urn:tanso:steel:product:p0"]);
    ev["type"] = json!("org.wbcsd.pact.ProductFootprint.Unheard.3");
    let r = api
        .event(&token, EVENTS_CT, ev.to_string().as_bytes())
        .await;
    assert_error(&r, 400, "BadRequest");
    let mut ev = request_event(&["urn:tanso:steel:product:p0"]);
    ev["specversion"] = json!("0.3");
    let r = api
        .event(&token, EVENTS_CT, ev.to_string().as_bytes())
        .await;
    assert_error(&r, 400, "BadRequest");
    let r = api
        .event(
            &token,
            EVENTS_CT,
            request_event(&["not a urn"]).to_string().as_bytes(),
        )
        .await;
    assert_error(&r, 400, "BadRequest");
    let r = api
        .event(
            &token,
            EVENTS_CT,
            published_event(&["not-a-uuid"]).to_string().as_bytes(),
        )
        .await;
    assert_error(&r, 400, "BadRequest");
    assert!(r.text().contains("pfIds[0]"), "{}", r.text());
    let r = api
        .event(
            &token,
            EVENTS_CT,
            published_event(&[]).to_string().as_bytes(),
        )
        .await;
    assert_error(&r, 400, "BadRequest");
    let mut big = request_event(&["urn:tanso:steel:product:p0"]);
    big["data"]["comment"] = json!("x".repeat(300 * 1024));
    let r = api
        .event(&token, EVENTS_CT, big.to_string().as_bytes())
        .await;
    assert_error(&r, 413, "BadRequest");

    // Nothing was stored.
    assert!(
        tn.node
            .store()
            .incoming_requests()
            .expect("requests")
            .is_empty()
    );
    assert!(tn.node.inbox().expect("inbox").is_empty());
    tn.stop().await;
}

/// A clients file written by an earlier version (argon2 hashes, no key file) keeps working:
/// the first token request of a client checks argon2 and replaces that record's hash with
/// a keyed one, under a key file made with mode 0600; the other record is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_argon2_clients_keep_working_and_are_migrated() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use std::os::unix::fs::PermissionsExt;

    let (tn, addr) = start("steel", 3600).await;
    let id = uuid();
    tn.node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:p0").to_string())
        .expect("publish");
    tn.node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let argon2 = |secret: &str| {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("random");
        argon2::Argon2::default()
            .hash_password(
                secret.as_bytes(),
                &SaltString::encode_b64(&salt).expect("salt"),
            )
            .expect("argon2")
            .to_string()
    };
    let (secret_a, secret_b) = (uuid(), uuid());
    let (hash_a, hash_b) = (argon2(&secret_a), argon2(&secret_b));
    let legacy = json!({"clients": [
        {"client_id": "tanso-legacy-a", "hash": hash_a, "company_id": company("oem"),
         "groups": ["customer"], "created_at": "2026-01-01T00:00:00Z"},
        {"client_id": "tanso-legacy-b", "hash": hash_b, "company_id": company("oem"),
         "groups": ["customer"], "created_at": "2026-01-01T00:00:00Z"},
    ]});
    let file = tn.home.join(node::pact_api::clients::CLIENTS_FILE);
    std::fs::write(&file, serde_json::to_vec_pretty(&legacy).expect("json")).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let key = tn.home.join(node::pact_api::clients::KEY_FILE);
    assert!(!key.exists());

    let api = Api::of(&tn, addr);
    let wrong = api
        .token_raw("tanso-legacy-a", "wrong", "grant_type=client_credentials")
        .await;
    assert_oauth_error(&wrong, 401, "invalid_client");
    let token = api.token("tanso-legacy-a", &secret_a).await;
    let r = api.get(&format!("/3/footprints/{id}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let stored: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    let hash = stored["clients"][0]["hash"].as_str().expect("hash");
    assert!(hash.starts_with("hmac-sha256:"), "{hash}");
    assert_eq!(stored["clients"][0]["groups"], json!(["customer"]));
    assert_eq!(stored["clients"][1]["hash"], hash_b.as_str());
    assert_eq!(
        std::fs::metadata(&key)
            .expect("key file")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );

    // Keyed from now on; the other legacy client still gets in (and is migrated too).
    api.token("tanso-legacy-a", &secret_a).await;
    let r = api
        .token_raw("tanso-legacy-a", &secret_b, "grant_type=client_credentials")
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
    api.token("tanso-legacy-b", &secret_b).await;
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert_eq!(stored["clients"][0]["hash"], hash);
    assert!(
        stored["clients"][1]["hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("hmac-sha256:")),
        "{stored}"
    );
    tn.stop().await;
}

/// After `token_failure_limit` failed token requests from one address, its token requests
/// get 429 with Retry-After (the right secret too), and the cool-down is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_token_requests_are_throttled_per_source() {
    const LIMIT: u32 = 3;
    let (tn, addr) = start_pact("steel", |pact| pact.token_failure_limit = LIMIT).await;
    let home = Home::new(&tn.home);
    let (id, secret) = node::pact_api::add_client(&home, &company("oem"), vec!["customer".into()])
        .expect("client");
    let api = Api::of(&tn, addr);
    let wrong = |n: u32| format!("wrong-{n}");

    for n in 1..LIMIT {
        let r = api
            .token_raw(&id, &wrong(n), "grant_type=client_credentials")
            .await;
        assert_oauth_error(&r, 401, "invalid_client");
    }
    // Below the limit the right secret still works.
    let token = api.token(&id, &secret).await;
    let r = api
        .token_raw("tanso-nobody", &secret, "grant_type=client_credentials")
        .await;
    assert_oauth_error(&r, 401, "invalid_client");

    // Past the limit: 429, wrong or right, with a PACT error body and Retry-After.
    for (who, secret) in [
        (id.as_str(), wrong(LIMIT + 1)),
        (id.as_str(), secret.clone()),
    ] {
        let r = api
            .token_raw(who, &secret, "grant_type=client_credentials")
            .await;
        assert_error(&r, 429, "AccessDenied");
        let retry: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("retry-after in {:?}", r.headers));
        assert!((1..=300).contains(&retry), "{retry}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }

    // The token issued before still works: only the token endpoint is closed.
    assert_eq!(api.get("/3/footprints", &token).await.status, 200);

    // One audit entry for the cool-down, naming the source; no secret anywhere.
    let entries = audit(&tn);
    let refusals: Vec<&Value> = entries
        .iter()
        .filter(|e| e["method"] == "POST /auth/token")
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["decision"], "deny");
    assert_eq!(refusals[0]["caller"], "unverified:tanso-nobody");
    assert_eq!(refusals[0]["targets"], json!(["source:127.0.0.1"]));
    let reason = refusals[0]["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with(&format!("{LIMIT} failed token requests")),
        "{reason}"
    );
    let text = serde_json::to_string(&entries).expect("json");
    assert!(!text.contains(&secret));
    tn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_accepted_and_requests_stored_once() {
    let (tn, api, ids, buyer, _) = supplier(1, 3600).await;
    let token = api.token(&buyer.0, &buyer.1).await;
    let r = api
        .event(
            &token,
            EVENTS_CT,
            published_event(&[&ids[0]]).to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty());

    let ev = request_event(&["urn:tanso:steel:product:p0"]).to_string();
    for _ in 0..2 {
        let r = api.event(&token, EVENTS_CT, ev.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body.is_empty());
    }
    let requests = tn.node.store().incoming_requests().expect("requests");
    assert_eq!(requests.len(), 1, "a repeated event is one request");
    assert_eq!(requests[0].from, company("oem"));
    assert_eq!(requests[0].product_ids, vec!["urn:tanso:steel:product:p0"]);
    tn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_and_plain_http_are_refused() {
    let (tn, api, _, buyer, _) = supplier(1, 1).await;
    let token = api.token(&buyer.0, &buyer.1).await;
    assert_eq!(api.get("/3/footprints", &token).await.status, 200);
    // Past the token's one-second lifetime, by the node's clock (no sleep).
    tn.node.clock().advance(Duration::from_millis(1300));
    let r = api.get("/3/footprints", &token).await;
    assert_error(&r, 401, "TokenExpired");

    // The listener only speaks TLS: a plain HTTP request gets no HTTP answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(api.addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /3/footprints HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/"),
        "plain http must not be answered"
    );
    tn.stop().await;
}

fn published_event(ids: &[&str]) -> Value {
    json!({
        "specversion": "1.0",
        "id": uuid(),
        "source": "https://oem.example",
        "time": "2026-03-01T00:00:00Z",
        "type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
        "data": {"pfIds": ids},
    })
}

fn request_event(products: &[&str]) -> Value {
    json!({
        "specversion": "1.0",
        "id": uuid(),
        "source": "https://oem.example",
        "time": "2026-03-01T00:00:00Z",
        "type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
        "data": {"productId": products, "comment": "for our LCA"},
    })
}

/// Standard base64 with padding (for HTTP Basic).
pub(crate) fn b64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_view_is_served_signed() {
    let (tn, api, ids, _, _) = supplier(1, 3600).await;
    let policy = json!({
        "@context": "http://www.w3.org/ns/odrl.jsonld",
        "@type": "Set",
        "uid": "urn:tanso:policy:summary-for-prospects-over-pact",
        "target": "urn:tanso:footprints",
        "permission": [{
            "action": "read",
            "view": "summary",
            "constraint": [
                {"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "prospect"}
            ]
        }]
    });
    tn.node
        .add_policy("summary.json", &policy.to_string())
        .expect("policy");
    let (id, secret) = node::pact_api::add_client(
        &Home::new(&tn.home),
        &company("prospect"),
        vec!["prospect".into()],
    )
    .expect("client");
    let token = api.token(&id, &secret).await;
    let r = api.get(&format!("/3/footprints/{}", ids[0]), &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().expect("json");
    let doc = &v["data"];
    assert!(
        doc.get("productDescription").is_none(),
        "summary only: {doc}"
    );
    assert!(doc["pcf"].get("dqi").is_none());
    let sig = node::signed::verify_document(doc).expect("summary signature verifies");
    assert_eq!(sig.view, "summary");
    tn.stop().await;
}

/// The binary end to end: `init --pact-listen`, `pact client add` (secret shown once, stored
/// hashed, mode 0600), and `pact pull` into another node's inbox, verified against the card.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_client_add_and_pull() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let steel_home = dir.path().join("steel");
    let tanso = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tanso"))
            .env_remove("TANSO_HOME")
            .env("TANSO_LOG", "warn")
            .args(args)
            .output()
            .expect("run tanso");
        assert!(
            out.status.success(),
            "tanso {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    let h = steel_home.display().to_string();
    tanso(&[
        "init",
        "--home",
        &h,
        "--company-id",
        &company("steel"),
        "--name",
        "steel",
        "--listen",
        "127.0.0.1:0",
        "--pact-listen",
        "127.0.0.1:0",
    ]);
    let out = tanso(&[
        "pact",
        "client",
        "add",
        "--home",
        &h,
        "--company-id",
        &company("oem"),
        "--group",
        "customer",
    ]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .to_string()
    };
    let (client_id, secret) = (field("client_id"), field("client_secret"));
    let file = steel_home.join(node::pact_api::clients::CLIENTS_FILE);
    let text = std::fs::read_to_string(&file).expect("clients file");
    assert!(!text.contains(&secret), "the secret is stored hashed");
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let home = Home::new(&steel_home);
    let steel = TestNode::serve(&home).await;
    let id = uuid();
    steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:p0").to_string())
        .expect("publish");
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let addr = steel.pact_addr.expect("pact api bound");

    let oem = TestNode::start("oem").await;
    tests::befriend(&oem, &steel, &[]);
    let oem_home = oem.home.display().to_string();
    let url = format!("https://{addr}");
    let args: Vec<String> = [
        "pact",
        "pull",
        "--home",
        &oem_home,
        "--url",
        &url,
        "--partner",
        &company("steel"),
        "--client-id",
        &client_id,
        "--client-secret",
        &secret,
        "--limit",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        tanso(&refs)
    })
    .await
    .expect("pull");
    let report: Value = serde_json::from_str(&out).expect("report json");
    assert_eq!(report["stored"][0][0], id.as_str(), "{report}");
    assert_eq!(report["stored"][0][1], "verified", "{report}");
    let inbox = oem.node.inbox().expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].provenance, format!("pact:{url}"));
    assert_eq!(inbox[0].signature_status, SignatureStatus::Verified);

    // The library reports a pull's progress: footprints received, page by page.
    let progress = Recorded::default();
    let args = node::pact_api::pull::PullArgs {
        base: url.clone(),
        trust: node::pact_api::trust::ServerTrust::pinned(
            &steel.node.card().expect("card").tls_fingerprint,
        )
        .expect("pin"),
        client_id: client_id.clone(),
        client_secret: secret.clone(),
        query: vec![("limit".into(), "1".into())],
    };
    let report = node::pact_api::pull::pull_with(&oem.node, args, &progress)
        .await
        .expect("pull with progress");
    assert_eq!(report.stored.len(), 1);
    assert_eq!(
        *progress.0.lock().unwrap(),
        vec![
            "start pulling footprints footprints None".to_string(),
            "advance 1".into(),
            "finish".into()
        ]
    );
    oem.stop().await;
    steel.stop().await;
}

/// Records the progress a library operation reports.
#[derive(Default)]
struct Recorded(std::sync::Mutex<Vec<String>>);

impl node::progress::Progress for Recorded {
    fn start(&self, what: &str, unit: node::progress::Unit, total: Option<u64>) {
        let line = format!("start {what} {} {total:?}", unit.name());
        self.0.lock().unwrap().push(line);
    }
    fn advance(&self, n: u64) {
        self.0.lock().unwrap().push(format!("advance {n}"));
    }
    fn finish(&self) {
        self.0.lock().unwrap().push("finish".into());
    }
}

// === PACT events between two nodes: RequestCreated out, RequestFulfilled/Rejected back ===

/// A node with the PACT API on `listen` (token lifetime one hour), and its bound address.
async fn start_on(slug: &str, listen: &str) -> (TestNode, SocketAddr) {
    start_holding(slug, listen, false).await
}

/// [`start_on`], with `[pact] hold_unmatched_requests` set to `hold`.
async fn start_holding(slug: &str, listen: &str, hold: bool) -> (TestNode, SocketAddr) {
    let listen = listen.to_string();
    let tn = TestNode::start_with(slug, move |raw| {
        raw.pact.listen = Some(listen);
        raw.pact.hold_unmatched_requests = hold;
    })
    .await;
    let addr = tn.pact_addr.expect("pact api bound");
    (tn, addr)
}

/// The audit entries of `tn` (parsed).
fn audit(tn: &TestNode) -> Vec<Value> {
    let mut out = Vec::new();
    tn.node.audit_export(&mut out).expect("audit export");
    String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit json"))
        .collect()
}

/// Supplier `steel` and requester `oem`, both PACT hosts, each a PACT client of the other,
/// and steel knowing oem's host. Returns (steel, oem, oem's credentials at steel).
struct Pair {
    steel: TestNode,
    steel_api: Api,
    oem: TestNode,
    oem_api: Api,
    /// oem's client at steel.
    oem_client: (String, String),
    /// steel's client at oem.
    steel_client: (String, String),
}

/// Two nodes exchanging over PACT; steel holds requests nothing matches yet (pending until it
/// publishes or its operator answers), which is what these tests follow.
async fn pair(oem_listen: &str) -> Pair {
    pair_holding(oem_listen, true).await
}

async fn pair_holding(oem_listen: &str, hold: bool) -> Pair {
    let (steel, steel_addr) = start_holding("steel", "127.0.0.1:0", hold).await;
    let (oem, oem_addr) = start_on("oem", oem_listen).await;
    // Each knows the other's card, so owner signatures verify against a known key.
    tests::befriend(&steel, &oem, &["customer"]);
    tests::befriend(&oem, &steel, &[]);
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let oem_client =
        node::pact_api::add_client(&Home::new(&steel.home), &company("oem"), Vec::new())
            .expect("client");
    let steel_client =
        node::pact_api::add_client(&Home::new(&oem.home), &company("steel"), Vec::new())
            .expect("client");
    node::pact_api::hosts::add_host(
        &Home::new(&steel.home),
        &company("oem"),
        &format!("https://{oem_addr}"),
        &steel_client.0,
        &steel_client.1,
        &pinned(&oem.node.identity().fingerprint),
    )
    .expect("host");
    let steel_api = Api::of(&steel, steel_addr);
    let oem_api = Api::of(&oem, oem_addr);
    Pair {
        steel,
        steel_api,
        oem,
        oem_api,
        oem_client,
        steel_client,
    }
}

impl Pair {
    /// oem asks steel for `product` over PACT (as `tanso pact request` does).
    async fn request(&self, product: &str) -> node::store::OutgoingRequest {
        let args = node::pact_api::events::RequestArgs {
            base: format!("https://{}", self.steel_api.addr),
            trust: pinned(&self.steel_api.fingerprint),
            client_id: self.oem_client.0.clone(),
            client_secret: self.oem_client.1.clone(),
            company_id: Some(company("steel")),
            product_ids: vec![product.to_string()],
            classifications: Vec::new(),
            comment: "for our LCA".into(),
        };
        node::pact_api::events::send_request(&self.oem.node, args)
            .await
            .expect("pact request")
    }

    async fn wait_answered(&self, id: &str) -> node::store::OutgoingRequest {
        let store = self.oem.node.store().clone();
        tests::wait_for("the answer at oem", async || {
            store.outgoing_request(id).expect("read").filter(|r| {
                r.status == RequestState::Fulfilled || r.status == RequestState::Rejected
            })
        })
        .await
    }

    /// steel's outbox is empty (the answer was delivered and is never sent again).
    async fn wait_outbox_empty(&self) {
        let store = self.steel.node.store().clone();
        tests::wait_for("steel's outbox to drain", async || {
            store.outbox().expect("outbox").is_empty().then_some(())
        })
        .await;
    }

    fn answers_accepted(&self) -> (usize, usize) {
        answers_accepted(&self.oem)
    }
}

/// How many answer events `requester` accepted (and how many repeats it saw).
fn answers_accepted(requester: &TestNode) -> (usize, usize) {
    let entries = audit(requester);
    let count = |rule: &str| {
        entries
            .iter()
            .filter(|e| e["method"] == "POST /3/events" && e["rule"] == rule)
            .count()
    };
    (
        count("answer accepted"),
        count("repeated answer; nothing changed"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pact_request_is_fulfilled_with_a_signed_footprint() {
    let p = pair("127.0.0.1:0").await;
    let id = uuid();
    p.steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:p0").to_string())
        .expect("publish");

    // The command line: `tanso pact request` against the running oem node.
    let oem_home = p.oem.home.display().to_string();
    let url = format!("https://{}", p.steel_api.addr);
    let args: Vec<String> = [
        "pact",
        "request",
        "--home",
        &oem_home,
        "--url",
        &url,
        "--partner",
        &company("steel"),
        "--client-id",
        &p.oem_client.0,
        "--client-secret",
        &p.oem_client.1,
        "--company-id",
        &company("steel"),
        "--product-id",
        "urn:tanso:steel:product:p0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tanso"))
            .env_remove("TANSO_HOME")
            .env("TANSO_LOG", "warn")
            .args(&args)
            .output()
            .expect("run tanso")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).expect("request json");
    let request_id = sent["id"].as_str().expect("id").to_string();
    assert_eq!(sent["to"], company("steel"));
    assert_eq!(sent["pactUrl"], url.as_str());

    // steel stored it as a lifecycle request carrying the event id, and fulfilled it.
    let incoming = p.steel.node.store().incoming_requests().expect("incoming");
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].from, company("oem"));
    assert_eq!(
        incoming[0].pact_event_id.as_deref(),
        Some(request_id.as_str())
    );

    let answered = p.wait_answered(&request_id).await;
    assert_eq!(answered.status, RequestState::Fulfilled, "{answered:?}");
    assert_eq!(answered.footprint_ids, vec![id.clone()]);
    let entry = p
        .oem
        .node
        .store()
        .inbox_entry(&id)
        .expect("read")
        .expect("in the inbox");
    assert_eq!(entry.provenance, format!("pact:{url}"));
    assert_eq!(entry.signature_status, SignatureStatus::Verified);
    assert_eq!(entry.from_company, company("steel"));
    assert_footprint(&entry.document);

    // Exactly one answer: delivered once, never again.
    p.wait_outbox_empty().await;
    assert_eq!(p.answers_accepted(), (1, 0));

    // `tanso request show` lists it with its footprint.
    let shown = node::admin::execute(
        &p.oem.node,
        node::admin::Command::RequestShow {
            id: request_id.clone(),
        },
    )
    .await
    .expect("show");
    let node::admin::Answer::Request(shown) = shown else {
        panic!("not a request: {shown:?}")
    };
    let outgoing = shown.outgoing.expect("the request sent");
    assert_eq!(outgoing.status, RequestState::Fulfilled);
    assert_eq!(outgoing.footprint_ids, [id.as_str()]);
    p.oem.stop().await;
    p.steel.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pact_request_rejected_by_the_operator() {
    let p = pair("127.0.0.1:0").await;
    // Nothing matches yet: the request waits at steel until the operator rejects it.
    let sent = p.request("urn:tanso:steel:product:unknown").await;
    assert_eq!(sent.status, RequestState::Pending);
    let incoming = p.steel.node.store().incoming_requests().expect("incoming");
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].status, RequestState::Pending);
    p.steel
        .node
        .reject_request(&incoming[0].id, "we do not make that product")
        .expect("reject");
    let answered = p.wait_answered(&sent.id).await;
    assert_eq!(answered.status, RequestState::Rejected);
    assert_eq!(
        answered.reason.as_deref(),
        Some("NotFound: we do not make that product")
    );
    assert!(p.oem.node.inbox().expect("inbox").is_empty());
    p.wait_outbox_empty().await;
    assert_eq!(p.answers_accepted(), (1, 0));

    // A requester steel's policy does not serve is rejected at once, with AccessDenied.
    let stranger =
        node::pact_api::add_client(&Home::new(&p.steel.home), &company("stranger"), Vec::new())
            .expect("client");
    let token = p.steel_api.token(&stranger.0, &stranger.1).await;
    let r = p
        .steel_api
        .event(
            &token,
            EVENTS_CT,
            request_event(&["urn:tanso:steel:product:p0"])
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let refused = p
        .steel
        .node
        .store()
        .incoming_requests()
        .expect("incoming")
        .into_iter()
        .find(|r| r.from == company("stranger"))
        .expect("stored");
    assert_eq!(refused.status, RequestState::Rejected);
    p.oem.stop().await;
    p.steel.stop().await;
}

/// By default (as PACT v3 asks, and the conformance suite's case 14.B checks) a request
/// nothing matches is answered RequestRejected with NotFound at once, without the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pact_request_nothing_matches_is_rejected_not_found() {
    let p = pair_holding("127.0.0.1:0", false).await;
    let sent = p.request("urn:pact:null").await;
    let answered = p.wait_answered(&sent.id).await;
    assert_eq!(answered.status, RequestState::Rejected);
    assert_eq!(
        answered.reason.as_deref(),
        Some("NotFound: no footprint matches the request")
    );
    let incoming = p.steel.node.store().incoming_requests().expect("incoming");
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].status, RequestState::Rejected);
    assert!(p.oem.node.inbox().expect("inbox").is_empty());
    p.wait_outbox_empty().await;
    assert_eq!(p.answers_accepted(), (1, 0));
    p.oem.stop().await;
    p.steel.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pact_answer_is_retried_until_the_requester_is_back() {
    // oem's PACT port is fixed, so it comes back where steel knows it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let p = pair(&format!("127.0.0.1:{port}")).await;
    let sent = p.request("urn:tanso:steel:product:later").await;
    assert_eq!(sent.status, RequestState::Pending);

    // oem goes down; steel publishes a matching footprint, so its answer is due now.
    let Pair { steel, oem, .. } = p;
    let oem_home = Home::new(&oem.home);
    let dir = oem.stop().await;
    let id = uuid();
    steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:later").to_string())
        .expect("publish");
    let store = steel.node.store().clone();
    let item = tests::wait_for("two failed delivery attempts", async || {
        store
            .outbox()
            .expect("outbox")
            .into_iter()
            .find(|i| i.attempts >= 2)
    })
    .await;
    assert!(item.last_error.is_some(), "{item:?}");

    // oem comes back on the same port; the next attempt delivers the answer once.
    let oem = TestNode::serve(&oem_home).await;
    assert_eq!(oem.pact_addr.expect("pact api bound").port(), port);
    let oem_store = oem.node.store().clone();
    let answered = tests::wait_for("the retried answer", async || {
        oem_store
            .outgoing_request(&sent.id)
            .expect("read")
            .filter(|r| r.status == RequestState::Fulfilled)
    })
    .await;
    assert_eq!(answered.footprint_ids, vec![id.clone()]);
    let entry = oem_store.inbox_entry(&id).expect("read").expect("stored");
    assert_eq!(entry.signature_status, SignatureStatus::Verified);
    tests::wait_for("steel's outbox to drain", async || {
        store.outbox().expect("outbox").is_empty().then_some(())
    })
    .await;
    assert_eq!(answers_accepted(&oem), (1, 0));
    oem.stop().await;
    steel.stop().await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answer_events_get_400_and_store_nothing() {
    let p = pair("127.0.0.1:0").await;
    let sent = p.request("urn:tanso:steel:product:x").await;
    assert_eq!(sent.status, RequestState::Pending);
    // steel's own answer (it fulfils automatically once product x is published below) must
    // not reach oem during this test: point steel's record of oem's host at a dead port.
    node::pact_api::hosts::add_host(
        &Home::new(&p.steel.home),
        &company("oem"),
        "https://127.0.0.1:9",
        &p.steel_client.0,
        &p.steel_client.1,
        &pinned(&p.oem_api.fingerprint),
    )
    .expect("host");
    let token = p.oem_api.token(&p.steel_client.0, &p.steel_client.1).await;
    let answer = |kind: &str, data: Value| {
        json!({
            "specversion": "1.0",
            "id": uuid(),
            "source": "https://steel.example",
            "time": "2026-03-01T00:00:00Z",
            "type": kind,
            "data": data,
        })
        .to_string()
    };
    const FULFILLED: &str = "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3";
    const REJECTED: &str = "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3";
    let good_pf = {
        let id = uuid();
        p.steel
            .node
            .publish(&footprint("steel", &id, "urn:tanso:steel:product:x").to_string())
            .expect("publish");
        let own = p
            .steel
            .node
            .store()
            .own_footprint(&id)
            .expect("read")
            .expect("own");
        let json = node::signed::view_json(&own.footprint, node::signed::VIEW_FULL).expect("view");
        node::signed::attach(json, &own.sig_full)
    };
    // A valid, signed footprint of steel, but for a product oem did not ask for.
    let other_product = {
        let id = uuid();
        p.steel
            .node
            .publish(&footprint("steel", &id, "urn:tanso:steel:product:y").to_string())
            .expect("publish");
        let own = p
            .steel
            .node
            .store()
            .own_footprint(&id)
            .expect("read")
            .expect("own");
        let json = node::signed::view_json(&own.footprint, node::signed::VIEW_FULL).expect("view");
        node::signed::attach(json, &own.sig_full)
    };
    // A valid (unsigned) footprint of the asked-for product, but owned by another company.
    let other_owner = footprint("other", &uuid(), "urn:tanso:steel:product:x");
    let mut tampered = good_pf.clone();
    tampered["productDescription"] = json!("changed in transit");
    let mut invalid = footprint("steel", &uuid(), "urn:tanso:steel:product:x");
    invalid["pcf"]["declaredUnitOfMeasurement"] = json!("furlong");
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "unknown type",
            EVENTS_CT,
            answer("org.wbcsd.pact.ProductFootprint.Nonsense.3", json!({})),
        ),
        (
            "malformed requestEventId",
            EVENTS_CT,
            answer(
                FULFILLED,
                json!({"requestEventId": "not-a-uuid", "pfs": [good_pf]}),
            ),
        ),
        (
            "unknown requestEventId",
            EVENTS_CT,
            answer(
                FULFILLED,
                json!({"requestEventId": uuid(), "pfs": [good_pf]}),
            ),
        ),
        (
            "empty pfs",
            EVENTS_CT,
            answer(FULFILLED, json!({"requestEventId": sent.id, "pfs": []})),
        ),
        (
            "tampered footprint",
            EVENTS_CT,
            answer(
                FULFILLED,
                json!({"requestEventId": sent.id, "pfs": [tampered]}),
            ),
        ),
        (
            "invalid footprint",
            EVENTS_CT,
            answer(
                FULFILLED,
                json!({"requestEventId": sent.id, "pfs": [invalid]}),
            ),
        ),
        (
            "a footprint for a product not asked for",
            EVENTS_CT,
            answer(
                FULFILLED,
                json!({"requestEventId": sent.id, "pfs": [good_pf, other_product]}),
            ),
        ),
        (
            "a footprint of another company",
            EVENTS_CT,
            answer(
                FULFILLED,
                json!({"requestEventId": sent.id, "pfs": [other_owner]}),
            ),
        ),
        (
            "unknown error code",
            EVENTS_CT,
            answer(
                REJECTED,
                json!({"requestEventId": sent.id, "error": {"code": "Nope", "message": "x"}}),
            ),
        ),
        (
            "wrong content type",
            "application/json",
            answer(
                FULFILLED,
                json!({"requestEventId": sent.id, "pfs": [good_pf]}),
            ),
        ),
        ("not json", EVENTS_CT, "{\"specversion\": ".to_string()),
    ];
    for (what, ct, body) in &cases {
        let r = p.oem_api.event(&token, ct, body.as_bytes()).await;
        assert_error(&r, 400, "BadRequest");
        eprintln!("{what}: {}", r.text());
        if what.starts_with("a footprint") {
            let message = r.json().expect("json")["message"].to_string();
            assert!(
                message.contains("none of the products") || message.contains("not owned by"),
                "{what}: {message}"
            );
        }
    }
    // Oversized: 413.
    let mut big = good_pf.clone();
    big["comment"] = json!("x".repeat(300 * 1024));
    let body = answer(FULFILLED, json!({"requestEventId": sent.id, "pfs": [big]}));
    let r = p.oem_api.event(&token, EVENTS_CT, body.as_bytes()).await;
    assert_error(&r, 413, "BadRequest");

    // An answer from a client of another company is not taken either.
    let other = node::pact_api::add_client(&Home::new(&p.oem.home), &company("other"), Vec::new())
        .expect("client");
    let other_token = p.oem_api.token(&other.0, &other.1).await;
    let body = answer(
        FULFILLED,
        json!({"requestEventId": sent.id, "pfs": [good_pf]}),
    );
    let r = p
        .oem_api
        .event(&other_token, EVENTS_CT, body.as_bytes())
        .await;
    assert_error(&r, 400, "BadRequest");

    // Nothing was stored.
    let request = p
        .oem
        .node
        .store()
        .outgoing_request(&sent.id)
        .expect("read")
        .expect("stored");
    assert_eq!(request.status, RequestState::Pending);
    assert!(p.oem.node.inbox().expect("inbox").is_empty());
    assert_eq!(p.answers_accepted(), (0, 0));

    // A good answer is taken once; its repeat changes nothing and still gets 200.
    let body = answer(
        FULFILLED,
        json!({"requestEventId": sent.id, "pfs": [good_pf]}),
    );
    for _ in 0..2 {
        let r = p.oem_api.event(&token, EVENTS_CT, body.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body.is_empty());
    }
    assert_eq!(p.answers_accepted(), (1, 1));
    assert_eq!(p.oem.node.inbox().expect("inbox").len(), 1);
    p.oem.stop().await;
    p.steel.stop().await;
}

// === PublishedEvent out: a publish batch is announced to the PACT hosts allowed to read it ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_event_reaches_only_hosts_policy_lets_read() {
    let p = pair("127.0.0.1:0").await;
    let steel_url = format!("https://{}", p.steel_api.addr);
    // oem registers steel's host, so it fetches what steel announces.
    node::pact_api::hosts::add_host(
        &Home::new(&p.oem.home),
        &company("steel"),
        &steel_url,
        &p.oem_client.0,
        &p.oem_client.1,
        &pinned(&p.steel_api.fingerprint),
    )
    .expect("host");
    // A host whose company steel's policy serves nothing: it must get no event. Its address
    // answers nothing, so an item queued for it would stay in steel's outbox.
    node::pact_api::hosts::add_host(
        &Home::new(&p.steel.home),
        &company("stranger"),
        "https://127.0.0.1:9",
        "stranger-id",
        "stranger-secret",
        &pinned(&"ab".repeat(32)),
    )
    .expect("host");

    let id = uuid();
    p.steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:p0").to_string())
        .expect("publish");
    let outbox = p.steel.node.store().outbox().expect("outbox");
    assert!(
        outbox.iter().all(|i| i.target != company("stranger")),
        "{outbox:?}"
    );

    // oem's /3/events got the event, and oem fetched the footprint into its inbox.
    let store = p.oem.node.store().clone();
    let entry = tests::wait_for("the announced footprint in oem's inbox", async || {
        store.inbox_entry(&id).expect("read")
    })
    .await;
    assert_eq!(entry.provenance, format!("pact:{steel_url}"));
    assert_eq!(entry.signature_status, SignatureStatus::Verified);
    assert_eq!(entry.from_company, company("steel"));
    let announced = |id: &str| {
        audit(&p.oem)
            .iter()
            .filter(|e| {
                e["method"] == "POST /3/events"
                    && e["caller"] == company("steel").as_str()
                    && e["rule"] == "published event accepted; fetch queued"
                    && e["targets"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t == id))
            })
            .count()
    };
    assert_eq!(announced(&id), 1);

    // An update is announced too, naming the new version.
    let next = footprint("steel", &uuid(), "urn:tanso:steel:product:p0");
    let updated = p.steel.node.update(&id, &next.to_string()).expect("update");
    let new_id = updated.ids[0].to_string();
    tests::wait_for("the new version in oem's inbox", async || {
        store.inbox_entry(&new_id).expect("read")
    })
    .await;
    assert_eq!(announced(&new_id), 1);

    // Everything steel queued was delivered: nothing waits for the stranger's host.
    p.wait_outbox_empty().await;
    let oem_store = p.oem.node.store().clone();
    tests::wait_for("oem's fetch jobs to finish", async || {
        oem_store.outbox().expect("outbox").is_empty().then_some(())
    })
    .await;
    assert!(
        audit(&p.steel)
            .iter()
            .all(|e| e["caller"] != company("stranger").as_str())
    );
    p.oem.stop().await;
    p.steel.stop().await;
}
