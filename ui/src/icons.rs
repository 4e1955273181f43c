//! Line icons drawn inline (no icon font, no network): one stroke style.

use dioxus::prelude::*;

/// Which icon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Glyph {
    Chat,
    People,
    Laptop,
    Sliders,
    Compose,
    Info,
    Send,
    Smile,
    Reply,
    Trash,
    Close,
    Pin,
    Muted,
    Check,
    Pencil,
    Paperclip,
    File,
    Download,
    Mic,
    Play,
    Pause,
    ChevronLeft,
    ChevronRight,
    Expand,
}

fn paths(glyph: Glyph) -> &'static [&'static str] {
    match glyph {
        Glyph::Chat => &["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"],
        Glyph::People => &[
            "M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2",
            "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
            "M23 21v-2a4 4 0 0 0-3-3.87",
            "M16 3.13a4 4 0 0 1 0 7.75",
        ],
        Glyph::Laptop => &["M4 5h16v10H4z", "M2 19h20"],
        Glyph::Sliders => &[
            "M4 21v-7",
            "M4 10V3",
            "M12 21v-9",
            "M12 8V3",
            "M20 21v-5",
            "M20 12V3",
            "M1 14h6",
            "M9 8h6",
            "M17 16h6",
        ],
        Glyph::Compose => &["M12 20h9", "M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4z"],
        Glyph::Info => &["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 16v-4", "M12 8h.01"],
        Glyph::Send => &["M22 2 11 13", "M22 2l-7 20-4-9-9-4z"],
        Glyph::Smile => &[
            "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z",
            "M8 14s1.5 2 4 2 4-2 4-2",
            "M9 9h.01",
            "M15 9h.01",
        ],
        Glyph::Reply => &["M9 17l-5-5 5-5", "M20 18v-2a4 4 0 0 0-4-4H4"],
        Glyph::Trash => &[
            "M3 6h18",
            "M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6",
            "M10 11v6",
            "M14 11v6",
            "M9 6V4a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2",
        ],
        Glyph::Close => &["M18 6 6 18", "M6 6l12 12"],
        Glyph::Pin => &["M12 17v5", "M9 3h6l-1 7 3 4H7l3-4z"],
        Glyph::Muted => &[
            "M13.73 21a2 2 0 0 1-3.46 0",
            "M18.63 13A17.9 17.9 0 0 1 18 8",
            "M6.26 6.26A5.86 5.86 0 0 0 6 8c0 7-3 9-3 9h14",
            "M18 8a6 6 0 0 0-9.33-5",
            "M1 1l22 22",
        ],
        Glyph::Check => &["M20 6 9 17l-5-5"],
        Glyph::Pencil => &["M17 3a2.83 2.83 0 1 1 4 4L7.5 20.5 2 22l1.5-5.5z"],
        Glyph::Paperclip => &[
            "M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48",
        ],
        Glyph::File => &[
            "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z",
            "M14 2v6h6",
        ],
        Glyph::Download => &["M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4", "M7 10l5 5 5-5", "M12 15V3"],
        Glyph::Mic => &[
            "M12 1a3 3 0 0 0-3 3v8a3 3 0 0 0 6 0V4a3 3 0 0 0-3-3z",
            "M19 10v2a7 7 0 0 1-14 0v-2",
            "M12 19v4",
            "M8 23h8",
        ],
        Glyph::Play => &["M6 3l14 9-14 9z"],
        Glyph::Pause => &["M6 4h4v16H6z", "M14 4h4v16h-4z"],
        Glyph::ChevronLeft => &["M15 18l-6-6 6-6"],
        Glyph::ChevronRight => &["M9 18l6-6-6-6"],
        Glyph::Expand => &["M15 3h6v6", "M9 21H3v-6", "M21 3l-7 7", "M3 21l7-7"],
    }
}

/// An icon `size` pixels wide, in the current text colour.
#[component]
pub(crate) fn Icon(glyph: Glyph, size: u32) -> Element {
    rsx! {
        svg {
            class: "icon",
            width: "{size}",
            height: "{size}",
            view_box: "0 0 24 24",
            fill: "none",
            stroke: "currentColor",
            stroke_width: "2",
            stroke_linecap: "round",
            stroke_linejoin: "round",
            "aria-hidden": "true",
            for d in paths(glyph) {
                path { d: "{d}" }
            }
        }
    }
}
