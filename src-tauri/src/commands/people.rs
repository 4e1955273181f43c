//! Usernames and message requests: what asks the sync server runs on a
//! runtime of its own, off the shell's threads.

use super::{Reply, account_id, blocking, on_own_runtime, on_profile};
use crate::backend::Backend;
use crate::convert;
use crate::error::IntoApi;
use kith_api::*;
use kith_client::{Profile, RequestTo};
use std::sync::Arc;
use tauri::State;

/// The server from Settings, for work that needs one.
fn server_of(backend: &Backend, what: &str) -> Result<String, ApiError> {
    backend
        .shared
        .settings()
        .server_url
        .ok_or_else(|| ApiError::invalid(format!("{what} goes through a sync server: set one in Settings first.")))
}

/// Runs `work` with a connection to `server`, off the shell's runtime.
async fn with_server<T: Send + 'static>(
    profile: Arc<Profile>,
    server: String,
    work: impl AsyncFnOnce(&Profile, &kith_client::RelayConnection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || {
        on_own_runtime(async {
            let connection = profile.relay().connect(&server).await.api()?;
            work(&profile, &connection).await
        })
    })
    .await
}

/// `username`
#[tauri::command]
pub async fn username(backend: State<'_, Arc<Backend>>, args: GetUsername) -> Reply<GetUsername> {
    let GetUsername {} = args;
    on_profile(&backend, |profile| profile.directory().username().api()).await
}

/// `claim_username`
#[tauri::command]
pub async fn claim_username(backend: State<'_, Arc<Backend>>, args: ClaimUsername) -> Reply<ClaimUsername> {
    let server = server_of(&backend, "A username")?;
    let name = args.name;
    with_server(backend.profile()?, server, async move |profile, connection| {
        profile.directory().claim(connection, &name).await.api()
    })
    .await
}

/// `release_username`
#[tauri::command]
pub async fn release_username(backend: State<'_, Arc<Backend>>, args: ReleaseUsername) -> Reply<ReleaseUsername> {
    let ReleaseUsername {} = args;
    let server = server_of(&backend, "A username")?;
    with_server(backend.profile()?, server, async |profile, connection| {
        profile.directory().release(connection).await.api().map(drop)
    })
    .await
}

/// `find_person`
#[tauri::command]
pub async fn find_person(backend: State<'_, Arc<Backend>>, args: FindPerson) -> Reply<FindPerson> {
    let server = server_of(&backend, "Finding people")?;
    let name = args.name;
    with_server(
        backend.profile()?,
        server,
        async move |profile, connection| match profile.directory().find(connection, &name).await.api()? {
            Some(person) => Ok(FoundPersonDto {
                username: person.username,
                account_id: person.account_id.to_string(),
                relation: person.relation,
            }),
            None => Err(ApiError::new(
                ApiErrorKind::NotFound,
                format!("Nobody has the username {}.", name.trim()),
            )),
        },
    )
    .await
}

/// `send_request`: to a username, or to an account id from a shared group.
#[tauri::command]
pub async fn send_request(backend: State<'_, Arc<Backend>>, args: SendRequest) -> Reply<SendRequest> {
    let server = server_of(&backend, "A message request")?;
    let SendRequest { to, text } = args;
    let account = with_server(backend.profile()?, server, async move |profile, connection| {
        let directory = profile.directory();
        let target = match to.trim().parse() {
            Ok(account) => RequestTo::Member(account),
            Err(_) => match directory.find(connection, &to).await.api()? {
                Some(person) => RequestTo::Found(Box::new(person)),
                None => {
                    return Err(ApiError::new(
                        ApiErrorKind::NotFound,
                        format!("Nobody has the username {}.", to.trim()),
                    ));
                }
            },
        };
        let account = directory.send_request(connection, target, &text).await.api()?;
        Ok(account.to_string())
    })
    .await?;
    backend.shared.emit(AppEvent::ContactsChanged);
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(account)
}

/// `requests`: newest first.
#[tauri::command]
pub async fn requests(backend: State<'_, Arc<Backend>>, args: ListRequests) -> Reply<ListRequests> {
    let ListRequests {} = args;
    on_profile(&backend, |profile| {
        profile
            .contacts()
            .requests()
            .api()?
            .into_iter()
            .map(|request| {
                let avatar = if request.has_avatar {
                    convert::avatar_of(profile, Some(&request.account_id))?
                } else {
                    None
                };
                Ok(RequestDto {
                    account_id: request.account_id.to_string(),
                    name: request.name,
                    avatar,
                    text: request.text,
                    received_ms: request.received_ms,
                    via: request.via,
                    shared_groups: request.shared_groups,
                    spam_score: request.spam.score,
                    spam_reasons: request.spam.reasons,
                })
            })
            .collect()
    })
    .await
}

/// `answer_request`
#[tauri::command]
pub async fn answer_request(backend: State<'_, Arc<Backend>>, args: AnswerRequest) -> Reply<AnswerRequest> {
    let account = account_id(&args.account_id)?;
    let device = match args.answer.as_str() {
        "accept" => on_profile(&backend, move |p| p.contacts().accept_request(&account).api())
            .await
            .map(|()| None),
        "ignore" => on_profile(&backend, move |p| p.contacts().ignore_request(&account).api())
            .await
            .map(|()| None),
        "block" => on_profile(&backend, move |p| p.contacts().block_request(&account).api())
            .await
            .map(Some),
        other => return Err(ApiError::invalid(format!("not an answer to a request: {other}"))),
    }?;
    if let (Some(device), Some(reason)) = (device, args.report.filter(|r| !r.trim().is_empty())) {
        let server = server_of(&backend, "A report")?;
        with_server(backend.profile()?, server, async move |profile, connection| {
            profile.directory().report(connection, &device, &reason).await.api()
        })
        .await?;
    }
    backend.shared.emit(AppEvent::ContactsChanged);
    backend.shared.emit(AppEvent::ChatsChanged);
    Ok(())
}
