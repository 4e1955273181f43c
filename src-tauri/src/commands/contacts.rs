//! Contacts and invites.

use super::{Reply, account_id};
use crate::backend::Backend;
use crate::convert;
use crate::error::IntoApi;
use kith_api::*;
use tauri::State;

/// `contacts`: accepted first, then by name.
#[tauri::command]
pub async fn contacts(backend: State<'_, Backend>, args: ListContacts) -> Reply<ListContacts> {
    let ListContacts {} = args;
    let profile = backend.profile()?;
    let mut out = profile
        .contacts()
        .api()?
        .into_iter()
        .map(|view| convert::contact(&profile, view))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| {
        (a.state != "accepted")
            .cmp(&(b.state != "accepted"))
            .then(a.name.cmp(&b.name))
    });
    Ok(out)
}

/// `add_contact`
#[tauri::command]
pub async fn add_contact(backend: State<'_, Backend>, args: AddContact) -> Reply<AddContact> {
    let profile = backend.profile()?;
    let link = args.link.trim();
    if link.is_empty() {
        return Err(ApiError::invalid("Paste the invite link you were sent."));
    }
    let account = profile.add_contact(link).api()?;
    backend.shared.emit(AppEvent::ContactsChanged);
    Ok(account.to_string())
}

/// `set_blocked`
#[tauri::command]
pub async fn set_blocked(backend: State<'_, Backend>, args: SetBlocked) -> Reply<SetBlocked> {
    backend
        .profile()?
        .set_blocked(&account_id(&args.account_id)?, args.blocked)
        .api()?;
    backend.shared.emit(AppEvent::ContactsChanged);
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `invite_qr`: the invite link as an SVG QR code.
#[tauri::command]
pub async fn invite_qr(backend: State<'_, Backend>, args: InviteQr) -> Reply<InviteQr> {
    let InviteQr {} = args;
    let link = backend.profile()?.invite().api()?.link();
    qr_svg(&link)
}

/// An SVG QR code of `text` (black on white, with the quiet zone).
pub fn qr_svg(text: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|err| ApiError::internal(format!("could not draw the QR code: {err}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .dark_color(qrcode::render::svg::Color("#111111"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_qr_code_is_an_svg() {
        let svg = super::qr_svg("kith://invite/abc.def.ghi").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("#111111"));
    }
}
