//! A round picture, or initials on a colour derived from the name.

use crate::format::{hue, initials};
use dioxus::prelude::*;

/// An avatar.
#[component]
pub(crate) fn Avatar(name: String, seed: String, url: Option<String>, size: u32) -> Element {
    let style = format!("width:{size}px;height:{size}px;font-size:{}px", size * 2 / 5);
    match url {
        Some(url) => rsx! {
            img { class: "avatar", style: "{style}", src: "{url}", alt: "{name}" }
        },
        None => {
            let colour = format!("{style};background:hsl({} 55% 45%)", hue(&seed));
            let letters = initials(&name);
            rsx! { div { class: "avatar initials", style: "{colour}", "{letters}" } }
        }
    }
}
