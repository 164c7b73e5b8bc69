//! Headless Chromium driven over the DevTools protocol, for tests that look at a page's
//! layout (element bounds, the viewport, a screenshot) rather than its DOM text alone.
//!
//! `--remote-debugging-pipe` makes Chromium read protocol commands on file descriptor 3 and
//! write answers and events on 4, each a JSON text ending in a NUL byte. A shell maps the
//! child's stdin and stdout onto those descriptors, so neither a WebSocket client nor an
//! unsafe `pre_exec` is needed. Every call has a deadline; a page condition is waited for by
//! a promise the page itself resolves (no sleeps here).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one protocol call may take.
const CALL_DEADLINE: Duration = Duration::from_secs(60);
/// How long [`Browser::wait_for`] lets the page take.
const WAIT_MS: u64 = 20_000;

/// One headless Chromium with one page (a fresh profile, deleted on drop).
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium and opens a blank page. Certificate errors are ignored (test nodes
    /// present self-signed certificates).
    pub fn start() -> Browser {
        let profile = tempfile::tempdir().expect("browser profile dir");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--ignore-certificate-errors",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
        let commands = child.stdin.take().expect("chromium stdin");
        let mut from = child.stdout.take().expect("chromium stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let message: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&message[..end])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            commands,
            answers,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = browser.send(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("target id").to_string();
        let attached = browser.send(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        browser
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_send(session, method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn try_send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).expect("json");
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .and_then(|()| self.commands.flush())
            .map_err(|e| format!("writing to chromium: {e}"))?;
        let deadline = Instant::now() + CALL_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .answers
                .recv_timeout(left)
                .map_err(|e| format!("no answer from chromium ({e})"))?;
            if answer["id"] != id {
                continue; // an event, or the answer to an earlier call
            }
            if let Some(error) = answer.get("error") {
                return Err(error.to_string());
            }
            return Ok(answer["result"].clone());
        }
    }

    /// A protocol call on the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Sets the page's viewport (CSS pixels, device scale 1; narrower than 600 px is a phone).
    pub fn viewport(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
        );
    }

    /// Sets the locale the page's `Intl` formats with by default (e.g. "de-DE").
    pub fn locale(&mut self, locale: &str) {
        self.call("Emulation.setLocaleOverride", json!({ "locale": locale }));
    }

    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating in the page: {e}\n{expression}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until the JavaScript `condition` is true in the page; panics naming `what` after
    /// 20 s. A navigation that replaces the document under the wait is waited out.
    pub fn wait_for(&mut self, condition: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        let script = format!(
            "new Promise((done) => {{ const t0 = Date.now(); const check = () => {{ \
               let ok = false; try {{ ok = !!({condition}); }} catch (e) {{}} \
               if (ok || Date.now() - t0 > {WAIT_MS}) done(ok); else setTimeout(check, 50); }}; check(); }})"
        );
        let session = self.session.clone();
        while Instant::now() < deadline {
            let params =
                json!({ "expression": script, "awaitPromise": true, "returnByValue": true });
            match self.try_send(Some(&session), "Runtime.evaluate", params) {
                Ok(r) if r["result"]["value"] == true => return,
                Ok(_) => break,
                // "Execution context was destroyed": the page navigated; ask the new document.
                Err(_) => continue,
            }
        }
        let url = self.eval("location.href");
        panic!("{what}: not seen within {WAIT_MS} ms (page {url})");
    }

    /// A PNG of the whole page (not just the viewport) written to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let (width, height) = (
            size["width"].as_f64().unwrap_or(800.0),
            size["height"].as_f64().unwrap_or(600.0),
        );
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
            }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "not a png");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
