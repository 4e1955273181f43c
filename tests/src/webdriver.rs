//! A small W3C WebDriver client: enough to drive the real app through
//! `tauri-driver` (sessions, elements, keys, pointer actions, scripts,
//! screenshots).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The W3C key that element identifiers are stored under.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's code for the Enter key.
pub const ENTER: &str = "\u{E007}";
/// WebDriver's code for the Escape key.
pub const ESCAPE: &str = "\u{E00C}";

/// One WebDriver session.
#[derive(Debug)]
pub struct Session {
    http: reqwest::blocking::Client,
    base: String,
}

/// An element of the page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    /// Starts a session of the Tauri app at `application` with `args`.
    pub fn start(driver_port: u16, application: &Path, args: &[String]) -> Result<Session> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let root = format!("http://127.0.0.1:{driver_port}");
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "wry",
                "tauri:options": {"application": application, "args": args},
            }}
        });
        let answer: Value = http
            .post(format!("{root}/session"))
            .json(&capabilities)
            .send()
            .context("tauri-driver did not answer")?
            .json()?;
        let id = answer["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {answer}"))?
            .to_owned();
        Ok(Session {
            http,
            base: format!("{root}/session/{id}"),
        })
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send()?.json()?;
        if let Some(error) = answer["value"]["error"].as_str() {
            bail!("{error}: {}", answer["value"]["message"]);
        }
        Ok(answer["value"].clone())
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.call(reqwest::Method::GET, path, None)
    }

    /// The elements matching a CSS selector.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let found = self.post("/elements", json!({"using": "css selector", "value": css}))?;
        Ok(found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Result<Option<Element>> {
        Ok(self.find_all(css)?.into_iter().next())
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub fn wait(&self, css: &str, timeout: Duration) -> Result<Element> {
        crate::processes::wait_for(&format!("element {css}"), timeout, || self.find(css))
    }

    /// Clicks an element.
    pub fn click(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", element.0), json!({}))?;
        Ok(())
    }

    /// Types into an element.
    pub fn type_into(&self, element: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", element.0), json!({ "text": text }))?;
        Ok(())
    }

    /// Clears an input.
    pub fn clear(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/clear", element.0), json!({}))?;
        Ok(())
    }

    /// The text of an element. Read as `textContent`: WebKitWebDriver's
    /// "visible text" comes back empty for text with `dir="auto"`, which
    /// every user-written text in the app has (so RTL text shows right).
    pub fn text(&self, element: &Element) -> Result<String> {
        Ok(self
            .script("return arguments[0].textContent", vec![Self::arg(element)])?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Moves the pointer over an element (to reveal hover actions).
    pub fn hover(&self, element: &Element) -> Result<()> {
        let origin = json!({ ELEMENT_KEY: element.0 });
        self.post(
            "/actions",
            json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "duration": 0, "origin": origin, "x": 0, "y": 0}]
            }]}),
        )?;
        Ok(())
    }

    /// Runs a script with `args` and returns its result.
    pub fn script(&self, source: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({"script": source, "args": args}))
    }

    /// An element as a script argument.
    pub fn arg(element: &Element) -> Value {
        json!({ ELEMENT_KEY: element.0 })
    }

    /// The page title.
    pub fn title(&self) -> Result<String> {
        Ok(self.get("/title")?.as_str().unwrap_or_default().to_owned())
    }

    /// Saves a PNG screenshot of the window.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let data = self.get("/screenshot")?;
        let png = data_encoding::BASE64
            .decode(data.as_str().context("no screenshot data")?.as_bytes())
            .context("screenshot is not base64")?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Ends the session (closing the app).
    pub fn end(self) -> Result<()> {
        self.call(reqwest::Method::DELETE, "", None)?;
        Ok(())
    }
}

impl Drop for Session {
    /// A test that fails mid-way still closes its app, so the next test's
    /// driver gets a session (ending twice is harmless).
    fn drop(&mut self) {
        let _ = self.call(reqwest::Method::DELETE, "", None);
    }
}
