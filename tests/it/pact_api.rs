//! The PACT v3 REST host of a live node: OAuth client credentials, ListFootprints with filters
//! and paging, GetFootprint, Events, and every bad input answered with a clear error.

use std::net::SocketAddr;
use std::time::Duration;

use node::dashboard::client::{self, HttpResponse};
use node::home::Home;
use node::pact::ValidationContext;
use serde_json::{Value, json};
use tests::{TestNode, company, footprint, policy_template, uuid};

const EVENTS_CT: &str = "application/cloudevents+json";

/// A node with the PACT API on port 0 (token lifetime `ttl` seconds), and its address.
async fn start(slug: &str, ttl: u64) -> (TestNode, SocketAddr) {
    let tn = TestNode::start_with(slug, |raw| {
        raw.pact.listen = Some("127.0.0.1:0".into());
        raw.pact.token_ttl_secs = ttl;
    })
    .await;
    let home = Home::new(&tn.home);
    for _ in 0..200 {
        if let Some(addr) = node::pact_api::bound_addr(&home) {
            return (tn, addr);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the pact api never wrote its address file");
}

struct Api {
    addr: SocketAddr,
    fingerprint: String,
}

impl Api {
    fn of(tn: &TestNode, addr: SocketAddr) -> Api {
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

    async fn token(&self, id: &str, secret: &str) -> String {
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

    async fn get(&self, path: &str, token: &str) -> HttpResponse {
        let auth = format!("Bearer {token}");
        self.send("GET", path, &[("authorization", &auth)], b"")
            .await
    }

    async fn event(&self, token: &str, content_type: &str, body: &[u8]) -> HttpResponse {
        let auth = format!("Bearer {token}");
        self.send(
            "POST",
            "/3/events",
            &[("authorization", &auth), ("content-type", content_type)],
            body,
        )
        .await
    }
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
        "status=Retired",
        "productId=",
        "limit=0",
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

    // Tokens: missing, garbage, wrong scheme.
    let r = api.send("GET", "/3/footprints", &[], b"").await;
    assert_error(&r, 401, "AccessDenied");
    let r = api.get("/3/footprints", "garbage").await;
    assert_error(&r, 401, "AccessDenied");
    let r = api
        .send(
            "GET",
            &format!("/3/footprints/{}", ids[0]),
            &[("authorization", &format!("Basic {token}"))],
            b"",
        )
        .await;
    assert_error(&r, 401, "AccessDenied");
    let ev = published_event(&[&uuid()]);
    let r = api
        .event("garbage", EVENTS_CT, ev.to_string().as_bytes())
        .await;
    assert_error(&r, 401, "AccessDenied");

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
    tokio::time::sleep(Duration::from_millis(1300)).await;
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
fn b64(bytes: &[u8]) -> String {
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
    let mut addr = None;
    for _ in 0..200 {
        addr = node::pact_api::bound_addr(&home);
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let addr = addr.expect("pact api bound");

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
    assert_eq!(inbox[0].signature_status, "verified");
    oem.stop().await;
    steel.stop().await;
}
