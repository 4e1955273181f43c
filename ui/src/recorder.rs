//! Recording a voice note with the webview's `MediaRecorder`, where the
//! platform's webview has one and a microphone is allowed. The length and
//! a waveform (the loudest sample of every tenth of a second, from an
//! `AnalyserNode`) are measured while recording, so nothing has to decode
//! the audio afterwards.

use crate::composer::Recording;
use crate::format;
use crate::icons::{Glyph, Icon};
use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Longest recording.
const MAX_RECORDING_MS: u64 = 30 * 60 * 1000;
/// How often loudness is sampled.
const SAMPLE_EVERY_MS: i32 = 100;
/// Bars kept in a voice note's waveform.
const WAVEFORM_BARS: usize = 64;

/// Whether this webview can record audio at all.
pub(crate) fn supported() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let has_recorder = js_sys::Reflect::get(&window, &JsValue::from_str("MediaRecorder"))
        .map(|v| !v.is_undefined())
        .unwrap_or(false);
    has_recorder && window.navigator().media_devices().is_ok()
}

/// A recording under way.
struct Session {
    recorder: web_sys::MediaRecorder,
    stream: web_sys::MediaStream,
    context: web_sys::AudioContext,
    analyser: web_sys::AnalyserNode,
    chunks: Rc<RefCell<Vec<web_sys::Blob>>>,
    /// Kept alive as long as the recorder may call it.
    _on_data: Closure<dyn FnMut(web_sys::BlobEvent)>,
    started_ms: u64,
}

impl Session {
    async fn start() -> Result<Session, String> {
        let no_microphone = |_| "No microphone is available to record with.".to_owned();
        let window = web_sys::window().ok_or("no window")?;
        let devices = window.navigator().media_devices().map_err(no_microphone)?;
        let constraints = web_sys::MediaStreamConstraints::new();
        constraints.set_audio(&JsValue::TRUE);
        let stream: web_sys::MediaStream = JsFuture::from(
            devices
                .get_user_media_with_constraints(&constraints)
                .map_err(no_microphone)?,
        )
        .await
        .map_err(no_microphone)?
        .dyn_into()
        .map_err(no_microphone)?;
        let recorder = web_sys::MediaRecorder::new_with_media_stream(&stream)
            .map_err(|_| "This system cannot record audio here.".to_owned())?;
        let chunks = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&chunks);
        let on_data = Closure::<dyn FnMut(web_sys::BlobEvent)>::new(move |event: web_sys::BlobEvent| {
            if let Some(blob) = event.data() {
                sink.borrow_mut().push(blob);
            }
        });
        recorder.set_ondataavailable(Some(on_data.as_ref().unchecked_ref()));
        let context = web_sys::AudioContext::new().map_err(|_| "No audio context.".to_owned())?;
        let analyser = context.create_analyser().map_err(|_| "No audio analyser.".to_owned())?;
        analyser.set_fft_size(512);
        context
            .create_media_stream_source(&stream)
            .and_then(|source| source.connect_with_audio_node(&analyser))
            .map_err(|_| "The microphone could not be measured.".to_owned())?;
        recorder
            .start_with_time_slice(250)
            .map_err(|_| "Recording could not start.".to_owned())?;
        Ok(Session {
            recorder,
            stream,
            context,
            analyser,
            chunks,
            _on_data: on_data,
            started_ms: ipc::now_ms(),
        })
    }

    /// The loudness now, 0-255.
    fn level(&self) -> u8 {
        let mut samples = vec![128u8; 512];
        self.analyser.get_byte_time_domain_data(&mut samples);
        let peak = samples.iter().map(|s| s.abs_diff(128)).max().unwrap_or(0);
        peak.saturating_mul(2)
    }

    /// Stops the recorder, and waits for its last bytes.
    async fn finish(self, waveform: Vec<u8>) -> Result<Recording, String> {
        let duration_ms = u32::try_from(ipc::now_ms().saturating_sub(self.started_ms)).unwrap_or(u32::MAX);
        let stopped = js_sys::Promise::new(&mut |resolve, _| {
            self.recorder.set_onstop(Some(&resolve));
        });
        let _ = self.recorder.stop();
        let _ = JsFuture::from(stopped).await;
        self.release();
        let parts = js_sys::Array::new();
        for blob in self.chunks.borrow().iter() {
            parts.push(blob);
        }
        let mime = self.recorder.mime_type();
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(&mime);
        let blob = web_sys::Blob::new_with_blob_sequence_and_options(&parts, &options)
            .map_err(|_| "The recording could not be kept.".to_owned())?;
        let buffer = JsFuture::from(blob.array_buffer())
            .await
            .map_err(|_| "The recording could not be read.".to_owned())?;
        Ok(Recording {
            bytes: js_sys::Uint8Array::new(&buffer),
            duration_ms,
            waveform: if waveform.len() > WAVEFORM_BARS {
                format::loudest_of_spans(&waveform, WAVEFORM_BARS)
            } else {
                waveform
            },
        })
    }

    /// Lets go of the microphone (and of the recorder, whose callbacks
    /// must not outlive this session).
    fn release(&self) {
        self.recorder.set_ondataavailable(None);
        if self.recorder.state() != web_sys::RecordingState::Inactive {
            let _ = self.recorder.stop();
        }
        for track in self.stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                track.stop();
            }
        }
        let _ = self.context.close();
    }
}

/// The recording bar that replaces the composer while recording: elapsed
/// time, a live level meter, Cancel and Send.
#[component]
pub(crate) fn VoiceRecorder(on_done: EventHandler<Option<Recording>>) -> Element {
    let ctx = use_context::<Ctx>();
    let session: Signal<Option<Rc<RefCell<Option<Session>>>>> = use_signal(|| None);
    let mut levels = use_signal(Vec::<u8>::new);
    let mut elapsed = use_signal(|| 0u64);

    // Set when the recorder goes away, so a microphone granted after that
    // (the permission prompt can take a while) is let go at once.
    let closed = use_hook(|| Rc::new(std::cell::Cell::new(false)));
    let closed_for_start = Rc::clone(&closed);
    use_hook(move || {
        let mut session = session;
        // Not tied to the component: it must see `closed` after an unmount.
        dioxus::core::spawn_forever(async move {
            match Session::start().await {
                Ok(started) if closed_for_start.get() => started.release(),
                Ok(started) => {
                    let started_ms = started.started_ms;
                    let shared = Rc::new(RefCell::new(Some(started)));
                    session.set(Some(Rc::clone(&shared)));
                    loop {
                        ipc::sleep_ms(SAMPLE_EVERY_MS).await;
                        if closed_for_start.get() {
                            break;
                        }
                        let level = match shared.borrow().as_ref() {
                            Some(live) => live.level(),
                            None => break,
                        };
                        levels.write().push(level);
                        elapsed.set(ipc::now_ms().saturating_sub(started_ms));
                        if *elapsed.peek() >= MAX_RECORDING_MS {
                            // The longest note: it is sent as it is.
                            let Some(live) = shared.borrow_mut().take() else { break };
                            let waveform = levels.peek().clone();
                            deliver(ctx, live, waveform, on_done).await;
                            break;
                        }
                    }
                }
                Err(message) if !closed_for_start.get() => {
                    ctx.say(message);
                    on_done.call(None);
                }
                Err(_) => {}
            }
        });
    });
    // Leaving the chat mid-recording lets go of the microphone.
    use_drop(move || {
        closed.set(true);
        if let Some(shared) = session.peek().as_ref()
            && let Some(live) = shared.borrow_mut().take()
        {
            live.release();
        }
    });

    let take = move || session.peek().as_ref().and_then(|shared| shared.borrow_mut().take());
    let recent: Vec<u8> = {
        let all = levels.read();
        all[all.len().saturating_sub(48)..].to_vec()
    };
    rsx! {
        div { class: "composer recording", id: "voice-recorder",
            button { class: "icon-button", title: "Discard", "aria-label": "Discard the recording",
                onclick: move |_| {
                    if let Some(live) = take() {
                        live.release();
                    }
                    on_done.call(None);
                },
                Icon { glyph: Glyph::Trash, size: 20 }
            }
            span { class: "recording-dot" }
            span { class: "voice-time", "{format::duration(elapsed())}" }
            div { class: "waveform live", "aria-hidden": "true",
                for (i, level) in recent.iter().enumerate() {
                    span { key: "{i}", class: "bar lit", style: "height:{12 + u32::from(*level) * 88 / 255}%" }
                }
            }
            button { class: "send", title: "Send the voice note", "aria-label": "Send the voice note",
                disabled: session.read().is_none(),
                onclick: move |_| {
                    let Some(live) = take() else { return };
                    let waveform = levels.peek().clone();
                    spawn(async move { deliver(ctx, live, waveform, on_done).await });
                },
                Icon { glyph: Glyph::Send, size: 18 }
            }
        }
    }
}

/// Ends a recording and hands it over (or says why not).
async fn deliver(ctx: Ctx, live: Session, waveform: Vec<u8>, on_done: EventHandler<Option<Recording>>) {
    match live.finish(waveform).await {
        Ok(recording) if recording.duration_ms >= 500 => on_done.call(Some(recording)),
        Ok(_) => {
            ctx.say("Hold on a little longer to record a voice note.");
            on_done.call(None);
        }
        Err(message) => {
            ctx.say(message);
            on_done.call(None);
        }
    }
}
