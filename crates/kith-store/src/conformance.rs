//! The behaviour every [`Store`] must have, as checks that panic with a clear
//! message when a store deviates.
//!
//! This is test support: each check takes a fresh, empty store. Run them all
//! with [`run_all`]; a new implementation passes when `run_all` returns.
//! Checks never read through the [`Store`] while a [`WriteTxn`] of the same
//! store is open on the same thread (the SQLite store serialises both on one
//! connection).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::rows::SearchHit;
use crate::store::{Store, WriteTxn};
use kith_core::{ChatKind, ChatRow, ChatSettingsRow, Identity, MessageRow, ReadModelUpdate, Role};
use kith_proto::{AccountId, ChatId, DeviceId, DocId, Hlc, MessageId, Month};
use std::collections::BTreeMap;

/// One conformance check.
type Check = fn(&dyn Store);

/// Runs every check, each against a fresh store from `make`.
pub fn run_all<S: Store>(make: impl Fn() -> S) {
    let checks: &[(&str, Check)] = &[
        ("chunks_append_and_load", chunks_append_and_load),
        ("snapshot_replaces_prefix", snapshot_replaces_prefix),
        ("rollback_on_drop", rollback_on_drop),
        ("commit_makes_writes_visible", commit_makes_writes_visible),
        ("message_upsert", message_upsert),
        ("messages_pagination", messages_pagination),
        ("chat_list_order", chat_list_order),
        ("unread_and_read_position", unread_and_read_position),
        ("chat_settings_default_and_upsert", chat_settings_default_and_upsert),
        ("chat_row_members_replaced", chat_row_members_replaced),
        ("chat_avatar_flag", chat_avatar_flag),
        ("profiles", profiles),
        ("devices_and_revocation", devices_and_revocation),
        ("was_member", was_member),
        ("meta", meta),
        ("quarantine", quarantine),
        ("quarantine_is_bounded", quarantine_is_bounded),
        ("quarantine_bytes_are_bounded", quarantine_bytes_are_bounded),
        ("quarantine_expires", quarantine_expires),
        ("sync_states", sync_states),
        ("relay_state", relay_state),
        ("relay_mail", relay_mail),
        ("change_signatures", change_signatures),
        ("change_marker", change_marker),
        ("search_prefix_case_diacritics", search_prefix_case_diacritics),
        ("search_every_word_must_match", search_every_word_must_match),
        ("search_hostile_queries", search_hostile_queries),
        ("search_follows_edits_and_deletes", search_follows_edits_and_deletes),
        ("search_hits_and_ranking", search_hits_and_ranking),
        (
            "reply_candidates_pair_prompts_with_own_replies",
            reply_candidates_pair_prompts_with_own_replies,
        ),
        (
            "last_written_by_author_is_each_authors_newest_message",
            last_written_by_author_is_each_authors_newest_message,
        ),
        ("attachments_and_blob_references", attachments_and_blob_references),
        ("blob_index", blob_index),
    ];
    for (name, check) in checks {
        let store = make();
        eprintln!("conformance: {name}");
        check(&store);
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// A test account id.
pub fn account(n: u8) -> AccountId {
    AccountId::from_bytes([n; 32])
}

/// A test device id.
pub fn device(n: u8) -> DeviceId {
    DeviceId::from_bytes([n; 32])
}

/// A test chat id.
pub fn chat_id(n: u8) -> ChatId {
    ChatId::from_bytes([n; 16])
}

/// A test timestamp at `millis`.
pub fn at(millis: u64) -> Hlc {
    Hlc::new(millis, 0)
}

/// A message by account `author` (from device `author`) at `millis` in `chat`.
pub fn message_row(chat: ChatId, author: u8, millis: u64, text: &str) -> MessageRow {
    let dev = device(author);
    MessageRow {
        chat,
        id: MessageId::new(at(millis), &dev),
        author: account(author),
        device: dev,
        ts: at(millis),
        text: Some(text.to_owned()),
        reply_to: None,
        edited: None,
        deleted: false,
        reactions: BTreeMap::new(),
        attachments: Vec::new(),
    }
}

/// A group head with the given members.
pub fn group(chat: ChatId, name: &str, members: &[(u8, Role)]) -> ChatRow {
    ChatRow {
        chat,
        kind: ChatKind::Group,
        name: name.to_owned(),
        description: String::new(),
        members: members.iter().map(|(n, role)| (account(*n), *role)).collect(),
    }
}

/// Runs `f` in a write transaction and commits it.
pub fn write<R>(store: &dyn Store, f: impl FnOnce(&mut dyn WriteTxn) -> R) -> R {
    let mut txn = store.begin_write().expect("begin_write");
    let result = f(&mut *txn);
    txn.commit().expect("commit");
    result
}

/// Applies read-model updates in one committed transaction.
pub fn apply(store: &dyn Store, updates: Vec<ReadModelUpdate>) {
    write(store, |txn| txn.apply(&updates).expect("apply"));
}

fn doc_a() -> DocId {
    DocId::Head(chat_id(1))
}

fn doc_b() -> DocId {
    DocId::Segment(chat_id(1), Month::from_yyyymm(202611).expect("valid month"))
}

fn doc_c() -> DocId {
    DocId::Account(account(9))
}

fn bytes_of(chunks: &[crate::StoredChunk]) -> Vec<Vec<u8>> {
    chunks.iter().map(|c| c.bytes.clone()).collect()
}

fn search_ids(store: &dyn Store, query: &str) -> Vec<MessageId> {
    let hits = store
        .search(query, 100)
        .unwrap_or_else(|e| panic!("search({query:?}) failed: {e}"));
    let mut ids: Vec<MessageId> = hits.iter().map(|h| h.message).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<MessageId>) -> Vec<MessageId> {
    ids.sort();
    ids
}

// ---------------------------------------------------------------------------
// Document chunks

/// Appends and loads chunks: store-wide increasing seqs, per-document
/// isolation, `after_seq` filtering, `doc_ids` and `doc_size`.
pub fn chunks_append_and_load(store: &dyn Store) {
    assert!(store.doc_ids().unwrap().is_empty(), "a new store has no documents");
    assert!(
        store.doc_chunks(&doc_a(), 0).unwrap().is_empty(),
        "an unknown document has no chunks"
    );
    assert_eq!(
        store.doc_size(&doc_a()).unwrap(),
        (0, 0),
        "an unknown document has size (0, 0)"
    );

    let seqs = write(store, |txn| {
        let a1 = txn.append_chunk(&doc_a(), b"a1").unwrap();
        let b1 = txn.append_chunk(&doc_b(), b"b1").unwrap();
        let a2 = txn.append_chunk(&doc_a(), b"a2-longer").unwrap();
        let c1 = txn.append_chunk(&doc_c(), b"").unwrap();
        let a3 = txn.append_chunk(&doc_a(), b"a3").unwrap();
        // The transaction sees its own appends.
        assert_eq!(
            bytes_of(&txn.doc_chunks(&doc_a(), 0).unwrap()),
            vec![b"a1".to_vec(), b"a2-longer".to_vec(), b"a3".to_vec()],
            "a transaction sees its own appended chunks"
        );
        vec![a1, b1, a2, c1, a3]
    });
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase store-wide with every append: {seqs:?}"
    );
    let [a1, _b1, a2, _c1, a3] = seqs[..] else {
        unreachable!()
    };

    let chunks = store.doc_chunks(&doc_a(), 0).unwrap();
    assert_eq!(
        chunks.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![a1, a2, a3],
        "doc_chunks returns only that document's chunks, in seq order"
    );
    assert_eq!(
        bytes_of(&chunks),
        vec![b"a1".to_vec(), b"a2-longer".to_vec(), b"a3".to_vec()]
    );
    assert_eq!(
        bytes_of(&store.doc_chunks(&doc_a(), a1).unwrap()),
        vec![b"a2-longer".to_vec(), b"a3".to_vec()],
        "after_seq is exclusive"
    );
    assert!(
        store.doc_chunks(&doc_a(), a3).unwrap().is_empty(),
        "nothing after the last seq"
    );
    assert_eq!(bytes_of(&store.doc_chunks(&doc_b(), 0).unwrap()), vec![b"b1".to_vec()]);
    assert_eq!(
        bytes_of(&store.doc_chunks(&doc_c(), -1).unwrap()),
        vec![Vec::<u8>::new()],
        "an empty chunk is still a chunk"
    );

    let mut expected = vec![doc_a(), doc_b(), doc_c()];
    expected.sort_by_key(|d| d.to_string());
    assert_eq!(
        store.doc_ids().unwrap(),
        expected,
        "doc_ids lists every document once, by text"
    );

    assert_eq!(
        store.doc_size(&doc_a()).unwrap(),
        (3, 2 + 9 + 2),
        "doc_size counts chunks and bytes"
    );
    assert_eq!(store.doc_size(&doc_c()).unwrap(), (1, 0));
}

/// `replace_with_snapshot` drops the chunks up to `upto_seq` and appends the
/// snapshot with a new, higher seq; seqs are never reused.
pub fn snapshot_replaces_prefix(store: &dyn Store) {
    let (a1, a2, a3, b1) = write(store, |txn| {
        (
            txn.append_chunk(&doc_a(), b"a1").unwrap(),
            txn.append_chunk(&doc_a(), b"a2").unwrap(),
            txn.append_chunk(&doc_a(), b"a3").unwrap(),
            txn.append_chunk(&doc_b(), b"b1").unwrap(),
        )
    });
    let snap = write(store, |txn| {
        let snap = txn.replace_with_snapshot(&doc_a(), a2, b"snapshot").unwrap();
        assert_eq!(
            bytes_of(&txn.doc_chunks(&doc_a(), 0).unwrap()),
            vec![b"a3".to_vec(), b"snapshot".to_vec()],
            "the transaction sees the replacement"
        );
        snap
    });
    assert!(
        snap > b1 && snap > a3,
        "the snapshot gets a new seq above all earlier ones"
    );
    let chunks = store.doc_chunks(&doc_a(), 0).unwrap();
    assert_eq!(
        chunks.iter().map(|c| (c.seq, c.bytes.clone())).collect::<Vec<_>>(),
        vec![(a3, b"a3".to_vec()), (snap, b"snapshot".to_vec())],
        "chunks with seq <= upto are gone, later ones stay, the snapshot comes last"
    );
    assert_eq!(store.doc_size(&doc_a()).unwrap(), (2, 2 + 8));
    assert_eq!(
        bytes_of(&store.doc_chunks(&doc_b(), 0).unwrap()),
        vec![b"b1".to_vec()],
        "other documents are untouched"
    );
    assert!(a1 < a2);

    // Replacing everything, including the highest seq ever used: the next seq
    // must still be higher (no reuse after deleting the newest row).
    let snap2 = write(store, |txn| txn.replace_with_snapshot(&doc_a(), snap, b"s2").unwrap());
    assert!(snap2 > snap, "seqs are never reused ({snap2} after {snap})");
    let snap3 = write(store, |txn| {
        txn.replace_with_snapshot(&doc_a(), i64::MAX, b"s3").unwrap()
    });
    assert!(snap3 > snap2, "seqs are never reused ({snap3} after {snap2})");
    let chunks = store.doc_chunks(&doc_a(), 0).unwrap();
    assert_eq!(
        chunks.iter().map(|c| (c.seq, c.bytes.clone())).collect::<Vec<_>>(),
        vec![(snap3, b"s3".to_vec())]
    );
    let next = write(store, |txn| txn.append_chunk(&doc_c(), b"c").unwrap());
    assert!(next > snap3, "appends continue above every seq ever handed out");

    // A snapshot of a document that had no chunks simply becomes its first chunk.
    let fresh = DocId::Head(chat_id(7));
    let s = write(store, |txn| txn.replace_with_snapshot(&fresh, 0, b"fresh").unwrap());
    assert_eq!(
        store
            .doc_chunks(&fresh, 0)
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect::<Vec<_>>(),
        vec![s]
    );
}

// ---------------------------------------------------------------------------
// Transactions

/// Dropping a write transaction without committing leaves no trace, and
/// releases the write lock.
pub fn rollback_on_drop(store: &dyn Store) {
    let chat = chat_id(3);
    let marker = store.change_marker().unwrap();
    let first = {
        let mut txn = store.begin_write().unwrap();
        let seq = txn.append_chunk(&doc_a(), b"lost").unwrap();
        txn.apply(&[
            ReadModelUpdate::Chat(group(chat, "lost", &[(1, Role::Owner)])),
            ReadModelUpdate::Message(message_row(chat, 1, 1_000, "lost message")),
            ReadModelUpdate::Profile {
                account: account(1),
                name: "Lost".into(),
            },
            ReadModelUpdate::MemberEver {
                chat,
                account: account(1),
            },
        ])
        .unwrap();
        txn.set_meta("k", b"v").unwrap();
        txn.quarantine(&doc_a(), b"h", b"change", 0).unwrap();
        seq
        // dropped here: rollback
    };
    assert!(
        store.doc_ids().unwrap().is_empty(),
        "rolled-back chunks are not visible"
    );
    assert!(store.doc_chunks(&doc_a(), 0).unwrap().is_empty());
    assert_eq!(store.chat(&chat).unwrap(), None, "rolled-back chat row is not visible");
    assert!(store.chat_list(&account(1)).unwrap().is_empty());
    assert!(
        store.messages(&chat, None, 10).unwrap().is_empty(),
        "rolled-back message is not visible"
    );
    assert!(
        store.search("lost", 10).unwrap().is_empty(),
        "rolled-back message is not searchable"
    );
    assert_eq!(store.profile_name(&account(1)).unwrap(), None);
    assert!(!store.was_member(&chat, &account(1)).unwrap());
    assert_eq!(store.meta("k").unwrap(), None);
    assert!(store.quarantined(&doc_a()).unwrap().is_empty());
    assert_eq!(
        store.change_marker().unwrap(),
        marker,
        "a rollback does not move the change marker"
    );

    // The lock was released: a new transaction can write and commit.
    let second = write(store, |txn| txn.append_chunk(&doc_a(), b"kept").unwrap());
    assert!(second >= first, "seqs do not go backwards after a rollback");
    assert_eq!(
        bytes_of(&store.doc_chunks(&doc_a(), 0).unwrap()),
        vec![b"kept".to_vec()]
    );
}

/// Committed writes are visible to reads; a transaction reads its own writes.
pub fn commit_makes_writes_visible(store: &dyn Store) {
    let chat = chat_id(4);
    let cert = Identity::create([[40; 32], [41; 32], [42; 32]], 5)
        .certificate()
        .clone();
    let mut txn = store.begin_write().unwrap();
    txn.append_chunk(&doc_b(), b"chunk").unwrap();
    txn.apply(&[
        ReadModelUpdate::Device(cert.clone()),
        ReadModelUpdate::MemberEver {
            chat,
            account: account(2),
        },
    ])
    .unwrap();
    txn.set_meta("key", b"value").unwrap();
    assert_eq!(
        txn.device_account(&cert.device).unwrap(),
        Some(cert.account),
        "txn sees its device"
    );
    assert!(
        txn.was_member(&chat, &account(2)).unwrap(),
        "txn sees its member-ever row"
    );
    assert_eq!(txn.meta("key").unwrap(), Some(b"value".to_vec()), "txn sees its meta");
    assert_eq!(bytes_of(&txn.doc_chunks(&doc_b(), 0).unwrap()), vec![b"chunk".to_vec()]);
    txn.commit().unwrap();

    assert_eq!(
        bytes_of(&store.doc_chunks(&doc_b(), 0).unwrap()),
        vec![b"chunk".to_vec()]
    );
    assert_eq!(store.device_account(&cert.device).unwrap(), Some(cert.account));
    assert!(store.was_member(&chat, &account(2)).unwrap());
    assert_eq!(store.meta("key").unwrap(), Some(b"value".to_vec()));
}

// ---------------------------------------------------------------------------
// Messages and chats

/// A message update replaces the stored row's text, edit and deletion state;
/// deletion removes the text.
pub fn message_upsert(store: &dyn Store) {
    let chat = chat_id(5);
    let original = message_row(chat, 1, 1_000, "first draft");
    apply(store, vec![ReadModelUpdate::Message(original.clone())]);
    assert_eq!(store.message(&chat, &original.id).unwrap(), Some(original.clone()));
    assert_eq!(
        store.message(&chat_id(6), &original.id).unwrap(),
        None,
        "messages are per chat"
    );

    let mut edited = original.clone();
    edited.text = Some("final text".into());
    edited.edited = Some(at(2_000));
    edited.reply_to = Some(MessageId::new(at(500), &device(2)));
    edited
        .reactions
        .insert("👍".into(), [account(2), account(3)].into_iter().collect());
    apply(store, vec![ReadModelUpdate::Message(edited.clone())]);
    assert_eq!(
        store.message(&chat, &original.id).unwrap(),
        Some(edited.clone()),
        "an edit replaces the row"
    );
    assert_eq!(
        store.messages(&chat, None, 10).unwrap(),
        vec![edited.clone()],
        "an edit does not duplicate the row"
    );

    let mut deleted = edited.clone();
    deleted.text = None;
    deleted.deleted = true;
    apply(store, vec![ReadModelUpdate::Message(deleted.clone())]);
    let stored = store
        .message(&chat, &original.id)
        .unwrap()
        .expect("deleted message keeps its row");
    assert_eq!(stored.text, None, "deletion removes the text");
    assert!(stored.deleted);
    assert_eq!(stored, deleted);
}

/// `messages` pages newest first, with an exclusive `before` cursor and a limit.
pub fn messages_pagination(store: &dyn Store) {
    let chat = chat_id(7);
    // Inserted out of order, two in the same millisecond from different devices.
    let rows = [
        message_row(chat, 1, 3_000, "three"),
        message_row(chat, 2, 1_000, "one"),
        message_row(chat, 1, 5_000, "five"),
        message_row(chat, 2, 2_000, "two"),
        message_row(chat, 1, 4_000, "four-a"),
        message_row(chat, 2, 4_000, "four-b"),
        message_row(chat_id(8), 1, 9_000, "other chat"),
    ];
    apply(store, rows.iter().cloned().map(ReadModelUpdate::Message).collect());
    let texts = |page: &[MessageRow]| page.iter().map(|m| m.text.clone().unwrap()).collect::<Vec<_>>();

    let page1 = store.messages(&chat, None, 2).unwrap();
    assert_eq!(texts(&page1), ["five", "four-b"], "newest first, limited");
    let page2 = store.messages(&chat, Some(&page1[1].id), 2).unwrap();
    assert_eq!(texts(&page2), ["four-a", "three"], "before is exclusive");
    let page3 = store.messages(&chat, Some(&page2[1].id), 2).unwrap();
    assert_eq!(texts(&page3), ["two", "one"]);
    let page4 = store.messages(&chat, Some(&page3[1].id), 2).unwrap();
    assert!(page4.is_empty(), "nothing before the oldest message");

    let all = store.messages(&chat, None, 100).unwrap();
    assert_eq!(all.len(), 6, "other chats' messages are not included");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "strictly newest first by id");
    assert!(
        store.messages(&chat, None, 0).unwrap().is_empty(),
        "limit 0 returns nothing"
    );
    // A cursor that is not a stored message still works.
    let cursor = MessageId::new(at(3_500), &device(9));
    assert_eq!(
        texts(&store.messages(&chat, Some(&cursor), 10).unwrap()),
        ["three", "two", "one"]
    );
    assert!(store.messages(&chat_id(99), None, 10).unwrap().is_empty());
    assert_eq!(
        store.message_count(&chat).unwrap(),
        6,
        "counts only this chat's messages"
    );
    assert_eq!(store.message_count(&chat_id(99)).unwrap(), 0);
}

/// The chat list: pinned first, then by last message time (newest first),
/// then by chat id; each entry carries its head, settings and last message.
pub fn chat_list_order(store: &dyn Store) {
    let (old, new, empty, pinned, empty2) = (chat_id(10), chat_id(11), chat_id(12), chat_id(13), chat_id(9));
    let mut updates = vec![
        ReadModelUpdate::Chat(group(old, "old", &[(1, Role::Owner)])),
        ReadModelUpdate::Chat(group(new, "new", &[(1, Role::Owner)])),
        ReadModelUpdate::Chat(group(empty, "empty", &[(1, Role::Owner)])),
        ReadModelUpdate::Chat(group(pinned, "pinned", &[(1, Role::Owner)])),
        ReadModelUpdate::Chat(group(empty2, "empty2", &[(1, Role::Owner)])),
        ReadModelUpdate::Message(message_row(old, 2, 1_000, "old 1")),
        ReadModelUpdate::Message(message_row(old, 2, 2_000, "old 2")),
        ReadModelUpdate::Message(message_row(new, 2, 5_000, "new 1")),
        ReadModelUpdate::Message(message_row(pinned, 2, 500, "pinned 1")),
        // A message in a chat without a head row does not create a list entry.
        ReadModelUpdate::Message(message_row(chat_id(14), 2, 9_000, "headless")),
    ];
    updates.push(ReadModelUpdate::ChatSettings {
        chat: pinned,
        settings: ChatSettingsRow {
            pinned: true,
            ..ChatSettingsRow::default()
        },
    });
    apply(store, updates);

    let list = store.chat_list(&account(1)).unwrap();
    let order: Vec<ChatId> = list.iter().map(|e| e.chat.chat).collect();
    assert_eq!(
        order,
        vec![pinned, new, old, empty2, empty],
        "pinned first, then newest activity, then chats without messages by id"
    );
    assert_eq!(list[0].chat.name, "pinned");
    assert!(list[0].settings.pinned);
    assert!(!list[1].settings.pinned, "settings default to unpinned");
    assert_eq!(
        list[2].last_message.as_ref().and_then(|m| m.text.clone()).as_deref(),
        Some("old 2"),
        "last_message is the newest message"
    );
    assert_eq!(list[3].last_message, None);

    // A newer message moves a chat up (but not above a pinned one).
    apply(
        store,
        vec![ReadModelUpdate::Message(message_row(old, 2, 6_000, "old 3"))],
    );
    let order: Vec<ChatId> = store
        .chat_list(&account(1))
        .unwrap()
        .iter()
        .map(|e| e.chat.chat)
        .collect();
    assert_eq!(order, vec![pinned, old, new, empty2, empty]);
}

/// Unread counts others' undeleted messages after my read position; read
/// positions only move forward.
pub fn unread_and_read_position(store: &dyn Store) {
    let chat = chat_id(20);
    let me = account(1);
    let mut deleted = message_row(chat, 2, 5_000, "deleted");
    deleted.text = None;
    deleted.deleted = true;
    apply(
        store,
        vec![
            ReadModelUpdate::Chat(group(
                chat,
                "g",
                &[(1, Role::Owner), (2, Role::Member), (3, Role::Member)],
            )),
            ReadModelUpdate::Message(message_row(chat, 2, 1_000, "a")),
            ReadModelUpdate::Message(message_row(chat, 3, 2_000, "b")),
            ReadModelUpdate::Message(message_row(chat, 2, 3_000, "c")),
            ReadModelUpdate::Message(message_row(chat, 1, 4_000, "mine")),
            ReadModelUpdate::Message(deleted),
        ],
    );
    let unread = |who: &AccountId| store.chat_list(who).unwrap()[0].unread;
    assert_eq!(store.read_position(&chat, &me).unwrap(), None);
    assert_eq!(
        unread(&me),
        3,
        "without a read position every message by others is unread; own and deleted are not"
    );
    assert_eq!(unread(&account(2)), 2, "unread is per account");

    apply(
        store,
        vec![ReadModelUpdate::ReadPosition {
            chat,
            account: me,
            ts: at(2_000),
        }],
    );
    assert_eq!(store.read_position(&chat, &me).unwrap(), Some(at(2_000)));
    assert_eq!(unread(&me), 1, "messages at or before the read position are read");
    assert_eq!(
        unread(&account(2)),
        2,
        "another account's read position does not count for me"
    );

    apply(
        store,
        vec![ReadModelUpdate::ReadPosition {
            chat,
            account: me,
            ts: at(1_000),
        }],
    );
    assert_eq!(
        store.read_position(&chat, &me).unwrap(),
        Some(at(2_000)),
        "a read position never moves back"
    );
    assert_eq!(unread(&me), 1);

    apply(
        store,
        vec![ReadModelUpdate::ReadPosition {
            chat,
            account: me,
            ts: at(9_000),
        }],
    );
    assert_eq!(store.read_position(&chat, &me).unwrap(), Some(at(9_000)));
    assert_eq!(unread(&me), 0);
    assert_eq!(
        store.read_position(&chat_id(21), &me).unwrap(),
        None,
        "read positions are per chat"
    );

    // Delivered positions: separate from read positions, monotone too.
    assert_eq!(store.delivered_position(&chat, &me).unwrap(), None);
    for ts in [5_000, 3_000] {
        apply(
            store,
            vec![ReadModelUpdate::DeliveredPosition {
                chat,
                account: me,
                ts: at(ts),
            }],
        );
    }
    assert_eq!(
        store.delivered_position(&chat, &me).unwrap(),
        Some(at(5_000)),
        "a delivered position never moves back"
    );
    assert_eq!(store.read_position(&chat, &me).unwrap(), Some(at(9_000)));
    assert_eq!(store.delivered_position(&chat, &account(2)).unwrap(), None);
}

/// Settings default to all-off and are replaced by each update.
pub fn chat_settings_default_and_upsert(store: &dyn Store) {
    let chat = chat_id(30);
    assert_eq!(store.chat_settings(&chat).unwrap(), ChatSettingsRow::default());
    let first = ChatSettingsRow {
        pinned: true,
        muted: true,
        archived: false,
        draft: "half a thought".into(),
    };
    apply(
        store,
        vec![ReadModelUpdate::ChatSettings {
            chat,
            settings: first.clone(),
        }],
    );
    assert_eq!(store.chat_settings(&chat).unwrap(), first);
    let second = ChatSettingsRow {
        pinned: false,
        muted: false,
        archived: true,
        draft: String::new(),
    };
    apply(
        store,
        vec![ReadModelUpdate::ChatSettings {
            chat,
            settings: second.clone(),
        }],
    );
    assert_eq!(store.chat_settings(&chat).unwrap(), second, "settings are replaced");
    assert_eq!(store.chat_settings(&chat_id(31)).unwrap(), ChatSettingsRow::default());
}

/// A chat update replaces the head, members included.
pub fn chat_row_members_replaced(store: &dyn Store) {
    let chat = chat_id(40);
    assert_eq!(store.chat(&chat).unwrap(), None);
    let first = group(chat, "first", &[(1, Role::Owner), (2, Role::Member)]);
    apply(store, vec![ReadModelUpdate::Chat(first.clone())]);
    assert_eq!(store.chat(&chat).unwrap(), Some(first));

    let mut second = group(chat, "second", &[(1, Role::Owner), (3, Role::Admin)]);
    second.description = "about".into();
    apply(store, vec![ReadModelUpdate::Chat(second.clone())]);
    assert_eq!(
        store.chat(&chat).unwrap(),
        Some(second.clone()),
        "members are replaced, not merged"
    );

    let direct = ChatRow {
        chat: chat_id(41),
        kind: ChatKind::Direct,
        name: String::new(),
        description: String::new(),
        members: BTreeMap::new(),
    };
    apply(store, vec![ReadModelUpdate::Chat(direct.clone())]);
    assert_eq!(
        store.chat(&chat_id(41)).unwrap(),
        Some(direct),
        "a chat may have no members"
    );
    let list = store.chat_list(&account(1)).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().any(|e| e.chat == second));
}

/// Whether a chat has a picture: off until said, kept across head updates,
/// and ignored for a chat without a row.
pub fn chat_avatar_flag(store: &dyn Store) {
    let chat = chat_id(42);
    let has_avatar = |chat: ChatId| {
        store
            .chat_list(&account(1))
            .unwrap()
            .iter()
            .find(|e| e.chat.chat == chat)
            .map(|e| e.has_avatar)
    };
    apply(
        store,
        vec![ReadModelUpdate::Chat(group(chat, "g", &[(1, Role::Owner)]))],
    );
    assert_eq!(has_avatar(chat), Some(false), "a new chat has no picture");

    apply(store, vec![ReadModelUpdate::ChatAvatar { chat, has_avatar: true }]);
    assert_eq!(has_avatar(chat), Some(true));
    apply(
        store,
        vec![ReadModelUpdate::Chat(group(chat, "renamed", &[(1, Role::Owner)]))],
    );
    assert_eq!(has_avatar(chat), Some(true), "a head update keeps the picture flag");

    apply(
        store,
        vec![ReadModelUpdate::ChatAvatar {
            chat,
            has_avatar: false,
        }],
    );
    assert_eq!(has_avatar(chat), Some(false), "the picture was removed");

    let unknown = chat_id(43);
    apply(
        store,
        vec![ReadModelUpdate::ChatAvatar {
            chat: unknown,
            has_avatar: true,
        }],
    );
    assert_eq!(has_avatar(unknown), None, "a flag alone makes no chat");
    assert_eq!(store.chat(&unknown).unwrap(), None);
    apply(
        store,
        vec![
            ReadModelUpdate::Chat(group(unknown, "late", &[(1, Role::Owner)])),
            ReadModelUpdate::ChatAvatar {
                chat: unknown,
                has_avatar: true,
            },
        ],
    );
    assert_eq!(has_avatar(unknown), Some(true), "head and flag in one batch");
}

/// Display names are upserted.
pub fn profiles(store: &dyn Store) {
    assert_eq!(store.profile_name(&account(1)).unwrap(), None);
    apply(
        store,
        vec![ReadModelUpdate::Profile {
            account: account(1),
            name: "Ada".into(),
        }],
    );
    assert_eq!(store.profile_name(&account(1)).unwrap().as_deref(), Some("Ada"));
    apply(
        store,
        vec![ReadModelUpdate::Profile {
            account: account(1),
            name: "Ada L.".into(),
        }],
    );
    assert_eq!(store.profile_name(&account(1)).unwrap().as_deref(), Some("Ada L."));
    assert_eq!(store.profile_name(&account(2)).unwrap(), None);
}

/// Devices: insert-or-ignore by device id, lookup of their account, revocation.
pub fn devices_and_revocation(store: &dyn Store) {
    let alice = Identity::create([[1; 32], [2; 32], [3; 32]], 1_000);
    let alice_laptop = {
        // A second device of the same account: same account seed, other device seeds.
        Identity::create([[1; 32], [4; 32], [5; 32]], 2_000)
    };
    let bob = Identity::create([[6; 32], [7; 32], [8; 32]], 3_000);
    assert_eq!(alice.account_id(), alice_laptop.account_id());
    assert_eq!(store.device_account(&alice.device_id()).unwrap(), None);
    assert!(store.devices(&alice.account_id()).unwrap().is_empty());

    apply(
        store,
        vec![
            ReadModelUpdate::Device(alice.certificate().clone()),
            ReadModelUpdate::Device(alice_laptop.certificate().clone()),
            ReadModelUpdate::Device(bob.certificate().clone()),
        ],
    );
    assert_eq!(
        store.device_account(&alice.device_id()).unwrap(),
        Some(alice.account_id())
    );
    assert_eq!(store.device_account(&bob.device_id()).unwrap(), Some(bob.account_id()));
    let mut expected = vec![alice.certificate().clone(), alice_laptop.certificate().clone()];
    expected.sort_by_key(|c| c.device);
    let devices = store.devices(&alice.account_id()).unwrap();
    assert_eq!(
        devices.iter().map(|d| d.cert.clone()).collect::<Vec<_>>(),
        expected,
        "an account's devices, by device id"
    );
    assert!(devices.iter().all(|d| d.revoked_at.is_none()));

    apply(
        store,
        vec![ReadModelUpdate::DeviceRevoked {
            device: alice_laptop.device_id(),
            at_ms: 7_000,
        }],
    );
    let revoked = |store: &dyn Store| {
        store
            .devices(&alice.account_id())
            .unwrap()
            .into_iter()
            .find(|d| d.cert.device == alice_laptop.device_id())
            .and_then(|d| d.revoked_at)
    };
    assert_eq!(revoked(store), Some(7_000));
    assert_eq!(
        store.device_account(&alice_laptop.device_id()).unwrap(),
        Some(alice.account_id()),
        "a revoked device still names its account"
    );

    // Seeing the certificate again (insert-or-ignore) does not undo the revocation.
    apply(store, vec![ReadModelUpdate::Device(alice_laptop.certificate().clone())]);
    assert_eq!(
        revoked(store),
        Some(7_000),
        "a repeated certificate does not clear the revocation"
    );
    assert_eq!(
        store.devices(&alice.account_id()).unwrap().len(),
        2,
        "no duplicate rows"
    );

    // Revoking an unknown device is a no-op.
    apply(
        store,
        vec![ReadModelUpdate::DeviceRevoked {
            device: device(99),
            at_ms: 1,
        }],
    );
    assert_eq!(store.device_account(&device(99)).unwrap(), None);
    assert_eq!(store.devices(&bob.account_id()).unwrap().len(), 1);
}

/// Membership ever: grows only, per chat and account.
pub fn was_member(store: &dyn Store) {
    let chat = chat_id(50);
    assert!(!store.was_member(&chat, &account(1)).unwrap());
    let ever = ReadModelUpdate::MemberEver {
        chat,
        account: account(1),
    };
    apply(store, vec![ever.clone(), ever.clone()]);
    apply(store, vec![ever]);
    assert!(store.was_member(&chat, &account(1)).unwrap());
    assert!(!store.was_member(&chat, &account(2)).unwrap(), "per account");
    assert!(!store.was_member(&chat_id(51), &account(1)).unwrap(), "per chat");
    // Replacing the head without the member does not forget that they were one.
    apply(
        store,
        vec![ReadModelUpdate::Chat(group(chat, "g", &[(2, Role::Owner)]))],
    );
    assert!(
        store.was_member(&chat, &account(1)).unwrap(),
        "member-ever is independent of current members"
    );
}

/// Metadata get and set.
pub fn meta(store: &dyn Store) {
    assert_eq!(store.meta("device").unwrap(), None);
    write(store, |txn| {
        assert_eq!(txn.meta("device").unwrap(), None);
        txn.set_meta("device", b"one").unwrap();
        txn.set_meta("empty", b"").unwrap();
        assert_eq!(txn.meta("device").unwrap(), Some(b"one".to_vec()));
    });
    assert_eq!(store.meta("device").unwrap(), Some(b"one".to_vec()));
    assert_eq!(
        store.meta("empty").unwrap(),
        Some(Vec::new()),
        "an empty value is not absent"
    );
    write(store, |txn| txn.set_meta("device", b"two").unwrap());
    assert_eq!(
        store.meta("device").unwrap(),
        Some(b"two".to_vec()),
        "set_meta overwrites"
    );
    assert_eq!(store.meta("DEVICE").unwrap(), None, "keys are case-sensitive");
    write(store, |txn| {
        txn.set_meta("relay/a", b"1").unwrap();
        txn.set_meta("relay/b", b"2").unwrap();
        txn.set_meta("relay%c", b"3").unwrap();
        txn.set_meta("relax", b"4").unwrap();
    });
    assert_eq!(
        store.meta_with_prefix("relay/").unwrap(),
        vec![
            ("relay/a".to_owned(), b"1".to_vec()),
            ("relay/b".to_owned(), b"2".to_vec())
        ],
        "a prefix is literal, in key order"
    );
    write(store, |txn| {
        txn.delete_meta("relay/a").unwrap();
        txn.delete_meta("never-there").unwrap();
    });
    assert_eq!(store.meta("relay/a").unwrap(), None, "deleted");
    assert_eq!(store.meta_with_prefix("relay/").unwrap().len(), 1);
}

/// Sync state is kept per (peer, document) and replaced on write.
pub fn sync_states(store: &dyn Store) {
    write(store, |txn| {
        assert_eq!(txn.sync_state("peer-a", &doc_a()).unwrap(), None);
        txn.set_sync_state("peer-a", &doc_a(), b"one").unwrap();
        txn.set_sync_state("peer-a", &doc_b(), b"other doc").unwrap();
        txn.set_sync_state("peer-b", &doc_a(), b"other peer").unwrap();
        txn.set_sync_state("peer-a", &doc_a(), b"two").unwrap();
    });
    write(store, |txn| {
        assert_eq!(
            txn.sync_state("peer-a", &doc_a()).unwrap(),
            Some(b"two".to_vec()),
            "replaced"
        );
        assert_eq!(
            txn.sync_state("peer-b", &doc_a()).unwrap(),
            Some(b"other peer".to_vec())
        );
        assert_eq!(txn.sync_state("peer-a", &doc_b()).unwrap(), Some(b"other doc".to_vec()));
    });
    assert_eq!(
        store.sync_state("peer-a", &doc_a()).unwrap(),
        Some(b"two".to_vec()),
        "readable outside a write"
    );
}

/// Relay state per log (pull cursor, compaction mark) and per log and
/// document (uploaded heads): absent until written, replaced on write, kept
/// apart per log and document, and heads that are not whole hashes refused.
pub fn relay_state(store: &dyn Store) {
    let log_a = kith_proto::LogId([0xa1; 32]);
    let log_b = kith_proto::LogId([0xb2; 32]);
    assert_eq!(store.relay_log(&log_a).unwrap(), None, "never recorded");
    assert_eq!(store.relay_uploaded(&log_a, &doc_a()).unwrap(), None);
    write(store, |txn| {
        txn.set_relay_compacted(&log_a, 7).unwrap();
    });
    assert_eq!(
        store.relay_log(&log_a).unwrap(),
        Some(crate::RelayLogRow {
            pulled: None,
            compacted: 7
        }),
        "a compaction mark alone says nothing about pulling"
    );
    let heads: Vec<u8> = [[1u8; 32], [2u8; 32]].concat();
    write(store, |txn| {
        txn.set_relay_pulled(&log_a, 41).unwrap();
        txn.set_relay_pulled(&log_a, 42).unwrap();
        txn.set_relay_pulled(&log_b, 3).unwrap();
        txn.set_relay_uploaded(&log_a, &doc_a(), &[9u8; 32]).unwrap();
        txn.set_relay_uploaded(&log_a, &doc_a(), &heads).unwrap();
        txn.set_relay_uploaded(&log_a, &doc_b(), &[]).unwrap();
    });
    assert_eq!(
        store.relay_log(&log_a).unwrap(),
        Some(crate::RelayLogRow {
            pulled: Some(42),
            compacted: 7
        }),
        "replaced, and the compaction mark kept"
    );
    assert_eq!(
        store.relay_log(&log_b).unwrap(),
        Some(crate::RelayLogRow {
            pulled: Some(3),
            compacted: 0
        })
    );
    assert_eq!(store.relay_uploaded(&log_a, &doc_a()).unwrap(), Some(heads), "replaced");
    assert_eq!(store.relay_uploaded(&log_a, &doc_b()).unwrap(), Some(Vec::new()));
    assert_eq!(store.relay_uploaded(&log_b, &doc_a()).unwrap(), None, "per log");
    let mut txn = store.begin_write().unwrap();
    assert!(
        txn.set_relay_uploaded(&log_b, &doc_a(), &[0u8; 33]).is_err(),
        "heads must be whole 32-byte hashes"
    );
}

/// The relay's mail state: hello marks replaced, grants per member, the
/// "on the server" mark never moving back, queued mail in order and cleared.
pub fn relay_mail(store: &dyn Store) {
    use crate::{PendingMail, RelayGrant};
    let (bob, carol) = (AccountId::from_bytes([0xb0; 32]), AccountId::from_bytes([0xc0; 32]));
    let chat = ChatId::from_bytes([0x11; 16]);
    let grant = |epoch: u32, member: AccountId| RelayGrant {
        chat,
        epoch,
        key_id: "k1".to_owned(),
        member,
    };
    assert_eq!(store.relay_hello(&bob).unwrap(), None);
    assert!(!store.relay_granted(&grant(0, bob)).unwrap());
    assert_eq!(store.uploaded_through(&chat).unwrap(), None);
    assert!(store.pending_mail().unwrap().is_empty());

    let revoked = DeviceId::from_bytes([0xde; 32]);
    let mail = [
        PendingMail::RevokedNotice(revoked),
        PendingMail::AccountKey {
            epoch: 10,
            key_id: "b".to_owned(),
        },
        PendingMail::AccountKey {
            epoch: 2,
            key_id: "a".to_owned(),
        },
        PendingMail::Connect(carol),
    ];
    write(store, |txn| {
        txn.set_relay_hello(&bob, &[1; 32]).unwrap();
        txn.set_relay_hello(&bob, &[2; 32]).unwrap();
        txn.set_relay_granted(&grant(0, bob)).unwrap();
        txn.set_relay_granted(&grant(0, bob)).unwrap();
        txn.set_uploaded_through(&chat, Hlc::new(2_000, 1)).unwrap();
        txn.set_uploaded_through(&chat, Hlc::new(1_000, 0)).unwrap();
        for (i, m) in mail.iter().enumerate() {
            txn.queue_mail(m, &[i as u8]).unwrap();
        }
        txn.queue_mail(&PendingMail::Connect(carol), b"invite").unwrap();
    });
    assert_eq!(store.relay_hello(&bob).unwrap(), Some([2; 32]), "replaced");
    assert_eq!(store.relay_hello(&carol).unwrap(), None);
    assert!(store.relay_granted(&grant(0, bob)).unwrap());
    assert!(!store.relay_granted(&grant(1, bob)).unwrap(), "per epoch");
    assert!(!store.relay_granted(&grant(0, carol)).unwrap(), "per member");
    assert_eq!(
        store.uploaded_through(&chat).unwrap(),
        Some(Hlc::new(2_000, 1)),
        "never moves back"
    );
    let queued: Vec<PendingMail> = store.pending_mail().unwrap().into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        queued,
        vec![
            PendingMail::Connect(carol),
            PendingMail::AccountKey {
                epoch: 2,
                key_id: "a".to_owned()
            },
            PendingMail::AccountKey {
                epoch: 10,
                key_id: "b".to_owned()
            },
            PendingMail::RevokedNotice(revoked),
        ],
        "connects, then account keys by epoch, then notices"
    );
    assert_eq!(
        store.pending_mail_payload(&PendingMail::Connect(carol)).unwrap(),
        Some(b"invite".to_vec()),
        "queued again: the payload replaced"
    );
    write(store, |txn| {
        txn.clear_mail(&PendingMail::Connect(carol)).unwrap();
        txn.clear_mail(&PendingMail::Connect(bob)).unwrap();
    });
    assert_eq!(store.pending_mail_payload(&PendingMail::Connect(carol)).unwrap(), None);
    assert_eq!(store.pending_mail().unwrap().len(), 3);
    // A rolled-back transaction leaves nothing behind.
    {
        let mut txn = store.begin_write().unwrap();
        txn.set_relay_hello(&carol, &[3; 32]).unwrap();
        txn.queue_mail(&PendingMail::Connect(bob), b"x").unwrap();
    }
    assert_eq!(store.relay_hello(&carol).unwrap(), None);
    assert_eq!(store.pending_mail().unwrap().len(), 3);
}

/// Quarantine is bounded per document: once full, new changes are refused
/// (and other documents are unaffected).
pub fn quarantine_is_bounded(store: &dyn Store) {
    write(store, |txn| {
        for i in 0..crate::store::QUARANTINE_LIMIT_PER_DOC {
            assert!(txn.quarantine(&doc_a(), &(i as u64).to_be_bytes(), b"c", 0).unwrap());
        }
        assert!(
            !txn.quarantine(&doc_a(), b"one too many", b"c", 0).unwrap(),
            "a full quarantine refuses"
        );
        assert!(
            txn.quarantine(&doc_b(), b"elsewhere", b"c", 0).unwrap(),
            "other documents have their own room"
        );
    });
    assert_eq!(
        store.quarantined(&doc_a()).unwrap().len(),
        crate::store::QUARANTINE_LIMIT_PER_DOC
    );
}

/// The whole quarantine holds at most `QUARANTINE_BYTES_LIMIT` bytes,
/// however many documents the changes claim; taking changes out frees room.
pub fn quarantine_bytes_are_bounded(store: &dyn Store) {
    let big = vec![7u8; 1024 * 1024];
    let fits = crate::store::QUARANTINE_BYTES_LIMIT / big.len();
    let doc = |i: usize| DocId::Segment(chat_id(9), kith_proto::Month::of(at(i as u64 * 40 * 86_400_000)));
    write(store, |txn| {
        for i in 0..fits {
            assert!(
                txn.quarantine(&doc(i), &(i as u64).to_be_bytes(), &big, 0).unwrap(),
                "{i}"
            );
        }
        assert!(
            !txn.quarantine(&doc(fits), b"one too many", &big, 0).unwrap(),
            "a full quarantine refuses, whatever the document"
        );
        assert!(
            txn.quarantine(&doc(0), &0u64.to_be_bytes(), &big, 0).unwrap(),
            "a change it holds already costs nothing"
        );
    });
    write(store, |txn| {
        assert_eq!(txn.take_quarantined(&doc(0)).unwrap().len(), 1);
        assert!(
            txn.quarantine(&doc(fits), b"now it fits", &big, 0).unwrap(),
            "room again"
        );
    });
}

/// A quarantined change is dropped once it has waited
/// `QUARANTINE_EXPIRY_MS` since it *first* arrived: a retry that takes it
/// out and puts it back does not restart its wait, and one that comes again
/// after it was dropped does not either. Signatures go with the last change
/// of their document.
pub fn quarantine_expires(store: &dyn Store) {
    let day = 86_400_000i64;
    let expiry = crate::store::QUARANTINE_EXPIRY_MS;
    let signature = kith_core::ChangeSignature {
        device: device(1),
        seq: 1,
        change: [1; 32],
        signature: [2; 64],
    };
    write(store, |txn| {
        assert!(txn.quarantine(&doc_a(), b"old", b"c", 0).unwrap());
        txn.quarantine_signatures(&doc_a(), std::slice::from_ref(&signature))
            .unwrap();
        assert!(txn.quarantine(&doc_b(), b"young", b"c", expiry - day).unwrap());
    });
    write(store, |txn| {
        // A retry: taken out and put back later, still waiting.
        assert_eq!(txn.take_quarantined(&doc_a()).unwrap().len(), 1);
        assert!(txn.quarantine(&doc_a(), b"old", b"c", expiry - 2 * day).unwrap());
        assert_eq!(
            txn.expire_quarantine(expiry - 1).unwrap(),
            0,
            "nothing has waited long enough"
        );
        assert_eq!(
            txn.expire_quarantine(expiry + 1).unwrap(),
            1,
            "its first arrival counts"
        );
    });
    assert!(store.quarantined(&doc_a()).unwrap().is_empty());
    assert_eq!(
        store.quarantined(&doc_b()).unwrap().len(),
        1,
        "the younger one waits on"
    );
    write(store, |txn| {
        assert!(
            txn.take_quarantined_signatures(&doc_a()).unwrap().is_empty(),
            "its document's signatures went with it"
        );
        // Offered again: it is dropped at the next expiry, not kept anew.
        assert!(txn.quarantine(&doc_a(), b"old", b"c", expiry + 2).unwrap());
        assert_eq!(txn.expire_quarantine(expiry + 3).unwrap(), 1);
    });
}

/// Quarantine keeps changes by hash per document; taking them empties it.
pub fn quarantine(store: &dyn Store) {
    assert!(store.quarantined(&doc_a()).unwrap().is_empty());
    write(store, |txn| {
        txn.quarantine(&doc_a(), b"h2", b"second", 0).unwrap();
        txn.quarantine(&doc_a(), b"h1", b"first", 0).unwrap();
        txn.quarantine(&doc_a(), b"h1", b"duplicate", 0).unwrap();
        txn.quarantine(&doc_b(), b"h3", b"other doc", 0).unwrap();
    });
    assert_eq!(
        store.quarantined(&doc_a()).unwrap(),
        vec![b"first".to_vec(), b"second".to_vec()],
        "ordered by hash; a repeated hash keeps the first change"
    );

    // Taking in a transaction that rolls back keeps them.
    {
        let mut txn = store.begin_write().unwrap();
        assert_eq!(txn.take_quarantined(&doc_a()).unwrap().len(), 2);
        assert!(
            txn.take_quarantined(&doc_a()).unwrap().is_empty(),
            "taken changes are gone in the txn"
        );
    }
    assert_eq!(
        store.quarantined(&doc_a()).unwrap().len(),
        2,
        "a rolled-back take keeps the changes"
    );

    let taken = write(store, |txn| txn.take_quarantined(&doc_a()).unwrap());
    assert_eq!(taken, vec![b"first".to_vec(), b"second".to_vec()]);
    assert!(
        store.quarantined(&doc_a()).unwrap().is_empty(),
        "take_quarantined empties it"
    );
    assert_eq!(
        store.quarantined(&doc_b()).unwrap(),
        vec![b"other doc".to_vec()],
        "other documents keep theirs"
    );
}

/// Signatures are kept newest-per-device per document, never moved back;
/// quarantined ones are kept per change and taken out with their document's.
pub fn change_signatures(store: &dyn Store) {
    use kith_core::ChangeSignature;
    let signature = |dev: u8, seq: u64| ChangeSignature {
        device: device(dev),
        seq,
        change: [seq as u8; 32],
        signature: [dev; 64],
    };
    assert!(store.change_signatures(&doc_a()).unwrap().is_empty());
    write(store, |txn| {
        txn.keep_change_signatures(&doc_a(), &[signature(1, 3), signature(2, 1)])
            .unwrap();
        txn.keep_change_signatures(&doc_a(), &[signature(1, 5)]).unwrap();
        txn.keep_change_signatures(&doc_a(), &[signature(1, 4)]).unwrap();
        txn.keep_change_signatures(&doc_b(), &[signature(3, 9)]).unwrap();
        assert_eq!(
            txn.change_signatures(&doc_b()).unwrap(),
            vec![signature(3, 9)],
            "seen in the txn"
        );
    });
    let mut held = store.change_signatures(&doc_a()).unwrap();
    held.sort_by_key(|s| s.device);
    let mut expected = vec![signature(1, 5), signature(2, 1)];
    expected.sort_by_key(|s| s.device);
    assert_eq!(held, expected, "the newest per device; an older one never replaces it");

    let kept = write(store, |txn| {
        txn.quarantine_signatures(&doc_a(), &[signature(1, 7), signature(1, 8), signature(1, 7)])
            .unwrap()
    });
    assert_eq!(kept, 2, "a repeated signature is kept once");
    {
        let mut txn = store.begin_write().unwrap();
        assert_eq!(txn.take_quarantined_signatures(&doc_a()).unwrap().len(), 2);
    }
    let taken = write(store, |txn| txn.take_quarantined_signatures(&doc_a()).unwrap());
    assert_eq!(
        taken,
        vec![signature(1, 7), signature(1, 8)],
        "a rolled-back take keeps them"
    );
    assert!(write(store, |txn| txn.take_quarantined_signatures(&doc_a()).unwrap()).is_empty());
    assert_eq!(
        store.change_signatures(&doc_a()).unwrap().len(),
        2,
        "accepted ones stay"
    );
}

/// The change marker moves with every commit, not with a rollback.
pub fn change_marker(store: &dyn Store) {
    let m0 = store.change_marker().unwrap();
    write(store, |txn| txn.append_chunk(&doc_a(), b"x").unwrap());
    let m1 = store.change_marker().unwrap();
    assert_ne!(m1, m0, "a commit changes the marker");
    write(store, |_| ());
    let m2 = store.change_marker().unwrap();
    assert_ne!(m2, m1, "even an empty commit changes the marker");
    {
        let mut txn = store.begin_write().unwrap();
        txn.append_chunk(&doc_a(), b"y").unwrap();
    }
    assert_eq!(
        store.change_marker().unwrap(),
        m2,
        "a rollback does not change the marker"
    );
    assert_eq!(store.change_marker().unwrap(), m2, "reading does not change the marker");
}

// ---------------------------------------------------------------------------
// Search

struct Corpus {
    piranesi: MessageId,
    piranesi3: MessageId,
    cafe: MessageId,
    book_club: MessageId,
    club: MessageId,
    other_chat: MessageId,
    decomposed: MessageId,
    cyrillic: MessageId,
}

fn search_corpus(store: &dyn Store) -> Corpus {
    let (c1, c2) = (chat_id(60), chat_id(61));
    let rows = [
        message_row(c1, 1, 1_000, "Have you read Piranesi yet?"),
        message_row(c1, 2, 2_000, "Piranesi, piranesi... PIRANESI!"),
        message_row(c1, 1, 3_000, "Le café est fermé aujourd'hui"),
        message_row(c1, 2, 4_000, "book club on Friday"),
        message_row(c1, 1, 5_000, "the club is closed"),
        message_row(c2, 3, 6_000, "Une crème brûlée, s'il vous plaît"),
        message_row(c2, 3, 7_000, "voila\u{300} \u{c9}cole"),
        message_row(c2, 4, 8_000, "йод дома"),
    ];
    apply(store, rows.iter().cloned().map(ReadModelUpdate::Message).collect());
    Corpus {
        piranesi: rows[0].id,
        piranesi3: rows[1].id,
        cafe: rows[2].id,
        book_club: rows[3].id,
        club: rows[4].id,
        other_chat: rows[5].id,
        decomposed: rows[6].id,
        cyrillic: rows[7].id,
    }
}

/// Words match as prefixes, case- and diacritic-insensitively.
pub fn search_prefix_case_diacritics(store: &dyn Store) {
    let c = search_corpus(store);
    let both = sorted(vec![c.piranesi, c.piranesi3]);
    assert_eq!(search_ids(store, "piran"), both, "a prefix finds the word");
    assert_eq!(search_ids(store, "Piranesi"), both, "a whole word finds itself");
    assert_eq!(search_ids(store, "PIRAN"), both, "case-insensitive");
    assert_eq!(search_ids(store, "cafe"), vec![c.cafe], "'cafe' finds 'café'");
    assert_eq!(
        search_ids(store, "CAFÉ"),
        vec![c.cafe],
        "accents and case in the query are ignored"
    );
    assert_eq!(search_ids(store, "ferme"), vec![c.cafe], "'ferme' finds 'fermé'");
    assert_eq!(
        search_ids(store, "creme brulee"),
        vec![c.other_chat],
        "diacritics in several words"
    );
    assert_eq!(search_ids(store, "plait"), vec![c.other_chat]);
    assert_eq!(
        search_ids(store, "voila"),
        vec![c.decomposed],
        "'voila' finds a decomposed 'voila' + U+0300"
    );
    assert_eq!(
        search_ids(store, "voilà"),
        vec![c.decomposed],
        "a precomposed query finds decomposed text"
    );
    assert_eq!(search_ids(store, "ecole"), vec![c.decomposed], "'ecole' finds 'École'");
    assert!(
        search_ids(store, "и").is_empty(),
        "Cyrillic short i (й) is a letter of its own, not и with a diacritic"
    );
    assert_eq!(search_ids(store, "й"), vec![c.cyrillic]);
    assert_eq!(search_ids(store, "ДОМ"), vec![c.cyrillic], "case folding beyond ASCII");
    assert!(
        search_ids(store, "iranesi").is_empty(),
        "a word must match from its start"
    );
    assert!(
        search_ids(store, "piranesix").is_empty(),
        "a query word longer than the stored word does not match"
    );
}

/// Every query word must match some word of the message.
pub fn search_every_word_must_match(store: &dyn Store) {
    let c = search_corpus(store);
    assert_eq!(search_ids(store, "club"), sorted(vec![c.book_club, c.club]));
    assert_eq!(
        search_ids(store, "book club"),
        vec![c.book_club],
        "every word must match"
    );
    assert_eq!(
        search_ids(store, "club book"),
        vec![c.book_club],
        "word order does not matter"
    );
    assert_eq!(search_ids(store, "fri bo"), vec![c.book_club], "every word as a prefix");
    assert!(
        search_ids(store, "book zebra").is_empty(),
        "one unmatched word means no match"
    );
    assert_eq!(
        search_ids(store, "club,  closed!"),
        vec![c.club],
        "punctuation separates words"
    );
}

/// Text that would be FTS5 syntax is searched as words and never errors.
pub fn search_hostile_queries(store: &dyn Store) {
    let c = search_corpus(store);
    for query in [
        "\"",
        "\"piran",
        "piran\"",
        "piran*",
        "*",
        "NEAR(",
        "NEAR(piran club, 2)",
        "piran OR club",
        "OR",
        "AND",
        "NOT",
        "club AND",
        "-club",
        "^club",
        "text:club",
        "(club",
        "club)",
        "{text}: club",
        "'",
        "'; DROP TABLE messages; --",
        "\0",
        "🙂",
        "a\u{301}",
    ] {
        let result = store.search(query, 10);
        assert!(result.is_ok(), "search({query:?}) must not fail: {:?}", result.err());
    }
    assert_eq!(
        search_ids(store, "\"piranesi\""),
        sorted(vec![c.piranesi, c.piranesi3]),
        "quotes are ignored"
    );
    assert_eq!(
        search_ids(store, "piran*"),
        sorted(vec![c.piranesi, c.piranesi3]),
        "'*' is ignored"
    );
    assert!(
        search_ids(store, "piran OR club").is_empty(),
        "OR is a word, not an operator"
    );
    assert_eq!(
        search_ids(store, "text:club"),
        Vec::<MessageId>::new(),
        "no column filters"
    );
    for empty in ["", "   ", "!!! ***", "\"\"", "-", "()"] {
        assert!(
            store.search(empty, 10).unwrap().is_empty(),
            "a query without words finds nothing: {empty:?}"
        );
    }
    // The store still works after hostile queries.
    assert_eq!(store.messages(&chat_id(60), None, 100).unwrap().len(), 5);
}

/// Edits replace what is searchable; deleted text is not found.
pub fn search_follows_edits_and_deletes(store: &dyn Store) {
    let chat = chat_id(70);
    let mut row = message_row(chat, 1, 1_000, "secret rendezvous at noon");
    apply(store, vec![ReadModelUpdate::Message(row.clone())]);
    assert_eq!(search_ids(store, "rendezvous"), vec![row.id]);

    row.text = Some("meeting moved to midnight".into());
    row.edited = Some(at(2_000));
    apply(store, vec![ReadModelUpdate::Message(row.clone())]);
    assert!(
        search_ids(store, "rendezvous").is_empty(),
        "the old text of an edited message is not found"
    );
    assert_eq!(search_ids(store, "midnight"), vec![row.id], "the new text is found");

    row.text = None;
    row.deleted = true;
    apply(store, vec![ReadModelUpdate::Message(row.clone())]);
    assert!(search_ids(store, "midnight").is_empty(), "deleted text is not found");
    assert!(search_ids(store, "meeting").is_empty());

    // A message that arrives already deleted is not indexed either.
    let mut gone = message_row(chat, 2, 3_000, "ignored");
    gone.text = None;
    gone.deleted = true;
    apply(store, vec![ReadModelUpdate::Message(gone)]);
    assert!(store.search("ignored", 10).unwrap().is_empty());
}

/// Each author's newest message time in one chat, and only that chat.
pub fn last_written_by_author_is_each_authors_newest_message(store: &dyn Store) {
    let chat = chat_id(71);
    let other = chat_id(72);
    apply(
        store,
        vec![
            ReadModelUpdate::Chat(group(chat, "Last words", &[(1, Role::Owner), (2, Role::Member)])),
            ReadModelUpdate::Chat(group(other, "Elsewhere", &[(3, Role::Owner)])),
        ],
    );
    let rows = [
        (chat, 1, 1_000),
        (chat, 2, 3_000),
        (chat, 1, 5_000),
        (chat, 2, 2_000),
        (other, 3, 9_000),
    ];
    apply(
        store,
        rows.iter()
            .map(|(chat, author, ms)| ReadModelUpdate::Message(message_row(*chat, *author, *ms, "words")))
            .collect(),
    );
    let last = store.last_written_by_author(&chat).unwrap();
    let millis: Vec<(AccountId, u64)> = last.into_iter().map(|(who, ts)| (who, ts.millis())).collect();
    let mut expected = vec![(account(1), 5_000), (account(2), 3_000)];
    expected.sort();
    assert_eq!(millis, expected, "per author, only this chat");
    assert!(store.last_written_by_author(&chat_id(73)).unwrap().is_empty());
}

/// A message by someone else that shares a word with the query is a
/// candidate exactly when the owner wrote the next message of that chat.
pub fn reply_candidates_pair_prompts_with_own_replies(store: &dyn Store) {
    let chat = chat_id(70);
    apply(
        store,
        vec![ReadModelUpdate::Chat(group(
            chat,
            "Replies",
            &[(1, Role::Owner), (2, Role::Member), (3, Role::Member)],
        ))],
    );
    let rows = [
        (2, 1_000, "are you coming tonight?"),
        (1, 2_000, "Yes, at seven"),
        (2, 3_000, "coming to the match?"),
        (3, 4_000, "me too"),
        (2, 5_000, "unrelated words here"),
        (1, 6_000, "ok"),
        (1, 7_000, "I am coming"),
        (2, 8_000, "last word"),
    ];
    apply(
        store,
        rows.iter()
            .map(|(author, ms, text)| ReadModelUpdate::Message(message_row(chat, *author, *ms, text)))
            .collect(),
    );
    let me = account(1);
    let pairs = |terms: &[&str]| -> Vec<(String, String)> {
        let terms: Vec<String> = terms.iter().map(|t| (*t).to_owned()).collect();
        let mut found: Vec<(String, String)> = store
            .reply_candidates(&terms, &me, 10)
            .unwrap()
            .into_iter()
            .inspect(|c| assert!(c.score > 0.0, "{c:?}"))
            .map(|c| (c.prompt, c.reply))
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        pairs(&["coming"]),
        vec![("are you coming tonight?".to_owned(), "Yes, at seven".to_owned())],
        "the match question got no reply from the owner; the owner's own message is no prompt"
    );
    assert_eq!(
        pairs(&["unrelated", "tonight"]),
        vec![
            ("are you coming tonight?".to_owned(), "Yes, at seven".to_owned()),
            ("unrelated words here".to_owned(), "ok".to_owned()),
        ]
    );
    assert!(pairs(&["last"]).is_empty(), "nothing follows the last message");
    assert!(pairs(&[]).is_empty());
    assert!(
        pairs(&["\"*)(", "NEAR"]).is_empty(),
        "FTS5 syntax in terms is only text"
    );
}

/// Hits carry the chat, message, full text and a bracketed snippet; more
/// matches rank first; the limit applies.
pub fn search_hits_and_ranking(store: &dyn Store) {
    let c = search_corpus(store);
    let hits: Vec<SearchHit> = store.search("piran", 10).unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(
        hits[0].message, c.piranesi3,
        "three occurrences rank above one in a similar-length text"
    );
    assert_eq!(hits[0].chat, chat_id(60));
    assert_eq!(
        hits[0].text, "Piranesi, piranesi... PIRANESI!",
        "hits carry the full text"
    );
    for hit in &hits {
        assert!(hit.snippet.contains('['), "snippet marks the match: {:?}", hit.snippet);
        assert!(hit.snippet.contains(']'), "snippet marks the match: {:?}", hit.snippet);
        assert!(
            hit.snippet.to_lowercase().contains("[piranesi]"),
            "snippet brackets the matched word: {:?}",
            hit.snippet
        );
    }

    let hits = store.search("creme", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].chat, hits[0].message),
        (chat_id(61), c.other_chat),
        "hits name their chat"
    );
    assert!(
        hits[0].snippet.contains("[crème]"),
        "the snippet shows the original word: {:?}",
        hits[0].snippet
    );

    assert_eq!(store.search("piran", 1).unwrap().len(), 1, "the limit applies");
    assert!(store.search("piran", 0).unwrap().is_empty(), "limit 0 returns nothing");
}

fn attachment(n: u8) -> kith_core::Attachment {
    kith_core::Attachment {
        hash: [n; 32],
        key: [n.wrapping_add(1); 32],
        size: 1000 + u64::from(n),
        mime: "image/png".into(),
        name: format!("picture {n}.png"),
        kind: kith_core::AttachmentKind::Image { width: 4, height: 3 },
        thumbnail: Some(vec![n; 10]),
    }
}

/// Attachments come back as written; blob references follow live messages,
/// on the one-row path and on the batch path alike.
pub fn attachments_and_blob_references(store: &dyn Store) {
    let chat = chat_id(1);
    let other = chat_id(2);
    let mut first = message_row(chat, 1, 1_000, "two pictures");
    first.attachments = vec![attachment(7), attachment(8)];
    apply(store, vec![ReadModelUpdate::Message(first.clone())]);
    // A batch: the same picture in another chat, and a plain message.
    let mut second = message_row(other, 2, 2_000, "");
    second.attachments = vec![attachment(7)];
    let plain = message_row(chat, 1, 3_000, "no files");
    apply(
        store,
        vec![
            ReadModelUpdate::Message(second.clone()),
            ReadModelUpdate::Message(plain),
        ],
    );
    assert_eq!(
        store.message(&chat, &first.id).unwrap().unwrap().attachments,
        first.attachments
    );
    let listed = store.attachment_messages(&chat).unwrap();
    assert_eq!(listed.len(), 1, "only messages with files: {listed:?}");
    assert_eq!(listed[0].id, first.id);
    // Each blob a message refers to is wanted (not here yet).
    let wanted = store.blob(&[8; 32]).unwrap().expect("wanted");
    assert!(!wanted.complete && !wanted.on_server);
    assert_eq!(wanted.size, 1008);
    assert_eq!(store.blobs().unwrap().len(), 2);
    assert_eq!(store.blob_chats(&[7; 32]).unwrap(), vec![chat, other]);
    assert_eq!(store.blob_chats(&[8; 32]).unwrap(), vec![chat]);
    assert!(store.blob_chats(&[9; 32]).unwrap().is_empty());
    // Deleted for everyone: the files go with the text.
    let mut deleted = first.clone();
    deleted.text = None;
    deleted.deleted = true;
    deleted.attachments = Vec::new();
    apply(store, vec![ReadModelUpdate::Message(deleted)]);
    assert!(store.message(&chat, &first.id).unwrap().unwrap().attachments.is_empty());
    assert!(store.attachment_messages(&chat).unwrap().is_empty());
    assert_eq!(store.blob_chats(&[7; 32]).unwrap(), vec![other]);
    assert!(store.blob_chats(&[8; 32]).unwrap().is_empty());
}

/// The local blob index: put, update, list, delete, rollback.
pub fn blob_index(store: &dyn Store) {
    let row = crate::BlobRow {
        hash: [3; 32],
        size: 42,
        complete: false,
        on_server: false,
        added_ms: 5,
    };
    write(store, |txn| txn.put_blob(&row).unwrap());
    assert_eq!(store.blob(&[3; 32]).unwrap(), Some(row.clone()));
    let done = crate::BlobRow {
        complete: true,
        on_server: true,
        added_ms: 99,
        ..row.clone()
    };
    write(store, |txn| txn.put_blob(&done).unwrap());
    let stored = store.blob(&[3; 32]).unwrap().unwrap();
    assert!(stored.complete && stored.on_server);
    assert_eq!(stored.added_ms, 5, "first recorded time kept");
    {
        let mut txn = store.begin_write().unwrap();
        txn.delete_blob(&[3; 32]).unwrap();
        // Dropped: rolled back.
    }
    assert_eq!(store.blobs().unwrap().len(), 1);
    write(store, |txn| txn.delete_blob(&[3; 32]).unwrap());
    assert!(store.blob(&[3; 32]).unwrap().is_none());
    assert!(store.blobs().unwrap().is_empty());
}
