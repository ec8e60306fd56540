//! A real headless Chromium (Debian's `chromium` package) driven over the
//! DevTools protocol with chromiumoxide, for the status page's tests and
//! benchmark. It records what a reviewer would open DevTools for: every
//! request the page makes (with its transfer size), the response headers,
//! console errors, uncaught exceptions and the browser's own log (CSP
//! violations, failed loads).
//!
//! The calls block: each drives the browser on a runtime of its own, so the
//! tests read like the other end-to-end ones and poll with `poll::until`.
//! Chromium missing is a failure with the command that installs it, never
//! a skipped test.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::IntoEventKind;
use chromiumoxide::cdp::browser_protocol::browser::{
    SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::log::{EventEntryAdded, LogEntryLevel};
use chromiumoxide::cdp::browser_protocol::network::{
    EnableParams, EventLoadingFinished, EventRequestWillBeSent, EventResponseReceived,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::element::Element;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::poll;

/// Where the browser is, unless `CRONDUCT_CHROMIUM` says otherwise.
const CHROMIUM: &str = "/usr/bin/chromium";

/// One request the page made.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: String,
    pub url: String,
    /// The answer's status and headers, once it came.
    pub status: Option<i64>,
    pub headers: Value,
    /// The request's head in bytes (request line and headers, as the
    /// page set them; the browser may add a few).
    pub sent: usize,
    /// The answer's bytes on the wire (its head and its body as sent,
    /// compressed or not), once it came; updated when loading finished.
    pub transferred: Option<f64>,
}

#[derive(Default)]
struct Recorded {
    requests: Vec<Request>,
    errors: Vec<String>,
}

impl Recorded {
    /// The latest request with the browser's `id` (a redirect reuses it).
    fn request(&mut self, id: &str) -> Option<&mut Request> {
        self.requests.iter_mut().rev().find(|q| q.id == id)
    }
}

pub struct Chrome {
    rt: tokio::runtime::Runtime,
    browser: Browser,
    page: Page,
    recorded: Arc<Mutex<Recorded>>,
    _profile: tempfile::TempDir,
}

fn chromium_path() -> PathBuf {
    let path = std::env::var_os("CRONDUCT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    assert!(
        path.exists(),
        "\n\n*** Chromium is not installed ({}): the status page's browser tests \
         cannot run and do NOT pass. Install it with `sudo scripts/test-deps.sh` \
         (Debian's `chromium` package), or point CRONDUCT_CHROMIUM at a Chromium. ***\n",
        path.display()
    );
    path
}

impl Chrome {
    /// A fresh headless Chromium (new profile, no network of its own)
    /// with one blank page of `width` × `height` CSS pixels.
    pub fn launch(width: u32, height: u32) -> Chrome {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let profile = tempfile::tempdir().expect("a profile dir");
        let config = BrowserConfig::builder()
            .chrome_executable(chromium_path())
            .user_data_dir(profile.path())
            .no_sandbox()
            .window_size(width, height)
            .viewport(None)
            .args([
                "disable-gpu",
                "disable-quic",
                "no-first-run",
                "disable-background-networking",
                "disable-component-update",
                "disable-sync",
                "disable-default-apps",
            ])
            // A new headless Chromium loads its address bar's popup (a page
            // of its own, some 700 ms of CPU) in every new profile, while
            // the first page loads: on two cores that is half of a
            // measured first load. Headless, the popup is never shown.
            .arg((
                "disable-features",
                &[
                    "WebUIOmniboxPopup",
                    "WebUIOmniboxFullPopup",
                    "WebUIOmniboxAimPopup",
                ][..],
            ))
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(30))
            .build()
            .expect("a browser config");
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let (browser, page) = rt.block_on(async {
            let (browser, mut handler) = Browser::launch(config)
                .await
                .expect("Chromium starts (see the flags in tests/it/support/browser.rs)");
            tokio::spawn(async move { while handler.next().await.is_some() {} });
            let page = browser.new_page("about:blank").await.expect("a page");
            page.execute(EnableParams::default())
                .await
                .expect("Network.enable");
            page.enable_log().await.expect("Log.enable");
            page.enable_runtime().await.expect("Runtime.enable");
            record(&page, &recorded).await;
            (browser, page)
        });
        let chrome = Chrome {
            rt,
            browser,
            page,
            recorded,
            _profile: profile,
        };
        chrome.resize(width, height, false);
        chrome
    }

    /// Emulates a screen `width` × `height` wide (`mobile`: a phone's
    /// viewport rules).
    pub fn resize(&self, width: u32, height: u32, mobile: bool) {
        self.rt
            .block_on(self.page.execute(SetDeviceMetricsOverrideParams::new(
                width, height, 1.0, mobile,
            )))
            .expect("Emulation.setDeviceMetricsOverride");
    }

    /// Runs `js` in every document before its own scripts (to give a
    /// benchmark's page its key without the prompt).
    #[allow(
        dead_code,
        reason = "benches/ui.rs uses it; the tests go through the key prompt"
    )]
    pub fn before_each_document(&self, js: &str) {
        self.rt
            .block_on(self.page.evaluate_on_new_document(js))
            .expect("Page.addScriptToEvaluateOnNewDocument");
    }

    pub fn goto(&self, url: &str) {
        self.rt
            .block_on(self.page.goto(url))
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The value of a JavaScript expression, passed through JSON (so
    /// `null` and `undefined` arrive as `None`/`Value::Null`).
    pub fn eval<T: DeserializeOwned>(&self, js: &str) -> T {
        let wrapped = format!("JSON.stringify(({js}) ?? null)");
        let result = self
            .rt
            .block_on(self.page.evaluate(wrapped))
            .unwrap_or_else(|e| panic!("cannot evaluate {js}: {e}"));
        let text: String = result
            .into_value()
            .unwrap_or_else(|e| panic!("{js} gave no JSON: {e}"));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{js} gave an unexpected value {text}: {e}"))
    }

    /// Waits until `js` evaluates to something other than null, false or
    /// undefined, and returns it.
    pub fn wait(&self, what: &str, within: Duration, js: &str) -> Value {
        let probe =
            format!("(() => {{ try {{ return ({js}) ?? null; }} catch {{ return null; }} }})()");
        poll::within(within, || {
            let v: Value = self.eval(&probe);
            (!v.is_null() && v != Value::Bool(false)).then_some(v)
        })
        .unwrap_or_else(|| {
            let text: Value = self.eval("document.body ? document.body.innerText : null");
            panic!(
                "timed out after {within:?} waiting for {what} ({js}); the page shows:\n{}\nbrowser errors: {:#?}",
                text.as_str().unwrap_or(""),
                self.errors()
            )
        })
    }

    /// The element `css` selects; the test fails when there is none.
    async fn element(&self, css: &str) -> Element {
        self.page
            .find_element(css)
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Clicks the element `css` selects, with the mouse, as a user would.
    pub fn click(&self, css: &str) {
        self.try_click(css)
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// click(), or why not: no such element, or the page replaced it
    /// between finding and clicking it (a refresh redrew the table).
    pub fn try_click(&self, css: &str) -> Result<(), String> {
        self.rt.block_on(async {
            let el = self
                .page
                .find_element(css)
                .await
                .map_err(|e| e.to_string())?;
            el.click().await.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    /// Focuses `css` and types `text` into it, key by key.
    pub fn type_into(&self, css: &str, text: &str) {
        self.rt.block_on(async {
            let el = self.element(css).await;
            el.focus()
                .await
                .unwrap_or_else(|e| panic!("cannot focus {css}: {e}"));
            el.type_str(text)
                .await
                .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
        });
    }

    /// Presses `key` (e.g. "Enter") in the element `css` selects.
    pub fn press(&self, css: &str, key: &str) {
        self.rt.block_on(async {
            let el = self.element(css).await;
            el.press_key(key)
                .await
                .unwrap_or_else(|e| panic!("cannot press {key} in {css}: {e}"));
        });
    }

    /// Saves the page's downloads into `dir` under the names the page
    /// gave them, as a person's "Save" would.
    pub fn download_into(&self, dir: &Path) {
        let params = SetDownloadBehaviorParams::builder()
            .behavior(SetDownloadBehaviorBehavior::Allow)
            .download_path(dir.display().to_string())
            .build()
            .expect("download parameters");
        self.rt
            .block_on(self.browser.execute(params))
            .expect("Browser.setDownloadBehavior");
    }

    /// A PNG of the whole page, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self
            .rt
            .block_on(
                self.page
                    .screenshot(ScreenshotParams::builder().full_page(true).build()),
            )
            .expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot's directory");
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Every request the page made so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.recorded.lock().expect("recorded").requests.clone()
    }

    /// Console errors, uncaught exceptions and error entries of the
    /// browser's log (failed loads, CSP violations), oldest first.
    pub fn errors(&self) -> Vec<String> {
        self.recorded.lock().expect("recorded").errors.clone()
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                let _ = self.browser.close().await;
                let _ = self.browser.wait().await;
            })
            .await
        });
    }
}

/// Starts the tasks that copy the page's events into `recorded`.
async fn record(page: &Page, recorded: &Arc<Mutex<Recorded>>) {
    on::<EventRequestWillBeSent>(page, recorded, |rec, e| {
        let head = e.request.headers.inner().as_object().map_or(0, |h| {
            h.iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len) + 4)
                .sum()
        });
        let sent = e.request.method.len() + e.request.url.len() + 12 + head;
        rec.requests.push(Request {
            id: e.request_id.inner().clone(),
            sent,
            url: e.request.url.clone(),
            status: None,
            headers: Value::Null,
            transferred: None,
        });
    })
    .await;
    on::<EventResponseReceived>(page, recorded, |rec, e| {
        if let Some(req) = rec.request(e.request_id.inner()) {
            req.status = Some(e.response.status);
            req.headers = e.response.headers.inner().clone();
            req.transferred = Some(e.response.encoded_data_length);
        }
    })
    .await;
    on::<EventLoadingFinished>(page, recorded, |rec, e| {
        if let Some(req) = rec.request(e.request_id.inner()) {
            req.transferred = Some(req.transferred.unwrap_or(0.0).max(e.encoded_data_length));
        }
    })
    .await;
    on::<EventConsoleApiCalled>(page, recorded, |rec, e| {
        if matches!(
            e.r#type,
            ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
        ) {
            let args: Vec<String> = e
                .args
                .iter()
                .map(|a| {
                    a.value
                        .as_ref()
                        .map(|v| v.to_string())
                        .or_else(|| a.description.clone())
                        .unwrap_or_default()
                })
                .collect();
            rec.errors
                .push(format!("console.error: {}", args.join(" ")));
        }
    })
    .await;
    on::<EventExceptionThrown>(page, recorded, |rec, e| {
        let d = &e.exception_details;
        let what = d
            .exception
            .as_ref()
            .and_then(|x| x.description.clone())
            .unwrap_or_else(|| d.text.clone());
        rec.errors
            .push(format!("uncaught: {what} at {:?}:{}", d.url, d.line_number));
    })
    .await;
    on::<EventEntryAdded>(page, recorded, |rec, e| {
        if matches!(e.entry.level, LogEntryLevel::Error) {
            rec.errors.push(format!(
                "log ({:?}): {} {}",
                e.entry.source,
                e.entry.text,
                e.entry.url.clone().unwrap_or_default()
            ));
        }
    })
    .await;
}

/// Subscribes to the page's events of kind `E` and hands each one, with
/// `recorded` locked, to `note` on a task of its own.
async fn on<E>(
    page: &Page,
    recorded: &Arc<Mutex<Recorded>>,
    mut note: impl FnMut(&mut Recorded, &E) + Send + 'static,
) where
    E: IntoEventKind + Unpin + Send + Sync + 'static,
{
    let mut events = page
        .event_listener::<E>()
        .await
        .unwrap_or_else(|e| panic!("listen to {}: {e}", std::any::type_name::<E>()));
    let recorded = recorded.clone();
    tokio::spawn(async move {
        while let Some(e) = events.next().await {
            note(&mut recorded.lock().expect("recorded"), &e);
        }
    });
}
