//! The only way the UI reaches the shell: typed commands from `kith-api`
//! over Tauri's `invoke`, and one event channel.

use kith_api::{ApiError, ApiErrorKind, AppEvent, Command, SubscribeEvents};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "core"], js_name = invoke)]
    async fn tauri_invoke(command: &str, payload: JsValue) -> Result<JsValue, JsValue>;
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, ApiError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|err| ApiError::internal(format!("could not encode the request: {err}")))
}

/// What the shell's rejection says: an [`ApiError`], or a plain string from
/// Tauri itself (unknown command, arguments that do not decode).
fn rejection(value: JsValue) -> ApiError {
    if let Ok(error) = serde_wasm_bindgen::from_value::<ApiError>(value.clone()) {
        return error;
    }
    let message = value
        .as_string()
        .or_else(|| {
            js_sys::Reflect::get(&value, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "The app did not answer.".to_owned());
    ApiError::new(ApiErrorKind::Internal, message)
}

/// Calls the command `C` with `args`.
pub(crate) async fn call<C: Command>(args: &C) -> Result<C::Output, ApiError> {
    let payload = js_sys::Object::new();
    set(&payload, "args", &to_js(args)?)?;
    let value = tauri_invoke(C::NAME, payload.into()).await.map_err(rejection)?;
    serde_wasm_bindgen::from_value(value)
        .map_err(|err| ApiError::internal(format!("could not read the answer to {}: {err}", C::NAME)))
}

fn set(target: &js_sys::Object, key: &str, value: &JsValue) -> Result<(), ApiError> {
    js_sys::Reflect::set(target, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|_| ApiError::internal("could not build the request"))
}

fn tauri_core() -> Result<JsValue, ApiError> {
    let window = web_sys::window().ok_or_else(|| ApiError::internal("no window"))?;
    let tauri = js_sys::Reflect::get(&window, &JsValue::from_str("__TAURI__"))
        .ok()
        .filter(|v| !v.is_undefined())
        .ok_or_else(|| ApiError::internal("Kith's interface runs inside the Kith app."))?;
    js_sys::Reflect::get(&tauri, &JsValue::from_str("core")).map_err(|_| ApiError::internal("no Tauri core"))
}

/// Opens the event stream: `on_event` runs for every event, in order.
pub(crate) async fn subscribe(on_event: impl FnMut(AppEvent) + 'static) -> Result<(), ApiError> {
    let core = tauri_core()?;
    let constructor: js_sys::Function = js_sys::Reflect::get(&core, &JsValue::from_str("Channel"))
        .ok()
        .and_then(|c| c.dyn_into().ok())
        .ok_or_else(|| ApiError::internal("no Tauri channel"))?;
    let channel = js_sys::Reflect::construct(&constructor, &js_sys::Array::new())
        .map_err(|_| ApiError::internal("could not open the event channel"))?;
    let mut on_event = on_event;
    let callback = Closure::<dyn FnMut(JsValue)>::new(move |value: JsValue| {
        match serde_wasm_bindgen::from_value::<AppEvent>(value) {
            Ok(event) => on_event(event),
            Err(err) => web_sys::console::warn_1(&JsValue::from_str(&format!("unreadable event: {err}"))),
        }
    });
    js_sys::Reflect::set(&channel, &JsValue::from_str("onmessage"), callback.as_ref())
        .map_err(|_| ApiError::internal("could not listen to the event channel"))?;
    // The channel lives as long as the page.
    callback.forget();
    let payload = js_sys::Object::new();
    set(&payload, "args", &to_js(&SubscribeEvents {})?)?;
    set(&payload, "onEvent", &channel)?;
    tauri_invoke(SubscribeEvents::NAME, payload.into())
        .await
        .map_err(rejection)?;
    Ok(())
}

/// Milliseconds since the Unix epoch, from the webview's clock.
pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Resolves after `ms` milliseconds.
pub(crate) async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Copies text to the clipboard (best effort).
pub(crate) fn copy_to_clipboard(text: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}

/// Calls the command `C`, whose bytes travel as the raw request body after
/// its arguments (see [`kith_api::raw_body`]); the bytes stay in JavaScript
/// memory all the way.
pub(crate) async fn call_with_bytes<C: Command>(args: &C, bytes: &js_sys::Uint8Array) -> Result<C::Output, ApiError> {
    let header = kith_api::raw_body::header(args)?;
    let header_len = u32::try_from(header.len()).map_err(|_| ApiError::internal("arguments too long"))?;
    let body = js_sys::Uint8Array::new_with_length(header_len + bytes.length());
    body.set(&js_sys::Uint8Array::from(header.as_slice()), 0);
    body.set(bytes, header_len);
    let value = tauri_invoke(C::NAME, body.into()).await.map_err(rejection)?;
    serde_wasm_bindgen::from_value(value)
        .map_err(|err| ApiError::internal(format!("could not read the answer to {}: {err}", C::NAME)))
}

/// The contents of a file the person picked, dropped or pasted.
pub(crate) async fn file_bytes(file: &web_sys::File) -> Result<js_sys::Uint8Array, ApiError> {
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| ApiError::invalid(format!("{} could not be read.", file.name())))?;
    Ok(js_sys::Uint8Array::new(&buffer))
}

/// The URL under which the shell serves a picture or voice note (the
/// `kith-media` protocol; its form differs between platforms, which
/// Tauri's `convertFileSrc` knows).
pub(crate) fn media_url(hash: &str) -> String {
    let converted = tauri_core().ok().and_then(|core| {
        let convert: js_sys::Function = js_sys::Reflect::get(&core, &JsValue::from_str("convertFileSrc"))
            .ok()?
            .dyn_into()
            .ok()?;
        convert
            .call2(
                &JsValue::NULL,
                &JsValue::from_str(hash),
                &JsValue::from_str("kith-media"),
            )
            .ok()?
            .as_string()
    });
    converted.unwrap_or_else(|| format!("kith-media://localhost/{hash}"))
}

/// A `blob:` URL holding a voice note's or video's bytes, for `<audio>`
/// and `<video>`: WebKitGTK's media player (GStreamer) cannot read the
/// `kith-media` scheme, but the page can, and the player reads blobs.
/// The caller revokes it ([`revoke_blob_url`]) when the element goes.
pub(crate) async fn media_blob_url(hash: &str) -> Result<String, ApiError> {
    let failed = |what: &str| ApiError::internal(format!("The media could not be loaded ({what})."));
    let window = web_sys::window().ok_or_else(|| failed("no window"))?;
    let response: web_sys::Response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(&media_url(hash)))
        .await
        .map_err(|_| failed("not reachable"))?
        .dyn_into()
        .map_err(|_| failed("not a response"))?;
    if !response.ok() {
        return Err(match response.status() {
            404 => ApiError::invalid("The file is not on this device yet."),
            _ => failed(&format!("status {}", response.status())),
        });
    }
    let blob: web_sys::Blob = wasm_bindgen_futures::JsFuture::from(response.blob().map_err(|_| failed("no body"))?)
        .await
        .map_err(|_| failed("unreadable body"))?
        .dyn_into()
        .map_err(|_| failed("not a blob"))?;
    web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| failed("no object URL"))
}

/// Frees a URL made by [`media_blob_url`].
pub(crate) fn revoke_blob_url(url: &str) {
    let _ = web_sys::Url::revoke_object_url(url);
}
