//! Contacts and invites.

use super::{Reply, account_id, on_profile};
use crate::backend::Backend;
use crate::convert;
use crate::error::IntoApi;
use kith_api::*;
use std::sync::Arc;
use tauri::State;

/// `contacts`: accepted first, then by name.
#[tauri::command]
pub async fn contacts(backend: State<'_, Arc<Backend>>, args: ListContacts) -> Reply<ListContacts> {
    let ListContacts {} = args;
    on_profile(&backend, |profile| {
        let mut out = profile
            .contacts()
            .list()
            .api()?
            .into_iter()
            .map(|view| convert::contact(profile, view))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            (a.state != "accepted")
                .cmp(&(b.state != "accepted"))
                .then(a.name.cmp(&b.name))
        });
        Ok(out)
    })
    .await
}

/// `add_contact`
#[tauri::command]
pub async fn add_contact(backend: State<'_, Arc<Backend>>, args: AddContact) -> Reply<AddContact> {
    let link = args.link.trim().to_owned();
    if link.is_empty() {
        return Err(ApiError::invalid("Paste the invite link you were sent."));
    }
    let account = on_profile(&backend, move |profile| profile.contacts().add(&link).api()).await?;
    backend.shared.emit(AppEvent::ContactsChanged);
    Ok(account.to_string())
}

/// `set_blocked`
#[tauri::command]
pub async fn set_blocked(backend: State<'_, Arc<Backend>>, args: SetBlocked) -> Reply<SetBlocked> {
    let account = account_id(&args.account_id)?;
    on_profile(&backend, move |profile| {
        profile.contacts().set_blocked(&account, args.blocked).api()
    })
    .await?;
    backend.shared.emit(AppEvent::ContactsChanged);
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}

/// `invite_links`
#[tauri::command]
pub async fn invite_links(backend: State<'_, Arc<Backend>>, args: ListInviteLinks) -> Reply<ListInviteLinks> {
    let ListInviteLinks {} = args;
    on_profile(&backend, |profile| {
        Ok(profile
            .contacts()
            .list_links()
            .api()?
            .into_iter()
            .map(convert::invite_link)
            .collect())
    })
    .await
}

/// `new_invite_link`: a new personal link also changes what `me` shows.
#[tauri::command]
pub async fn new_invite_link(backend: State<'_, Arc<Backend>>, args: NewInviteLink) -> Reply<NewInviteLink> {
    let kind = if args.once {
        kith_client::InviteKind::OneTime
    } else {
        kith_client::InviteKind::Personal
    };
    let link = on_profile(&backend, move |profile| profile.contacts().new_link(kind, None).api()).await?;
    backend.shared.emit(AppEvent::ProfileChanged);
    Ok(convert::invite_link(link))
}

/// `revoke_invite_link`
#[tauri::command]
pub async fn revoke_invite_link(backend: State<'_, Arc<Backend>>, args: RevokeInviteLink) -> Reply<RevokeInviteLink> {
    let link = on_profile(&backend, move |profile| profile.contacts().revoke_link(&args.id).api()).await?;
    backend.shared.emit(AppEvent::ProfileChanged);
    Ok(convert::invite_link(link))
}

/// Most people suggested at once.
const MAX_SUGGESTED_PEOPLE: usize = 10;

/// `suggested_people`
#[tauri::command]
pub async fn suggested_people(backend: State<'_, Arc<Backend>>, args: SuggestedPeople) -> Reply<SuggestedPeople> {
    let SuggestedPeople {} = args;
    on_profile(&backend, |profile| {
        Ok(profile
            .contacts()
            .suggested_people(MAX_SUGGESTED_PEOPLE)
            .api()?
            .into_iter()
            .map(|person| PersonSuggestionDto {
                account_id: person.account_id.to_string(),
                name: person.name,
                shared_groups: person.shared_groups,
            })
            .collect())
    })
    .await
}

/// Longest text drawn as a QR code.
const MAX_QR_TEXT: usize = 1024;

/// `qr_code`: an SVG QR code of an invite link or a pairing code.
#[tauri::command]
pub async fn qr_code(args: QrCode) -> Reply<QrCode> {
    if args.text.is_empty() || args.text.len() > MAX_QR_TEXT {
        return Err(ApiError::invalid("Nothing to draw, or too much for a QR code."));
    }
    qr_svg(&args.text)
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
    fn oversize_qr_text_is_refused() {
        let text = "x".repeat(super::MAX_QR_TEXT + 1);
        let refused = tauri::async_runtime::block_on(super::qr_code(kith_api::QrCode { text }));
        assert_eq!(refused.unwrap_err().kind, kith_api::ApiErrorKind::Invalid);
    }

    #[test]
    fn a_qr_code_is_an_svg() {
        let svg = super::qr_svg("kith://invite/abc.def.ghi").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("#111111"));
    }
}
