//! The blind relay: a supplier with no inbound port reached through a relay that admits only
//! directory members, sees only TLS records, stores nothing and survives restarts and floods.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use node::Node;
use node::card::NodeCard;
use node::crypto::NodeKey;
use node::directory::{DirectoryCard, MembershipCredential, StatusList};
use node::relay::protocol::{self, Message};
use node::relay::{RawRelayConfig, Relay, RelayHome};
use node::service::client::{self, FetchWhat};
use tests::{TestNode, company, footprint, init_home, policy_template, raw_config, uuid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// An association: its key and pinned card; issues credentials and status lists.
pub(crate) struct Association {
    key: NodeKey,
    card: DirectoryCard,
}

impl Association {
    pub(crate) fn new(slug: &str) -> Association {
        let key = NodeKey::from_seed(&random_seed());
        let card = DirectoryCard::issue(
            &key,
            &format!("urn:tanso:association:{slug}"),
            slug,
            "127.0.0.1:1",
            &"ab".repeat(32),
        )
        .unwrap();
        Association { key, card }
    }

    pub(crate) fn credential(
        &self,
        company_id: &str,
        key: &NodeKey,
        relay: &str,
    ) -> MembershipCredential {
        let now = Utc::now();
        let mut credential = MembershipCredential {
            association_id: self.card.association_id.clone(),
            directory_key_id: self.card.key_id.clone(),
            serial: 1,
            company_id: company_id.to_string(),
            name: company_id.to_string(),
            public_key: NodeCard::issue(key, company_id, "x", "", &"cd".repeat(32))
                .unwrap()
                .public_key,
            key_id: key.key_id().to_string(),
            endpoint: String::new(),
            relay: Some(relay.to_string()),
            tls_fingerprint: "cd".repeat(32),
            previous_keys: Vec::new(),
            supplies_products: Vec::new(),
            supplies_classifications: Vec::new(),
            buys_classifications: Vec::new(),
            issued_at: node::directory::credential::rfc3339(now - chrono::Duration::minutes(1)),
            expires_at: node::directory::credential::rfc3339(now + chrono::Duration::days(30)),
            signature: String::new(),
        };
        credential.sign(&self.key).unwrap();
        credential
    }

    fn status_list(&self, serial: u64, revoked: &[String]) -> StatusList {
        StatusList::issue(
            &self.key,
            &self.card.association_id,
            serial,
            Utc::now(),
            revoked.to_vec(),
        )
        .unwrap()
    }
}

fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    seed
}

/// A relay serving in this process, with the byte tap on.
pub(crate) struct TestRelay {
    pub(crate) relay: Relay,
    pub(crate) addr: SocketAddr,
    home: PathBuf,
    tap: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRelay {
    pub(crate) fn init(
        dir: &Path,
        association: &Association,
        tweak: impl FnOnce(&mut RawRelayConfig),
    ) -> PathBuf {
        let home = RelayHome::new(dir.join("relay"));
        let mut raw = RawRelayConfig::new("test relay", "127.0.0.1:0");
        tweak(&mut raw);
        home.init(&raw, &random_seed()).unwrap();
        home.save_directory_card(
            &association.card.association_id,
            &serde_json::to_string(&association.card).unwrap(),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("tap")).unwrap();
        home.dir
    }

    pub(crate) async fn serve(home: &Path, addr: &str) -> TestRelay {
        let tap = home.parent().unwrap().join("tap");
        let relay = Relay::open(&RelayHome::new(home), Some(tap.clone())).unwrap();
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        relay.set_bound_endpoint(addr);
        let (stop, stopped) = oneshot::channel::<()>();
        let served = relay.clone();
        let task = tokio::spawn(async move {
            served
                .run(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestRelay {
            relay,
            addr,
            home: home.to_path_buf(),
            tap,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn card_json(&self) -> String {
        serde_json::to_string(&self.relay.card().unwrap()).unwrap()
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A supplier with no listen address, reachable only through `relay`.
struct RelayedNode {
    node: Node,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl RelayedNode {
    async fn start(slug: &str, relay: &TestRelay, association: &Association) -> RelayedNode {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = raw_config(slug);
        raw.listen = None;
        let home = init_home(&dir.path().join(slug), &raw);
        let key = home.load_key().unwrap();
        let credential = association.credential(&company(slug), &key, &relay.addr.to_string());
        node::relay::keeper::use_relay(
            &home,
            &company(slug),
            key.key_id(),
            &relay.card_json(),
            Some(&serde_json::to_string(&credential).unwrap()),
        )
        .unwrap();
        let node = node::open(&home).unwrap();
        node.add_policy("share.json", &policy_template("share-with-customers"))
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = node.clone();
        let listeners = node::server::Listeners::bind(&node).await.unwrap();
        tokio::spawn(async move {
            node::server::run(served, listeners, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        assert!(
            relay.relay.wait_registered(&company(slug), WAIT).await,
            "{slug} registers with the relay"
        );
        RelayedNode {
            node,
            stop: Some(stop),
            _dir: dir,
        }
    }

    fn card_json(&self) -> String {
        serde_json::to_string(&self.node.card().unwrap()).unwrap()
    }
}

impl Drop for RelayedNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Partners both ways; the supplier shares with the oem as a customer.
fn befriend_relayed(supplier: &RelayedNode, oem: &TestNode) {
    supplier
        .node
        .add_partner(&oem.card_json(), vec!["customer".into()])
        .unwrap();
    oem.node.add_partner(&supplier.card_json(), vec![]).unwrap();
}

fn publish(supplier: &RelayedNode, slug: &str) -> String {
    let id = uuid();
    supplier
        .node
        .publish(&footprint(slug, &id, &format!("urn:tanso:{slug}:product:coil")).to_string())
        .unwrap();
    id
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Walks `bytes` as a sequence of TLS records; returns why it is not one.
fn check_tls_records(bytes: &[u8], first_may_be_tls10: bool) -> Result<usize, String> {
    let mut at = 0;
    let mut records = 0;
    while at + 5 <= bytes.len() {
        let content_type = bytes[at];
        let version = [bytes[at + 1], bytes[at + 2]];
        let len = u16::from_be_bytes([bytes[at + 3], bytes[at + 4]]) as usize;
        if ![0x14, 0x15, 0x16, 0x17].contains(&content_type) {
            return Err(format!("byte {at}: content type {content_type:#04x}"));
        }
        let tls10_hello = first_may_be_tls10 && records == 0 && version == [0x03, 0x01];
        if version != [0x03, 0x03] && !tls10_hello {
            return Err(format!("byte {at}: record version {version:02x?}"));
        }
        if len > 16384 + 256 {
            return Err(format!("byte {at}: record of {len} bytes"));
        }
        at += 5 + len;
        records += 1;
    }
    Ok(records)
}

#[tokio::test]
async fn oem_fetches_from_a_supplier_that_only_dials_out_and_the_relay_sees_only_tls() {
    let dir = tempfile::tempdir().unwrap();
    let association = Association::new("steel-assoc");
    let relay_home = TestRelay::init(dir.path(), &association, |_| {});
    let relay = TestRelay::serve(&relay_home, "127.0.0.1:0").await;
    let steel = RelayedNode::start("steel", &relay, &association).await;
    let oem = TestNode::start("oem").await;
    befriend_relayed(&steel, &oem);

    let card = steel.node.card().unwrap();
    assert_eq!(card.endpoint, "", "a relayed node advertises no endpoint");
    assert_eq!(card.relay.as_deref(), Some(relay.addr.to_string().as_str()));
    NodeCard::parse(&steel.card_json()).expect("the card with its relay verifies");

    let id = publish(&steel, "steel");
    let docs = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .expect("fetched through the relay");
    assert_eq!(docs[0]["id"], id.as_str());
    assert_eq!(docs[0]["pcf"]["pcfExcludingBiogenicUptake"], "2.1");

    // The tap saw TLS records only, both ways, and never the footprint in clear.
    let taps = files(&relay.tap);
    assert!(taps.len() >= 2, "one tap file per direction: {taps:?}");
    for tap in &taps {
        let bytes = std::fs::read(tap).unwrap();
        assert!(!bytes.is_empty(), "{} recorded bytes", tap.display());
        let client_side = tap.to_string_lossy().ends_with("client-to-node.bin");
        let records = check_tls_records(&bytes, client_side)
            .unwrap_or_else(|e| panic!("{}: not a tls record stream: {e}", tap.display()));
        assert!(records >= 2, "{}: {records} records", tap.display());
        assert!(
            !bytes.windows(id.len()).any(|w| w == id.as_bytes()),
            "the footprint id never crosses the relay in clear"
        );
    }

    // The relay's data directory holds its config, key and trusted card: no footprint trace.
    let home = relay.home.clone();
    relay.stop().await;
    for file in files(&home) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).to_string();
        for needle in [
            id.as_str(),
            "pcfExcludingBiogenicUptake",
            "urn:tanso:steel:product:coil",
        ] {
            assert!(!text.contains(needle), "{} holds {needle}", file.display());
        }
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name == "config.toml" || name == "relay.key" || name.ends_with(".json"),
            "unexpected file in the relay home: {}",
            file.display()
        );
    }
}

/// Registers by hand; returns the relay's answer to the proof (or the first refusal).
async fn register(
    addr: SocketAddr,
    credential: &str,
    key: &NodeKey,
    company_id: &str,
) -> Result<TcpStream, String> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let nonce = protocol::nonce().unwrap();
    protocol::write_frame(
        &mut tcp,
        &Message::Register {
            credential: credential.to_string(),
            nonce,
        },
    )
    .await
    .unwrap();
    let (relay_nonce, relay_key_id) = match protocol::read_frame(&mut tcp).await {
        Ok(Message::Challenge {
            nonce,
            relay_key_id,
            ..
        }) => (nonce, relay_key_id),
        Ok(Message::Refused { reason }) => return Err(reason),
        other => return Err(format!("{other:?}")),
    };
    let proof = key.sign(
        protocol::DOMAIN_RELAY_REGISTER,
        &protocol::register_bytes(&relay_key_id, &relay_nonce, company_id),
    );
    protocol::write_frame(
        &mut tcp,
        &Message::Proof {
            signature: protocol::encode_signature(&proof),
        },
    )
    .await
    .unwrap();
    match protocol::read_frame(&mut tcp).await {
        Ok(Message::Registered { .. }) => Ok(tcp),
        Ok(Message::Refused { reason }) => Err(reason),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test]
async fn only_current_members_with_their_own_key_may_register() {
    let dir = tempfile::tempdir().unwrap();
    let association = Association::new("assoc");
    let relay_home = TestRelay::init(dir.path(), &association, |_| {});
    let relay = TestRelay::serve(&relay_home, "127.0.0.1:0").await;
    let endpoint = relay.addr.to_string();
    let key = NodeKey::from_seed(&random_seed());
    let member = company("member");
    let good = association.credential(&member, &key, &endpoint);
    let good_text = serde_json::to_string(&good).unwrap();

    let _held = register(relay.addr, &good_text, &key, &member)
        .await
        .expect("a member with its own key registers");
    assert!(relay.relay.is_registered(&member));

    // A credential from a directory the relay does not trust.
    let stranger = Association::new("other");
    let foreign =
        serde_json::to_string(&stranger.credential(&company("x"), &key, &endpoint)).unwrap();
    let err = register(relay.addr, &foreign, &key, &company("x"))
        .await
        .unwrap_err();
    assert!(err.contains("does not trust"), "{err}");

    // A forged credential: the company id changed after the association signed it.
    let mut forged = good.clone();
    forged.company_id = company("forger");
    let err = register(
        relay.addr,
        &serde_json::to_string(&forged).unwrap(),
        &key,
        &company("forger"),
    )
    .await
    .unwrap_err();
    assert!(err.contains("membership credential"), "{err}");

    // An expired credential.
    let mut expired = good.clone();
    expired.expires_at =
        node::directory::credential::rfc3339(Utc::now() - chrono::Duration::hours(1));
    expired.sign(&association.key).unwrap();
    let err = register(
        relay.addr,
        &serde_json::to_string(&expired).unwrap(),
        &key,
        &member,
    )
    .await
    .unwrap_err();
    assert!(err.contains("expire"), "{err}");

    // A member's genuine credential presented by someone without its key.
    let thief = NodeKey::from_seed(&random_seed());
    let err = register(relay.addr, &good_text, &thief, &member)
        .await
        .unwrap_err();
    assert!(err.contains("proof is not signed"), "{err}");

    // Garbage, then not json, in place of a credential.
    let err = register(relay.addr, "{not json", &key, &member)
        .await
        .unwrap_err();
    assert!(err.contains("membership credential"), "{err}");

    // A revoked member: the status list disconnects it and refuses it from then on.
    relay
        .relay
        .apply_status_list(association.status_list(2, std::slice::from_ref(&member)))
        .unwrap();
    assert!(
        !relay.relay.is_registered(&member),
        "a revoked member is disconnected"
    );
    let err = register(relay.addr, &good_text, &key, &member)
        .await
        .unwrap_err();
    assert!(err.contains("revoked"), "{err}");
    // A status list not signed by the association is refused.
    let forged_list = stranger.status_list(3, &[]);
    let mut forged_list = forged_list;
    forged_list.association_id = association.card.association_id.clone();
    assert!(relay.relay.apply_status_list(forged_list).is_err());
    let err = register(relay.addr, &good_text, &key, &member)
        .await
        .unwrap_err();
    assert!(
        err.contains("revoked"),
        "the forged list changed nothing: {err}"
    );
}

#[tokio::test]
async fn garbage_on_the_relay_port_is_refused_and_members_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let association = Association::new("assoc");
    let relay_home = TestRelay::init(dir.path(), &association, |_| {});
    let relay = TestRelay::serve(&relay_home, "127.0.0.1:0").await;
    let steel = RelayedNode::start("steel", &relay, &association).await;
    let oem = TestNode::start("oem").await;
    befriend_relayed(&steel, &oem);

    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5][..],
        &b"TNSR\xff\xff"[..],
        &b"TNSR\x00\x05hello"[..],
        &b"TNSR\x00\x0f{\"type\":\"ping\"}"[..],
    ] {
        let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
        tcp.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer))
            .await
            .expect("the relay closes a garbage connection")
            .ok();
        let mut reader = &answer[..];
        match protocol::read_frame(&mut reader).await {
            Ok(Message::Refused { reason }) => assert!(!reason.is_empty()),
            other => panic!("garbage {garbage:?} got {other:?}"),
        }
    }
    // A connection to a company nobody registered is refused with the reason.
    let err = node::relay::dialer::connect(&relay.addr.to_string(), &company("nobody"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not connected to this relay"),
        "{err}"
    );

    let id = publish(&steel, "steel");
    client::fetch(&oem.node, &company("steel"), FetchWhat::Id(id), None)
        .await
        .expect("members keep working");
}

#[tokio::test]
async fn a_flood_of_connections_hits_the_limits_while_members_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let association = Association::new("assoc");
    let relay_home = TestRelay::init(dir.path(), &association, |raw| {
        raw.max_sessions_per_node = 4;
        raw.max_connections = 64;
    });
    let relay = TestRelay::serve(&relay_home, "127.0.0.1:0").await;
    let steel = RelayedNode::start("steel", &relay, &association).await;
    let alu = RelayedNode::start("alu", &relay, &association).await;
    let oem = TestNode::start("oem").await;
    befriend_relayed(&steel, &oem);
    befriend_relayed(&alu, &oem);
    let endpoint = relay.addr.to_string();

    // Sessions to steel that never speak TLS: only four are paired, the rest refused.
    let mut paired = Vec::new();
    let mut refused = 0;
    for _ in 0..12 {
        match node::relay::dialer::connect(&endpoint, &company("steel")).await {
            Ok(tcp) => paired.push(tcp),
            Err(e) => {
                assert!(e.to_string().contains("limit of 4 relayed sessions"), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!(paired.len(), 4, "the per-node session limit holds");
    assert_eq!(refused, 8);
    // Idle connections that never send a frame (the relay drops them after a short
    // preamble timeout): while they are open, the other member is served through the relay.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(TcpStream::connect(relay.addr).await.unwrap());
    }
    let id = publish(&alu, "alu");
    client::fetch(&oem.node, &company("alu"), FetchWhat::Id(id), None)
        .await
        .expect("another member is served during the flood");
    drop(idle);
    // Once the flooding sessions close, steel is served again.
    drop(paired);
    let id = publish(&steel, "steel");
    tests::wait_for("steel served once its sessions are free", async || {
        let what = FetchWhat::Id(id.clone());
        client::fetch(&oem.node, &company("steel"), what, None)
            .await
            .ok()
    })
    .await;
}

#[tokio::test]
async fn a_relay_restart_fails_requests_in_flight_promptly_and_nodes_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let association = Association::new("assoc");
    let relay_home = TestRelay::init(dir.path(), &association, |_| {});
    let relay = TestRelay::serve(&relay_home, "127.0.0.1:0").await;
    let addr = relay.addr;
    let steel = RelayedNode::start("steel", &relay, &association).await;
    let oem = TestNode::start("oem").await;
    befriend_relayed(&steel, &oem);
    let id = publish(&steel, "steel");
    client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .expect("served before the restart");

    // A member that registers and accepts its data connection but never answers: a call
    // to it stays in flight until the relay goes away.
    let mute_key = NodeKey::from_seed(&random_seed());
    let mute = company("mute");
    let credential =
        serde_json::to_string(&association.credential(&mute, &mute_key, &addr.to_string()))
            .unwrap();
    let mut control = register(addr, &credential, &mute_key, &mute).await.unwrap();
    let mute_card = NodeCard::issue(&mute_key, &mute, "mute", "", &"cd".repeat(32))
        .unwrap()
        .with_relay(&mute_key, Some(addr.to_string()))
        .unwrap();
    oem.node
        .add_partner(&serde_json::to_string(&mute_card).unwrap(), vec![])
        .unwrap();
    let held = tokio::spawn(async move {
        // Answer one dial request and hold the data connection open, silent.
        loop {
            match protocol::read_frame(&mut control).await.unwrap() {
                Message::Dial { session } => {
                    let mut data = TcpStream::connect(addr).await.unwrap();
                    protocol::write_frame(
                        &mut data,
                        &Message::Data {
                            company_id: mute.clone(),
                            session,
                        },
                    )
                    .await
                    .unwrap();
                    return (control, data);
                }
                Message::Ping => {}
                other => panic!("{other:?}"),
            }
        }
    });
    let card = oem.node.partner(&company("mute")).unwrap().unwrap().card;
    let channel = client::connect_lazy(&oem.node, &card).unwrap();
    let in_flight = tokio::spawn(async move {
        let mut client = proto::pb::connector_client::ConnectorClient::new(channel);
        client.get_footprint(proto::pb::Envelope::default()).await
    });
    let (_control, _data) = tokio::time::timeout(WAIT, held).await.unwrap().unwrap();
    // Paired: the tap file of the session exists once the relay copies bytes.
    let tap = relay.tap.clone();
    tests::wait_for("the call paired and in flight", async || {
        (!files(&tap).is_empty()).then_some(())
    })
    .await;

    relay.stop().await;
    let status = tokio::time::timeout(WAIT, in_flight)
        .await
        .expect("the call in flight does not hang")
        .unwrap()
        .expect_err("the call in flight fails");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    // While the relay is down, calls fail at once with the same retryable error.
    let err = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("unreachable"), "{err}");

    // The relay comes back on the same address; the supplier registers again by itself.
    let relay = TestRelay::serve(&relay_home, &addr.to_string()).await;
    assert!(
        relay.relay.wait_registered(&company("steel"), WAIT).await,
        "steel reconnects"
    );
    tests::wait_for("steel served after the restart", async || {
        let what = FetchWhat::Id(id.clone());
        client::fetch(&oem.node, &company("steel"), what, None)
            .await
            .ok()
    })
    .await;
    drop(steel);
}

// === the `tanso` binary ===

fn tanso() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tanso"));
    cmd.env_remove("TANSO_HOME").env("TANSO_LOG", "warn");
    cmd
}

fn tanso_ok(args: &[&str]) -> String {
    let out = tanso().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tanso {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A running `tanso` process, killed on drop.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `tanso args` and waits until `ready` exists.
fn spawn_until(args: &[&str], ready: &Path) -> Running {
    let child = tanso()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    tests::wait_for_blocking(&format!("{args:?} to come up"), || {
        ready.exists().then_some(())
    });
    running
}

#[test]
fn the_cli_puts_a_node_with_no_port_behind_a_relay_of_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap();
        path(name)
    };

    // The association's directory, approving every application.
    let directory = path("directory");
    tanso_ok(&[
        "directory",
        "init",
        "--home",
        &directory,
        "--name",
        "kapa",
        "--listen",
        "127.0.0.1:0",
        "--auto-approve",
    ]);
    let _directory = spawn_until(
        &["directory", "serve", "--home", &directory],
        &dir.path().join("directory").join("bound.addr"),
    );
    let directory_card = write(
        "directory.json",
        &tanso_ok(&["directory", "card", "--home", &directory]),
    );

    // The relay trusts it.
    let relay = path("relay");
    let out = tanso()
        .args([
            "relay",
            "init",
            "--home",
            &relay,
            "--listen",
            "not-an-address",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "bad config exits 64");
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));
    let out = tanso()
        .args([
            "relay",
            "init",
            "--home",
            &relay,
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "localhost:metrics",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "bad metrics_listen exits 64");
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics_listen"));
    assert!(!dir.path().join("relay").exists(), "nothing created");
    tanso_ok(&[
        "relay",
        "init",
        "--home",
        &relay,
        "--listen",
        "127.0.0.1:0",
        "--max-sessions-per-node",
        "8",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    tanso_ok(&[
        "relay",
        "trust-directory",
        "--home",
        &relay,
        &directory_card,
    ]);
    let _relay = spawn_until(
        &["relay", "serve", "--home", &relay],
        &dir.path().join("relay").join("bound-address"),
    );
    let relay_card = write(
        "relay.json",
        &tanso_ok(&["relay", "card", "--home", &relay]),
    );
    let relay_addr =
        std::fs::read_to_string(dir.path().join("relay").join("bound-address")).unwrap();
    assert!(relay_card.ends_with("relay.json"));

    // Steel: no --listen, reachable only through the relay; joins the directory.
    let steel = path("steel");
    tanso_ok(&[
        "init",
        "--home",
        &steel,
        "--company-id",
        &company("steel"),
        "--name",
        "steel",
    ]);
    tanso_ok(&["relay", "use", "--home", &steel, &relay_card]);
    tanso_ok(&["directory", "trust", "--home", &steel, &directory_card]);
    tanso_ok(&["directory", "join", "--home", &steel]);
    let steel_card: serde_json::Value =
        serde_json::from_str(&tanso_ok(&["id", "--home", &steel])).unwrap();
    assert_eq!(steel_card["endpoint"], "");
    assert_eq!(steel_card["relay"], relay_addr.trim());
    let id = uuid();
    let fp = write(
        "fp.json",
        &footprint("steel", &id, "urn:tanso:steel:product:coil").to_string(),
    );
    tanso_ok(&["footprint", "publish", "--home", &steel, &fp]);
    tanso_ok(&[
        "policy",
        "add",
        "--home",
        &steel,
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../policies/share-with-customers.json")
            .display()
            .to_string(),
    ]);
    let oem = path("oem");
    tanso_ok(&[
        "init",
        "--home",
        &oem,
        "--company-id",
        &company("oem"),
        "--name",
        "oem",
        "--listen",
        "127.0.0.1:0",
    ]);
    let oem_card = write("oem.json", &tanso_ok(&["id", "--home", &oem]));
    let steel_card = write("steel.json", &serde_json::to_string(&steel_card).unwrap());
    tanso_ok(&[
        "partner", "add", "--home", &steel, "--group", "customer", &oem_card,
    ]);
    tanso_ok(&["partner", "add", "--home", &oem, &steel_card]);
    let _steel = spawn_until(
        &["serve", "--home", &steel],
        &dir.path().join("steel").join("admin.sock"),
    );

    // The OEM (no node running: the CLI dials directly) fetches through the relay once the
    // supplier has registered.
    let fetched = tests::wait_for_blocking("a fetch through the relay", || {
        let out = tanso()
            .args([
                "fetch",
                "--home",
                &oem,
                "--from",
                &company("steel"),
                "--id",
                &id,
            ])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    });
    assert!(fetched.contains(&id), "{fetched}");

    // The relay's ops listener: ready once the directory's status list has arrived; the
    // member, the session and its bytes are counted, with no company id in any label.
    let ops = node::relay::metrics::bound_addr(&dir.path().join("relay")).expect("metrics.addr");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tests::wait_for_blocking("the relay ready", || {
        let (status, _) = rt.block_on(tests::http_get(ops, "/readyz")).unwrap();
        (status == 200).then_some(())
    });
    assert_eq!(
        rt.block_on(tests::http_get(ops, "/healthz")).unwrap().0,
        200
    );
    let (status, scrape) = rt.block_on(tests::http_get(ops, "/metrics")).unwrap();
    assert_eq!(status, 200);
    let value = |name: &str, labels: &[&str]| {
        tests::series(&scrape, name, labels).unwrap_or_else(|| panic!("{name}: {scrape}"))
    };
    assert_eq!(value("tanso_relay_registered_nodes", &[]), 1.0, "{scrape}");
    assert!(
        value("tanso_relay_sessions_paired_total", &[]) >= 1.0,
        "{scrape}"
    );
    assert!(value("tanso_relay_connections", &[]) >= 1.0, "{scrape}");
    for direction in ["direction=\"to_node\"", "direction=\"to_client\""] {
        assert!(
            value("tanso_relay_relayed_bytes_total", &[direction]) > 0.0,
            "{direction}: {scrape}"
        );
    }
    assert!(
        !scrape.contains("steel") && !scrape.contains(&id),
        "{scrape}"
    );

    for file in files(&dir.path().join("relay")) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).to_string();
        assert!(
            !text.contains(&id),
            "{} holds the footprint id",
            file.display()
        );
    }
}
