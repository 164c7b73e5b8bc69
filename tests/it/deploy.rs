//! deploy/ checked against the binary: every `tanso` subcommand and flag the files use exists,
//! every shipped config parses with the real loader, ports and probe paths agree, and the
//! container entrypoint serves the very config compose hands it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use node::config::RawConfig;
use serde_norway::Value as Yaml;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn tanso() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tanso"));
    cmd.env_remove("TANSO_HOME").env("TANSO_LOG", "warn");
    cmd
}

/// One `tanso` command line found in a deploy file.
#[derive(Debug)]
struct Invocation {
    file: &'static str,
    subcommand: Vec<String>,
    flags: Vec<String>,
}

/// Splits a shell-ish command line after the word `tanso`: the subcommand words (up to the
/// first flag or argument), then every `--flag`. Stops at redirections and `||`.
fn parse_invocation(file: &'static str, words: &[String]) -> Invocation {
    let mut subcommand = Vec::new();
    let mut flags = Vec::new();
    let mut in_subcommand = true;
    for word in words {
        if word.starts_with('>') || word == "||" || word == "&&" || word == ";" {
            break;
        }
        if let Some(flag) = word.strip_prefix("--") {
            in_subcommand = false;
            flags.push(flag.split('=').next().unwrap_or(flag).to_string());
        } else if in_subcommand && word.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            subcommand.push(word.clone());
        } else {
            in_subcommand = false;
        }
    }
    Invocation {
        file,
        subcommand,
        flags,
    }
}

/// The words following each standalone `tanso` (or `/usr/local/bin/tanso`) on a line.
fn shell_invocations(file: &'static str, text: &str) -> Vec<Invocation> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let words: Vec<String> = line
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '\'' || c == '"').to_string())
            .collect();
        for (i, w) in words.iter().enumerate() {
            if w == "tanso" || w.ends_with("/bin/tanso") {
                out.push(parse_invocation(file, &words[i + 1..]));
            }
        }
    }
    out
}

/// The Dockerfile's exec-form HEALTHCHECK, as words.
fn dockerfile_healthcheck() -> Vec<String> {
    let text = read("Dockerfile").replace("\\\n", " ");
    let line = text
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    let json = &line[line.find("CMD [").expect("exec-form CMD") + 4..];
    serde_json::from_str(json).expect("CMD is a JSON array")
}

/// Every `tanso` command line in deploy/.
fn invocations() -> Vec<Invocation> {
    let mut all = shell_invocations("docker-entrypoint.sh", &read("docker-entrypoint.sh"));
    all.extend(shell_invocations(
        "systemd/tanso.service",
        &read("systemd/tanso.service"),
    ));
    let health = dockerfile_healthcheck();
    assert_eq!(health[0], "tanso");
    all.push(parse_invocation("Dockerfile", &health[1..]));
    all
}

/// Asserts that `tanso <subcommand> --help` works and lists every flag.
fn check_exists(inv: &Invocation) {
    assert!(!inv.subcommand.is_empty(), "{inv:?}");
    let out = tanso()
        .args(&inv.subcommand)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: `tanso {}` does not exist: {}",
        inv.file,
        inv.subcommand.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    for flag in &inv.flags {
        assert!(
            help.contains(&format!("--{flag}")),
            "{}: `tanso {}` has no --{flag}:\n{help}",
            inv.file,
            inv.subcommand.join(" ")
        );
    }
}

fn is_platform(inv: &Invocation) -> bool {
    matches!(
        inv.subcommand.first().map(String::as_str),
        Some("directory" | "relay")
    )
}

#[test]
fn node_commands_and_flags_in_deploy_files_exist() {
    let all = invocations();
    let node_side: Vec<&Invocation> = all.iter().filter(|i| !is_platform(i)).collect();
    let used: BTreeSet<String> = node_side.iter().map(|i| i.subcommand.join(" ")).collect();
    for expected in ["init", "serve", "healthcheck"] {
        assert!(used.contains(expected), "{expected} not used: {used:?}");
    }
    for inv in node_side {
        check_exists(inv);
    }
}

#[test]
fn directory_and_relay_commands_in_deploy_files_exist() {
    let all = invocations();
    let platform: Vec<&Invocation> = all.iter().filter(|i| is_platform(i)).collect();
    let used: BTreeSet<String> = platform.iter().map(|i| i.subcommand.join(" ")).collect();
    for expected in [
        "directory init",
        "directory card",
        "directory serve",
        "directory trust",
        "directory join",
        "relay init",
        "relay card",
        "relay serve",
        "relay use",
        "relay trust-directory",
    ] {
        assert!(used.contains(expected), "{expected} not used: {used:?}");
    }
    for inv in platform {
        check_exists(inv);
    }
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

fn config(text: &str, name: &str) -> RawConfig {
    let raw = RawConfig::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
    raw.validate(name).unwrap_or_else(|e| panic!("{e}"));
    raw
}

fn str_of<'a>(v: &'a Yaml, path: &[&str]) -> &'a str {
    let mut v = v;
    for key in path {
        v = &v[*key];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string: {v:?}"))
}

#[test]
fn compose_configs_parse_and_ports_match() {
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["directory", "relay", "steel", "oem", "tier2"])
    );
    let volumes = compose["volumes"].as_mapping().expect("named volumes");
    let mut behind_relay = 0;
    for name in ["steel", "oem", "tier2"] {
        let service = &compose["services"][name];
        let env = &service["environment"];
        // The config the entrypoint installs is one of ours and parses with the real loader.
        let mounted = service["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .find(|v| v.contains(str_of(env, &["TANSO_CONFIG"])))
            .expect("the TANSO_CONFIG file is mounted");
        let file = mounted.split(':').next().unwrap().trim_start_matches("./");
        let raw = config(&read(file), file);
        assert_eq!(raw.company_id, str_of(env, &["TANSO_COMPANY_ID"]), "{name}");
        assert_eq!(raw.log.format, "json", "{name}");
        // The home is a named (persistent) volume.
        let home = service["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .find(|v| v.ends_with(":/var/lib/tanso"))
            .expect("a home volume");
        let volume = home.split(':').next().unwrap();
        assert!(
            volumes.contains_key(Yaml::from(volume)),
            "{name}: {volume} not declared"
        );
        // Published container ports are the ones the config listens on.
        let container_ports: BTreeSet<u16> = service["ports"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|p| p.as_str())
                    .map(|p| p.rsplit(':').next().unwrap().parse().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let metrics = port_of(raw.metrics.listen.as_deref().expect("metrics listen"));
        assert!(container_ports.contains(&metrics), "{name}: metrics port");
        match &raw.listen {
            Some(listen) => assert!(container_ports.contains(&port_of(listen)), "{name}"),
            None => {
                // No inbound peer port: reached through the relay.
                behind_relay += 1;
                assert!(env["TANSO_RELAY_CARD"].as_str().is_some(), "{name}");
                assert_eq!(container_ports, BTreeSet::from([metrics]), "{name}");
            }
        }
        if let Some(pact) = &raw.pact.listen {
            assert!(
                container_ports.contains(&port_of(pact)),
                "{name}: pact port"
            );
        }
        // The image's HEALTHCHECK probes the metrics port the config serves.
        let health = dockerfile_healthcheck();
        let addr = &health[health.iter().position(|w| w == "--addr").unwrap() + 1];
        assert_eq!(port_of(addr), metrics, "{name}: HEALTHCHECK port");
    }
    assert_eq!(behind_relay, 1, "exactly one node is behind the relay");

    // The directory and the relay put a name the nodes can dial on their cards (a card with
    // 0.0.0.0 would send every node to itself), and the relay admits the directory's members.
    for name in ["directory", "relay"] {
        let env = &compose["services"][name]["environment"];
        let advertise = str_of(env, &["TANSO_ADVERTISE"]);
        assert_eq!(
            advertise.split(':').next(),
            Some(name),
            "{name}: {advertise}"
        );
        assert_eq!(
            port_of(advertise),
            port_of(str_of(env, &["TANSO_LISTEN"])),
            "{name}"
        );
    }
    let relay = &compose["services"]["relay"];
    assert_eq!(
        str_of(&relay["environment"], &["TANSO_DIRECTORY_CARD"]),
        str_of(
            &compose["services"]["directory"]["environment"],
            &["TANSO_CARD_OUT"]
        )
    );
    // Its healthcheck is the image's: `tanso healthcheck` on the relay's default ops port.
    let test: Vec<&str> = relay["healthcheck"]["test"]
        .as_sequence()
        .expect("relay healthcheck")
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    assert_eq!(test[0], "CMD");
    assert_eq!(test[1..], dockerfile_healthcheck()[..]);
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_healthcheck() {
    let text = read("Dockerfile");
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "multi-stage");
    assert!(text.contains("cargo build --release --locked"));
    assert!(
        !text.contains("npm "),
        "the dashboard assets are committed; the image needs no npm step"
    );
    let user = text
        .lines()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    let exposed: BTreeSet<u16> = text
        .lines()
        .filter(|l| l.starts_with("EXPOSE "))
        .flat_map(|l| l.split_whitespace().skip(1))
        .map(|p| p.parse().unwrap())
        .collect();
    let values = yaml("helm/tanso/values.yaml");
    for port in ["grpc", "pact", "metrics"] {
        let p = values["ports"][port].as_u64().unwrap() as u16;
        assert!(exposed.contains(&p), "EXPOSE {p}");
    }
    assert!(
        text.contains("COPY deploy/docker-entrypoint.sh"),
        "the entrypoint is in the image"
    );
}

#[test]
fn helm_chart_values_config_and_templates_agree() {
    let values = yaml("helm/tanso/values.yaml");
    let chart = yaml("helm/tanso/Chart.yaml");
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    let raw = config(str_of(&values, &["config"]), "values.yaml config");
    assert_eq!(raw.company_id, str_of(&values, &["company", "id"]));
    let port = |key: &str| values["ports"][key].as_u64().unwrap() as u16;
    assert_eq!(port_of(raw.listen.as_deref().unwrap()), port("grpc"));
    assert_eq!(port_of(raw.pact.listen.as_deref().unwrap()), port("pact"));
    assert_eq!(
        port_of(raw.metrics.listen.as_deref().unwrap()),
        port("metrics")
    );
    // The probe paths are the ops listener's real endpoints (served in the test below).
    assert_eq!(str_of(&values, &["probes", "liveness", "path"]), "/healthz");
    assert_eq!(str_of(&values, &["probes", "readiness", "path"]), "/readyz");
    for key in ["requests", "limits"] {
        assert!(
            values["resources"][key]["memory"].as_str().is_some(),
            "{key}"
        );
        assert!(!values["resources"][key]["cpu"].is_null(), "{key}");
    }
    let sts = read("helm/tanso/templates/statefulset.yaml");
    for needle in [
        "kind: StatefulSet",
        "replicas: 1",
        "volumeClaimTemplates:",
        "livenessProbe:",
        "readinessProbe:",
        "path: {{ .Values.probes.liveness.path }}",
        "path: {{ .Values.probes.readiness.path }}",
        "port: metrics",
        "containerPort: {{ .Values.ports.metrics }}",
        "containerPort: {{ .Values.ports.grpc }}",
        "secretName: {{ .Values.keySecret.name }}",
        "value: /etc/tanso/key/node.key",
        "mountPath: /etc/tanso/key",
        "value: /etc/tanso/config.toml",
        "mountPath: /etc/tanso/config.toml",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        // The home is a directory inside the (group-writable, fsGroup) volume, and the
        // volume's ownership is not re-applied to the key files on every mount.
        "value: /var/lib/tanso/home",
        "mountPath: /var/lib/tanso",
        "fsGroupChangePolicy: OnRootMismatch",
        "toYaml .Values.resources",
    ] {
        assert!(sts.contains(needle), "statefulset.yaml lacks {needle}");
    }
    // Every .Values path the templates use exists in values.yaml.
    let templates = deploy("helm/tanso/templates");
    for entry in std::fs::read_dir(templates).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (i, _) in text.match_indices(".Values.") {
            let path: String = text[i + 8..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            let mut v = &values;
            for key in path.split('.') {
                v = &v[key];
            }
            assert!(!v.is_null(), ".Values.{path} is not in values.yaml");
        }
    }
    assert!(
        read("helm/tanso/templates/service.yaml").contains("kind: Service"),
        "services"
    );
}

#[test]
fn systemd_unit_is_hardened() {
    let unit = read("systemd/tanso.service");
    let keys: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .collect();
    let value = |k: &str| keys.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    for (key, expected) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/tanso"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("RestartPreventExitStatus", "64 77"),
        ("Environment", "TANSO_HOME=/var/lib/tanso"),
    ] {
        assert_eq!(value(key), Some(expected), "{key}");
    }
    let exec = value("ExecStart").unwrap();
    assert!(exec.ends_with("serve --home /var/lib/tanso"), "{exec}");
    // The env file names what the first start's init needs.
    let env = read("systemd/tanso.env");
    for var in ["TANSO_COMPANY_ID", "TANSO_NAME", "TANSO_LISTEN"] {
        assert!(unit.contains(&format!("${var}")), "{var} used");
        assert!(env.contains(&format!("{var}=")), "{var} in tanso.env");
    }
}

/// The entrypoint (shell, as in the image) with `tanso` on the PATH and `env` set.
/// A spawned entrypoint, killed if the test panics before it is stopped (so a failed run
/// leaves no process holding the compose config's fixed ports).
struct Spawned(std::process::Child);

impl std::ops::Deref for Spawned {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn entrypoint(env: &[(&str, &Path)], home: &Path) -> Spawned {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tanso")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.arg(deploy("docker-entrypoint.sh"))
        .env_clear()
        .env("PATH", path)
        .env("TANSO_LOG", "info")
        .env("TANSO_HOME", home)
        .env("TANSO_COMPANY_ID", "urn:tanso:company:steel")
        .env("TANSO_NAME", "Steel Mill GmbH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Spawned(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).ok()?;
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    tcp.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_string()))
}

/// Runs the container entrypoint with compose's steel config, verbatim (fixed ports
/// 50051, 8443 and 9464 on 0.0.0.0), and probes what the image's HEALTHCHECK and the Helm
/// probes probe. A second start reuses the home without re-initialising it.
#[test]
fn entrypoint_serves_the_compose_config_and_answers_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let config_file = deploy("compose/steel.toml");
    let raw = config(&read("compose/steel.toml"), "steel.toml");
    let metrics = format!(
        "127.0.0.1:{}",
        port_of(raw.metrics.listen.as_deref().unwrap())
    );
    let mut key_before = None;
    for start in 0..2 {
        let mut child = entrypoint(&[("TANSO_CONFIG", &config_file)], &home);
        tests::wait_for_blocking(&format!("start {start}: ready"), || {
            if let Some((200, body)) = get(&metrics, "/readyz") {
                assert_eq!(body.trim(), "ready");
                return Some(());
            }
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).ok();
                panic!("start {start}: the entrypoint exited {status}: {err}");
            }
            None
        });
        // The installed config is the compose file, byte for byte.
        assert_eq!(
            std::fs::read_to_string(home.join("config.toml")).unwrap(),
            read("compose/steel.toml")
        );
        let key = std::fs::read(home.join("node.key")).unwrap();
        match &key_before {
            None => key_before = Some(key),
            Some(k) => assert_eq!(k, &key, "a restart must not re-initialise the home"),
        }
        assert_eq!(get(&metrics, "/healthz").map(|r| r.0), Some(200));
        let scrape = get(&metrics, "/metrics").unwrap().1;
        assert!(scrape.contains("tanso_store_size_bytes"), "{scrape}");
        // The binary (default features: jemalloc) exports the allocator's own figures.
        let gauge = |name: &str| {
            scrape
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {name} in {scrape}"))
        };
        let heap = gauge("tanso_allocator_allocated_bytes");
        let resident = gauge("tanso_allocator_resident_bytes");
        assert!(
            heap > 0.0 && resident >= heap,
            "heap {heap}, resident {resident}"
        );
        // The image's HEALTHCHECK command, as written in the Dockerfile.
        let health = dockerfile_healthcheck();
        let out = tanso().args(&health[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "HEALTHCHECK failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The peer and PACT ports of the config are bound.
        for listen in [raw.listen.as_deref(), raw.pact.listen.as_deref()] {
            let port = port_of(listen.unwrap());
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
                "port {port}"
            );
        }
        // `exec`: the entrypoint's process is the server; SIGTERM drains and exits 0.
        let status = Command::new("kill")
            .args(["-s", "TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(
            child.wait().unwrap().success(),
            "start {start}: exit status"
        );
    }
    // A failed probe fails the HEALTHCHECK (nothing listens any more).
    let health = dockerfile_healthcheck();
    let healthy = || {
        tanso()
            .args(&health[1..])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!healthy());

    // The relay role (on the same fixed ops port, so in this test, after the node): not
    // ready, and unhealthy for the image's HEALTHCHECK, until the status list of the
    // directory it trusts has arrived; then ready, with the advertised name on its card.
    let directory = dir.path().join("directory");
    let directory_home = directory.display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let init = tanso()
        .args(["directory", "init", "--home", &directory_home])
        .args(["--name", "assoc", "--listen", &listen])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let out = tanso()
        .args(["directory", "card", "--home", &directory_home])
        .output()
        .unwrap();
    assert!(out.status.success());
    let directory_card = dir.path().join("directory.json");
    std::fs::write(&directory_card, &out.stdout).unwrap();
    let relay_home = dir.path().join("relay");
    let relay_card = dir.path().join("relay.json");
    let env: Vec<(&str, std::path::PathBuf)> = vec![
        ("TANSO_ROLE", "relay".into()),
        ("TANSO_LISTEN", "127.0.0.1:0".into()),
        ("TANSO_ADVERTISE", "relay:50070".into()),
        ("TANSO_CARD_OUT", relay_card.clone()),
        ("TANSO_DIRECTORY_CARD", directory_card.clone()),
    ];
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    // The directory is not serving yet.
    let mut relay = entrypoint(&env, &relay_home);
    let exited = |relay: &mut Spawned| {
        if let Some(status) = relay.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(relay.stderr.as_mut().unwrap(), &mut err).ok();
            panic!("the relay entrypoint exited {status}: {err}");
        }
    };
    let unready = tests::wait_for_blocking("the relay's ops listener", || {
        let answer = get("127.0.0.1:9464", "/readyz");
        if answer.is_none() {
            exited(&mut relay);
        }
        answer
    });
    assert_eq!(unready.0, 503, "{unready:?}");
    assert!(unready.1.contains("status list"), "{unready:?}");
    assert_eq!(get("127.0.0.1:9464", "/healthz").map(|r| r.0), Some(200));
    assert!(!healthy(), "HEALTHCHECK fails while the relay is not ready");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&relay_card).unwrap()).unwrap();
    assert_eq!(card["endpoint"], "relay:50070");

    // The directory comes up: the relay fetches its status list by itself and is ready.
    let mut serving = tanso()
        .args(["directory", "serve", "--home", &directory_home])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tests::wait_for_blocking("the relay ready", || {
        if let Some((200, body)) = get("127.0.0.1:9464", "/readyz") {
            assert_eq!(body.trim(), "ready");
            return Some(());
        }
        exited(&mut relay);
        None
    });
    assert!(healthy(), "HEALTHCHECK passes once the relay is ready");
    let _ = Command::new("kill")
        .args(["-s", "TERM", &relay.id().to_string()])
        .status();
    assert!(relay.wait().unwrap().success());
    let _ = serving.kill();
    let _ = serving.wait();
}

#[test]
fn helm_host_chart_values_config_and_templates_agree() {
    let values = yaml("helm/tanso-host/values.yaml");
    let chart = yaml("helm/tanso-host/Chart.yaml");
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    // The host.toml the chart installs parses and validates with the real loader.
    let text = str_of(&values, &["config"]);
    let raw = node::host::RawHostConfig::parse(text, "values.yaml config")
        .unwrap_or_else(|e| panic!("{e}"));
    let config = raw
        .validate("values.yaml config", Path::new("/var/lib/tanso/home"))
        .unwrap_or_else(|e| panic!("{e}"));
    let port = |key: &str| values["ports"][key].as_u64().unwrap() as u16;
    assert_eq!(config.listen.unwrap().port(), port("grpc"));
    assert_eq!(config.pact_listen.unwrap().port(), port("pact"));
    assert_eq!(config.dashboard_listen.unwrap().port(), port("dashboard"));
    assert_eq!(config.metrics_listen.unwrap().port(), port("metrics"));
    // Every replica unseals with the same KEK, from the secret, through the env the config names.
    assert_eq!(
        config.kek,
        node::host::config::KekSource::Env("TANSO_HOST_KEK".into())
    );
    assert!(values["replicas"].as_u64().unwrap() > 1, "a fleet");
    let sts = read("helm/tanso-host/templates/statefulset.yaml");
    for needle in [
        "kind: StatefulSet",
        "replicas: {{ .Values.replicas }}",
        "value: host",
        "name: TANSO_HOST_KEK",
        "secretKeyRef:",
        "value: /etc/tanso/host.toml",
        "mountPath: /etc/tanso/host.toml",
        "volumeClaimTemplates:",
        "containerPort: {{ .Values.ports.grpc }}",
        "containerPort: {{ .Values.ports.dashboard }}",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "value: /var/lib/tanso/home",
    ] {
        assert!(sts.contains(needle), "statefulset.yaml lacks {needle}");
    }
    let templates = deploy("helm/tanso-host/templates");
    for entry in std::fs::read_dir(templates).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (i, _) in text.match_indices(".Values.") {
            let path: String = text[i + 8..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            let mut v = &values;
            for key in path.split('.') {
                v = &v[key];
            }
            assert!(!v.is_null(), ".Values.{path} is not in values.yaml");
        }
    }
    // The entrypoint's host role runs commands that exist.
    let host_side: Vec<Invocation> = invocations()
        .into_iter()
        .filter(|i| i.subcommand.first().map(String::as_str) == Some("host"))
        .collect();
    let used: BTreeSet<String> = host_side.iter().map(|i| i.subcommand.join(" ")).collect();
    for expected in ["host init", "host serve"] {
        assert!(used.contains(expected), "{expected} not used: {used:?}");
    }
    for inv in &host_side {
        check_exists(inv);
    }
}
