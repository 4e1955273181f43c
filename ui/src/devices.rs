//! This account's devices: list, link a new one, revoke.

use crate::ipc;
use crate::state::Ctx;
use dioxus::prelude::*;
use kith_api::{LinkDevice, ListDevices, QrCode, RevokeDevice};

/// The devices screen.
#[component]
pub(crate) fn DevicesScreen() -> Element {
    let mut ctx = use_context::<Ctx>();
    let mut version = use_signal(|| 0u64);
    let mut code = use_signal(|| None::<String>);
    let devices = use_resource(move || async move {
        let _ = version.read();
        let _ = ctx.linked_device.read();
        ipc::call(&ListDevices {}).await
    });
    use_effect(move || {
        if let Some(result) = ctx.linked_device.read().clone() {
            code.set(None);
            match result {
                None => ctx.say("Your new device is linked."),
                Some(err) => ctx.say(format!("Linking failed: {err}")),
            }
        }
    });
    let link = move |_| async move {
        ctx.linked_device.set(None);
        match ipc::call(&LinkDevice {}).await {
            Ok(c) => code.set(Some(c)),
            Err(err) => ctx.say(err.message),
        }
    };
    let qr = use_resource(move || async move {
        match code() {
            Some(text) => ipc::call(&QrCode { text }).await.ok(),
            None => None,
        }
    });
    let now = ipc::now_ms();
    rsx! {
        div { class: "page",
            h1 { "Devices" }
            section { class: "card",
                h3 { "Link a new device" }
                p { class: "hint", "Install Kith on the other device, choose “I already use Kith on another device”, and enter this code with the same server." }
                if let Some(code) = code() {
                    div { class: "pairing",
                        div { class: "pairing-code", id: "pairing-code", "{code}" }
                        if let Some(Some(svg)) = qr.read().clone() {
                            // SVG drawn by the shell from the pairing code.
                            div { class: "qr", div { dangerous_inner_html: "{svg}" } }
                        }
                    }
                    p { class: "hint", "Waiting for the other device… the code works once, for ten minutes." }
                } else {
                    button { class: "primary", onclick: link, "Show a pairing code" }
                }
            }
            section { class: "card",
                h3 { "Your devices" }
                match &*devices.read() {
                    Some(Ok(list)) => rsx! {
                        ul { class: "device-list",
                            for device in list.clone() {
                                li { key: "{device.device_id}", class: "device",
                                    span { class: "device-icon", crate::icons::Icon { glyph: crate::icons::Glyph::Laptop, size: 24 } }
                                    div { class: "contact-text",
                                        div { class: "contact-name",
                                            {device.device_id.chars().take(12).collect::<String>()}
                                            if device.this_device { span { class: "pill", "this device" } }
                                            if device.revoked { span { class: "pill danger", "revoked" } }
                                        }
                                        div { class: "hint", "linked {crate::format::day_label(device.issued_ms, now)}" }
                                    }
                                    if !device.this_device && !device.revoked {
                                        button { class: "danger",
                                            onclick: {
                                                let args = RevokeDevice { device_id: device.device_id.clone() };
                                                move |_| {
                                                    let args = args.clone();
                                                    spawn(async move {
                                                        match ipc::call(&args).await {
                                                            Ok(()) => { *version.write() += 1; ctx.say("Device revoked; your chats moved to new keys."); }
                                                            Err(err) => ctx.say(err.message),
                                                        }
                                                    });
                                                }
                                            },
                                            "Revoke"
                                        }
                                    }
                                }
                            }
                        }
                    },
                    Some(Err(err)) => rsx! { p { class: "error", "{err.message}" } },
                    None => rsx! { div { class: "spinner" } },
                }
            }
        }
    }
}
