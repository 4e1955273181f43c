//! The conversion pipeline: decode, upright, scale, VP8 + Opus in WebM,
//! with a poster frame taken on the way and the source's tags dropped.

use crate::probe::{init, probe, uri_of};
use crate::{Frame, OutputPlan, Transcoded, VideoError};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The poster is the frame this far in (or a third of a shorter video).
const POSTER_AT: gst::ClockTime = gst::ClockTime::from_seconds(1);
/// Time allowed besides the video's own length.
const BASE_TIMEOUT: Duration = Duration::from_secs(60);

/// An element, or a clear error naming it and the package that has it.
fn element(factory: &str) -> Result<gst::Element, VideoError> {
    gst::ElementFactory::make(factory).build().map_err(|_| {
        let package = match factory {
            "vp8enc" | "webmmux" | "videoflip" => "gstreamer1.0-plugins-good",
            _ => "gstreamer1.0-plugins-base",
        };
        VideoError::Unavailable(format!(
            "the GStreamer element {factory} is missing (Debian package {package})"
        ))
    })
}

fn failed(err: impl std::fmt::Display) -> VideoError {
    VideoError::Failed(err.to_string())
}

/// Converts the video at `input`, writing WebM to `output`.
pub fn transcode(input: &Path, output: &Path) -> Result<Transcoded, VideoError> {
    init()?;
    let source = probe(input)?;
    let plan = OutputPlan::for_source(
        source.width,
        source.height,
        source.rotated,
        source.duration_ms,
        source.has_audio,
    );
    let pipeline = gst::Pipeline::new();
    let decode = element("uridecodebin")?;
    decode.set_property("uri", uri_of(input)?);

    // Video: upright, scaled, then split to the encoder and the poster.
    let video_queue = element("queue")?;
    let flip = element("videoflip")?;
    flip.set_property_from_str("video-direction", "auto");
    let convert = element("videoconvert")?;
    let scale = element("videoscale")?;
    let sized = element("capsfilter")?;
    sized.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", i32::try_from(plan.width).map_err(failed)?)
            .field("height", i32::try_from(plan.height).map_err(failed)?)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let tee = element("tee")?;
    let encode_queue = element("queue")?;
    let encode_convert = element("videoconvert")?;
    let vp8 = element("vp8enc")?;
    // Real-time mode: a phone clip converts in about its own length here.
    vp8.set_property("deadline", 1i64);
    vp8.set_property("cpu-used", 8i32);
    vp8.set_property("threads", 2i32);
    vp8.set_property("keyframe-max-dist", 60i32);
    vp8.set_property("target-bitrate", i32::try_from(plan.video_bitrate).map_err(failed)?);
    let mux = element("webmmux")?;
    let sink = element("filesink")?;
    sink.set_property("location", output.to_string_lossy().as_ref());
    let poster_queue = element("queue")?;
    let poster_convert = element("videoconvert")?;
    let poster_caps = element("capsfilter")?;
    poster_caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw").field("format", "RGBA").build(),
    );
    let poster_sink = element("fakesink")?;
    poster_sink.set_property("sync", false);

    let video_chain = [&video_queue, &flip, &convert, &scale, &sized, &tee];
    let encode_chain = [&encode_queue, &encode_convert, &vp8, &mux, &sink];
    let poster_chain = [&poster_queue, &poster_convert, &poster_caps, &poster_sink];
    pipeline
        .add_many([&decode])
        .and_then(|()| pipeline.add_many(video_chain))
        .and_then(|()| pipeline.add_many(encode_chain))
        .and_then(|()| pipeline.add_many(poster_chain))
        .map_err(failed)?;
    gst::Element::link_many(video_chain).map_err(failed)?;
    gst::Element::link_many(encode_chain).map_err(failed)?;
    gst::Element::link_many(poster_chain).map_err(failed)?;
    tee.link(&encode_queue).map_err(failed)?;
    tee.link(&poster_queue).map_err(failed)?;
    drop_tags(&vp8)?;

    // Sound, when the source has it.
    let audio_queue = if source.has_audio {
        let queue = element("queue")?;
        let convert = element("audioconvert")?;
        let resample = element("audioresample")?;
        let opus = element("opusenc")?;
        opus.set_property("bitrate", i32::try_from(crate::plan::AUDIO_BITRATE).map_err(failed)?);
        let chain = [&queue, &convert, &resample, &opus];
        pipeline.add_many(chain).map_err(failed)?;
        gst::Element::link_many(chain).map_err(failed)?;
        opus.link(&mux).map_err(failed)?;
        drop_tags(&opus)?;
        Some(queue)
    } else {
        None
    };

    // The decoder's streams appear once it has read the container.
    let video_in = video_queue
        .static_pad("sink")
        .ok_or_else(|| failed("queue without a sink pad"))?;
    let audio_in = audio_queue.as_ref().and_then(|queue| queue.static_pad("sink"));
    // A stream the probe saw may have no decoder here: once the decoder
    // has added all it can, a branch left unlinked is ended so the muxer
    // does not wait for it until the time limit.
    let (video_end, audio_end) = (video_in.clone(), audio_in.clone());
    decode.connect_no_more_pads(move |_| {
        for pad in [Some(&video_end), audio_end.as_ref()].into_iter().flatten() {
            if !pad.is_linked() {
                pad.send_event(gst::event::Eos::new());
            }
        }
    });
    // Whether a decoded video stream arrived (the pads are gone once the
    // pipeline stops, so it is noted when they are linked).
    let video_linked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let video_seen = Arc::clone(&video_linked);
    decode.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(media) = caps.structure(0).map(|s| s.name().to_string()) else {
            return;
        };
        let target = if media.starts_with("video/") {
            Some(&video_in)
        } else if media.starts_with("audio/") {
            audio_in.as_ref()
        } else {
            None
        };
        if let Some(target) = target.filter(|target| !target.is_linked()) {
            match pad.link(target) {
                Ok(_) if media.starts_with("video/") => video_seen.store(true, std::sync::atomic::Ordering::SeqCst),
                Ok(_) => {}
                Err(err) => tracing::warn!(?err, media, "could not link a decoded stream"),
            }
        }
    });

    let poster = capture_poster(&poster_queue, &poster_sink, plan, source.duration_ms)?;
    let limit = BASE_TIMEOUT + Duration::from_millis(source.duration_ms.saturating_mul(3));
    let outcome = run(&pipeline, limit);
    // Whatever happened, the pipeline lets go of the files.
    let _ = pipeline.set_state(gst::State::Null);
    outcome?;
    if !video_linked.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(VideoError::Unavailable(
            "no decoder for its video here (Debian: gstreamer1.0-libav, gstreamer1.0-plugins-good)".into(),
        ));
    }

    let written = std::fs::metadata(output).map_err(failed)?.len();
    if written == 0 {
        return Err(failed("nothing was written"));
    }
    if written > crate::MAX_OUTPUT_BYTES {
        return Err(failed(format!("the result is {written} bytes, over the limit")));
    }
    let poster = poster.lock().unwrap_or_else(PoisonError::into_inner).frame.take();
    Ok(Transcoded {
        width: plan.width,
        height: plan.height,
        duration_ms: u32::try_from(source.duration_ms).map_err(failed)?,
        has_audio: source.has_audio,
        poster,
    })
}

/// Drops tag events leaving an encoder: the source's title, location,
/// camera and dates never reach the muxer.
fn drop_tags(encoder: &gst::Element) -> Result<(), VideoError> {
    let pad = encoder
        .static_pad("src")
        .ok_or_else(|| failed("encoder without a src pad"))?;
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| match info.event() {
        Some(event) if event.type_() == gst::EventType::Tag => gst::PadProbeReturn::Drop,
        _ => gst::PadProbeReturn::Ok,
    });
    Ok(())
}

#[derive(Default)]
struct PosterState {
    frame: Option<Frame>,
    done: bool,
}

/// Keeps the frame at [`POSTER_AT`] (or a third in), then stops feeding
/// the poster branch so it costs nothing for the rest of the video.
fn capture_poster(
    queue: &gst::Element,
    sink: &gst::Element,
    plan: OutputPlan,
    duration_ms: u64,
) -> Result<Arc<Mutex<PosterState>>, VideoError> {
    let state = Arc::new(Mutex::new(PosterState::default()));
    let at = POSTER_AT.min(gst::ClockTime::from_mseconds(duration_ms / 3));
    let gate = Arc::clone(&state);
    queue
        .static_pad("sink")
        .ok_or_else(|| failed("queue without a sink pad"))?
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if gate.lock().unwrap_or_else(PoisonError::into_inner).done {
                gst::PadProbeReturn::Drop
            } else {
                gst::PadProbeReturn::Ok
            }
        });
    let keep = Arc::clone(&state);
    let expected = (plan.width as usize) * (plan.height as usize) * 4;
    sink.static_pad("sink")
        .ok_or_else(|| failed("fakesink without a sink pad"))?
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let mut state = keep.lock().unwrap_or_else(PoisonError::into_inner);
            if state.done {
                return gst::PadProbeReturn::Ok;
            }
            if let Ok(map) = buffer.map_readable()
                && map.len() == expected
            {
                state.frame = Some(Frame {
                    width: plan.width,
                    height: plan.height,
                    rgba: map.as_slice().to_vec(),
                });
            }
            if buffer.pts().is_none_or(|pts| pts >= at) {
                state.done = true;
            }
            gst::PadProbeReturn::Ok
        });
    Ok(state)
}

/// Plays the pipeline to its end, or to an error or the time limit.
fn run(pipeline: &gst::Pipeline, limit: Duration) -> Result<(), VideoError> {
    let bus = pipeline.bus().ok_or_else(|| failed("pipeline without a bus"))?;
    pipeline.set_state(gst::State::Playing).map_err(|_| {
        // The reason is on the bus.
        let reason = bus
            .timed_pop_filtered(gst::ClockTime::from_mseconds(100), &[gst::MessageType::Error])
            .and_then(|message| match message.view() {
                gst::MessageView::Error(err) => Some(err.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "the pipeline did not start".into());
        VideoError::Unreadable(reason)
    })?;
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(failed("it took too long"));
        }
        let wait = gst::ClockTime::from_mseconds(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        let Some(message) = bus.timed_pop_filtered(wait, &[gst::MessageType::Eos, gst::MessageType::Error]) else {
            continue;
        };
        match message.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(err) => {
                let details = err.debug().map(|d| d.to_string()).unwrap_or_default();
                tracing::debug!(%details, "video conversion failed");
                let error = err.error();
                if error.matches(gst::CoreError::MissingPlugin) || error.matches(gst::StreamError::CodecNotFound) {
                    return Err(VideoError::Unavailable(format!(
                        "{error} (Debian: gstreamer1.0-libav, gstreamer1.0-plugins-good)"
                    )));
                }
                return Err(failed(error));
            }
            _ => {}
        }
    }
}
