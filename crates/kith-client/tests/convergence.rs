//! Replicas that apply random operations and sync in random orders over the
//! deterministic in-memory network end with identical documents and
//! identical read models; a tampered replica's unauthorised writes show on no
//! honest replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use kith_client::sim::SimNetwork;
use kith_client::{ChatId, ChatKind, DocId, Hlc, MessageId, Profile, Role};
use kith_core::Identity;
use kith_store::{MemoryStore, SqliteStore, Store};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const EVIL_NAME: &str = "pwned";
const EVIL_TEXT: &str = "evil edit";
const EVIL_EMOJI: &str = "😈";
const EVIL_READ: i64 = 1 << 60;

#[derive(Clone, Debug)]
enum Op {
    Send {
        by: usize,
        text: u8,
    },
    Reply {
        by: usize,
        pick: usize,
    },
    Edit {
        by: usize,
        pick: usize,
    },
    Delete {
        by: usize,
        pick: usize,
    },
    React {
        by: usize,
        pick: usize,
        emoji: u8,
        remove: bool,
    },
    Rename {
        by: usize,
        name: u8,
    },
    SetRole {
        by: usize,
        target: usize,
        admin: bool,
    },
    Remove {
        by: usize,
        target: usize,
    },
    Read {
        by: usize,
    },
    Sync {
        a: usize,
        b: usize,
        seed: u64,
    },
    Evil {
        kind: u8,
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5usize, any::<u8>()).prop_map(|(by, text)| Op::Send { by, text }),
        1 => (0..5usize, any::<usize>()).prop_map(|(by, pick)| Op::Reply { by, pick }),
        2 => (0..5usize, any::<usize>()).prop_map(|(by, pick)| Op::Edit { by, pick }),
        1 => (0..5usize, any::<usize>()).prop_map(|(by, pick)| Op::Delete { by, pick }),
        2 => (0..5usize, any::<usize>(), 0..3u8, any::<bool>()).prop_map(|(by, pick, emoji, remove)| Op::React { by, pick, emoji, remove }),
        1 => (0..5usize, any::<u8>()).prop_map(|(by, name)| Op::Rename { by, name }),
        1 => (0..5usize, 0..5usize, any::<bool>()).prop_map(|(by, target, admin)| Op::SetRole { by, target, admin }),
        1 => (0..5usize, 0..5usize).prop_map(|(by, target)| Op::Remove { by, target }),
        1 => (0..5usize).prop_map(|by| Op::Read { by }),
        3 => (0..5usize, 0..5usize, any::<u64>()).prop_map(|(a, b, seed)| Op::Sync { a, b, seed }),
        2 => (0..8u8, any::<usize>()).prop_map(|(kind, pick)| Op::Evil { kind, pick }),
    ]
}

struct World {
    replicas: Vec<Profile>,
    chat: ChatId,
    /// Index of the tampered replica, if any.
    adversary: Option<usize>,
}

fn clock() -> impl Fn() -> u64 + Send + Sync + 'static {
    // Deterministic, slightly skewed clocks: every call moves time on.
    let now = Arc::new(AtomicU64::new(1_795_000_000_000));
    move || now.fetch_add(7, Ordering::Relaxed)
}

fn world(count: usize, with_adversary: bool) -> World {
    let mut replicas = Vec::new();
    for i in 0..count {
        let n = u8::try_from(i).expect("small") * 3 + 1;
        let identity = Identity::create([[n; 32], [n + 1; 32], [n + 2; 32]], 0);
        // Alternate the two store implementations.
        let store: Arc<dyn Store> = if i % 2 == 0 {
            Arc::new(SqliteStore::open_in_memory().expect("sqlite"))
        } else {
            Arc::new(MemoryStore::new())
        };
        let mut profile = Profile::with_store(identity, store, &format!("replica {i}")).expect("profile");
        profile.set_clock(clock());
        replicas.push(profile);
    }
    for a in &replicas {
        for b in &replicas {
            a.docs().learn_certificate(b.identity().certificate()).expect("learn");
        }
    }
    let members: Vec<_> = replicas.iter().skip(1).map(|r| r.identity().account_id()).collect();
    let chat = replicas[0]
        .chats()
        .create("Group", &members, ChatKind::Group)
        .expect("chat");
    let refs: Vec<&Profile> = replicas.iter().collect();
    let links: Vec<(usize, usize)> = (1..count).map(|i| (0, i)).collect();
    SimNetwork::new(1).run(&refs, &links).expect("initial sync");
    World {
        replicas,
        chat,
        adversary: (with_adversary && count >= 3).then_some(count - 1),
    }
}

fn pick_message(profile: &Profile, chat: &ChatId, pick: usize) -> Option<MessageId> {
    let messages = profile.messages().list(chat, 10_000, None).ok()?;
    (!messages.is_empty()).then(|| messages[pick % messages.len()].id)
}

fn apply(world: &World, op: &Op) {
    let n = world.replicas.len();
    let chat = &world.chat;
    match *op {
        Op::Send { by, text } => {
            let _ = world.replicas[by % n]
                .messages()
                .send(chat, &format!("message {text}"), None);
        }
        Op::Reply { by, pick } => {
            let r = &world.replicas[by % n];
            if let Some(to) = pick_message(r, chat, pick) {
                let _ = r.messages().send(chat, "a reply", Some(to));
            }
        }
        Op::Edit { by, pick } => {
            let r = &world.replicas[by % n];
            if let Some(id) = pick_message(r, chat, pick) {
                let _ = r.messages().edit(chat, &id, &format!("edited by {}", by % n));
            }
        }
        Op::Delete { by, pick } => {
            let r = &world.replicas[by % n];
            if let Some(id) = pick_message(r, chat, pick) {
                let _ = r.messages().delete(chat, &id);
            }
        }
        Op::React {
            by,
            pick,
            emoji,
            remove,
        } => {
            let r = &world.replicas[by % n];
            if let Some(id) = pick_message(r, chat, pick) {
                let _ = r
                    .messages()
                    .react(chat, &id, ["👍", "❤️", "😂"][usize::from(emoji % 3)], remove);
            }
        }
        Op::Rename { by, name } => {
            let _ = world.replicas[by % n].chats().rename(chat, &format!("name {name}"));
        }
        Op::SetRole { by, target, admin } => {
            if admin && Some(target % n) == world.adversary {
                // The adversary stays a plain member so its renames stay unauthorised.
                return;
            }
            let target = world.replicas[target % n].identity().account_id();
            let role = if admin { Role::Admin } else { Role::Member };
            let _ = world.replicas[by % n].chats().set_role(chat, &target, role);
        }
        Op::Remove { by, target } => {
            let target = world.replicas[target % n].identity().account_id();
            let _ = world.replicas[by % n].chats().remove_member(chat, &target);
        }
        Op::Read { by } => {
            let _ = world.replicas[by % n].messages().mark_read(chat);
        }
        Op::Sync { a, b, seed } => {
            let (a, b) = (a % n, b % n);
            if a != b {
                let refs: Vec<&Profile> = world.replicas.iter().collect();
                SimNetwork::new(seed)
                    .run(&refs, &[(a, b)])
                    .expect("pairwise sync settles");
            }
        }
        Op::Evil { kind, pick } => {
            if let Some(adversary) = world.adversary {
                evil(world, adversary, kind, pick);
            }
        }
    }
}

/// The tampered replica writes what it has no authority for.
fn evil(world: &World, adversary: usize, kind: u8, pick: usize) {
    let me = &world.replicas[adversary];
    let victim = world.replicas[0].identity().account_id();
    let chat = world.chat;
    let head = DocId::Head(chat);
    // Someone else's message: tampering with one's own is no offence.
    let target = me.messages().list(&chat, 10_000, None).ok().and_then(|all| {
        let others: Vec<_> = all
            .iter()
            .filter(|m| m.author != me.identity().account_id())
            .map(|m| m.id)
            .collect();
        (!others.is_empty()).then(|| others[pick % others.len()])
    });
    let result = match kind {
        0 => me.docs().tamper(head, |doc| {
            let _ = doc.put(ROOT, "name", EVIL_NAME);
        }),
        1 => me.docs().tamper(head, |doc| {
            let _ = doc.put(ROOT, format!("member/{}", me.identity().account_id()), "owner");
        }),
        2 => match target {
            Some(id) => {
                let seg = DocId::Segment(chat, kith_proto::Month::of(id.ts()));
                me.docs().tamper(seg, |doc| {
                    if let Ok(Some((_, obj))) = doc.get(ROOT, format!("m/{id}")) {
                        let _ = doc.put(&obj, "text", EVIL_TEXT);
                    }
                })
            }
            None => Ok(()),
        },
        3 => match target {
            Some(id) => {
                let seg = DocId::Segment(chat, kith_proto::Month::of(id.ts()));
                me.docs().tamper(seg, |doc| {
                    let _ = doc.put(ROOT, format!("r/{id}/{victim}/{EVIL_EMOJI}"), 1);
                })
            }
            None => Ok(()),
        },
        4 => match target {
            Some(id) => {
                let seg = DocId::Segment(chat, kith_proto::Month::of(id.ts()));
                me.docs().tamper(seg, |doc| {
                    let _ = doc.put(ROOT, format!("read/{victim}"), EVIL_READ);
                })
            }
            None => Ok(()),
        },
        5 => {
            // A head change under the victim's (the owner's) device: it
            // makes the adversary owner and renames the chat. Only a
            // signature could tell it from the victim's own.
            let own = kith_core::docs::actor_of(&me.identity().device_id());
            let victim_device = kith_core::docs::actor_of(&world.replicas[0].identity().device_id());
            me.docs().tamper(head, |doc| {
                doc.set_actor(victim_device);
                let _ = doc.put(ROOT, "name", EVIL_NAME);
                let _ = doc.put(ROOT, format!("member/{}", me.identity().account_id()), "owner");
                doc.commit();
                doc.set_actor(own);
            })
        }
        6 => {
            // A back-dated head change: written as if the adversary had
            // seen nothing since its own last head change (or the chat's
            // creation), so a removal or demotion since is not among its
            // dependencies. It renames the chat, promotes the adversary
            // and commits an epoch of its own.
            let own = kith_core::docs::actor_of(&me.identity().device_id());
            me.docs().tamper(head, |doc| {
                let changes = doc.get_changes(&[]);
                let Some(first) = changes.first().map(|c| c.hash()) else {
                    return;
                };
                // Forking at the adversary's own newest change keeps its
                // sequence numbers unique.
                let base = changes
                    .iter()
                    .rev()
                    .find(|c| *c.actor_id() == own)
                    .map_or(first, |c| c.hash());
                let Ok(mut fork) = doc.fork_at(&[base]) else {
                    return;
                };
                fork.set_actor(own.clone());
                let account = me.identity().account_id();
                let _ = fork.put(ROOT, "name", EVIL_NAME);
                let _ = fork.put(ROOT, format!("member/{account}"), "admin");
                let _ = fork.put(ROOT, "epoch/99", "adversary-key");
                fork.commit();
                let _ = doc.merge(&mut fork);
            })
        }
        _ => {
            // A message that claims to come from the victim's device.
            let device = world.replicas[0].identity().device_id();
            let forged = MessageId::new(Hlc::new(1_795_000_000_500, 1), &device);
            let seg = DocId::Segment(chat, kith_proto::Month::of(forged.ts()));
            me.docs().tamper(seg, |doc| {
                if let Ok(obj) = doc.put_object(ROOT, format!("m/{forged}"), automerge::ObjType::Map) {
                    let _ = doc.put(&obj, "author", victim.to_string());
                    let _ = doc.put(&obj, "device", device.to_string());
                    let _ = doc.put(&obj, "text", EVIL_TEXT);
                }
            })
        }
    };
    result.expect("tampering writes locally");
}

/// Everything a replica shows about the chat, from its read models.
fn read_model(profile: &Profile, chat: &ChatId, members: &[kith_client::AccountId]) -> String {
    let store = profile.store();
    let head = store.chat(chat).expect("chat");
    let messages = store.messages(chat, None, 100_000).expect("messages");
    let reads: BTreeMap<_, _> = members
        .iter()
        .map(|m| (m.to_string(), store.read_position(chat, m).expect("read")))
        .collect();
    format!("{head:?}\n{messages:?}\n{reads:?}")
}

fn doc_heads(profile: &Profile, chat: &ChatId) -> BTreeMap<String, Vec<automerge::ChangeHash>> {
    profile
        .store()
        .doc_ids()
        .expect("doc ids")
        .into_iter()
        .filter(|d| d.chat() == Some(*chat))
        .map(|d| {
            let mut doc = profile.docs().load(d).expect("load");
            (d.to_string(), doc.heads())
        })
        .collect()
}

/// Collects the log lines of the final sync run, for failure reports.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

fn check(world: &World) -> Result<(), TestCaseError> {
    let n = world.replicas.len();
    let refs: Vec<&Profile> = world.replicas.iter().collect();
    let mesh: Vec<(usize, usize)> = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).collect();
    let mut network = SimNetwork::new(7).with_trace();
    let log = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, || network.run(&refs, &mesh))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut trace = network.take_trace();
    trace.push(log.text());
    let members: Vec<_> = world.replicas.iter().map(|r| r.identity().account_id()).collect();
    let honest: Vec<usize> = (0..n).filter(|i| Some(*i) != world.adversary).collect();
    // A member removed for good still learns the head (and so its removal)
    // but no messages written after it: it converges on the head only.
    let head_doc = DocId::Head(world.chat).to_string();
    let head_of = |i: usize| doc_heads(&world.replicas[i], &world.chat).remove(&head_doc);
    for &i in &honest[1..] {
        prop_assert_eq!(head_of(i), head_of(honest[0]), "head differs on replica {}", i);
    }
    let current = world.replicas[honest[0]]
        .store()
        .chat(&world.chat)
        .expect("chat")
        .map(|row| row.members)
        .unwrap_or_default();
    let full: Vec<usize> = honest
        .iter()
        .copied()
        .filter(|i| current.contains_key(&world.replicas[*i].identity().account_id()))
        .collect();
    // Everyone may have been removed but the adversary: nothing to compare.
    if let Some(&first) = full.first() {
        let expected_docs = doc_heads(&world.replicas[first], &world.chat);
        let expected_model = read_model(&world.replicas[first], &world.chat, &members);
        for &i in &full[1..] {
            let heads = doc_heads(&world.replicas[i], &world.chat);
            if heads != expected_docs {
                let quarantine: Vec<String> = world
                    .replicas
                    .iter()
                    .map(|r| {
                        let docs = r.store().doc_ids().expect("ids");
                        let counts: Vec<usize> = docs
                            .iter()
                            .map(|d| r.store().quarantined(d).expect("q").len())
                            .collect();
                        format!("{counts:?}")
                    })
                    .collect();
                let all: Vec<_> = world.replicas.iter().map(|r| doc_heads(r, &world.chat)).collect();
                // Diagnose: what does replica i lack, and what would it say about it?
                let mut verdicts = Vec::new();
                for doc_name in expected_docs.keys() {
                    let id: DocId = doc_name.parse().expect("doc id");
                    let mut mine = world.replicas[i].docs().load(id).expect("load");
                    let mut theirs = world.replicas[first].docs().load(id).expect("load");
                    for change in theirs.raw_mut().get_changes(&[]) {
                        if mine.raw_mut().get_change_by_hash(&change.hash()).is_none() {
                            let store = world.replicas[i].store().clone();
                            let mut txn = store.begin_write().expect("txn");
                            let dir = kith_store::StoreDirectory::new(txn.as_mut());
                            let verdict = kith_core::authority::validate(&mine, &change, &dir);
                            let ops: Vec<String> = change
                                .decode()
                                .operations
                                .iter()
                                .map(|o| format!("{:?} {:?} {:?}", o.obj, o.key, o.action))
                                .collect();
                            verdicts.push(format!(
                                "{doc_name} lacks {} by {:?}: {verdict:?} ops {ops:?}",
                                change.hash(),
                                kith_core::docs::device_of(change.actor_id())
                            ));
                        }
                    }
                }
                prop_assert!(
                    false,
                    "documents differ on replica {}: all heads {:?}; quarantines {:?}; missing {:?}; final run:\n{}",
                    i,
                    all,
                    quarantine,
                    verdicts,
                    trace.join("\n")
                );
            }
            prop_assert_eq!(
                &read_model(&world.replicas[i], &world.chat, &members),
                &expected_model,
                "read models differ on replica {}",
                i
            );
        }
    }
    for &i in &honest {
        let store = world.replicas[i].store();
        let head = store.chat(&world.chat).expect("chat").expect("present");
        prop_assert_ne!(head.name.as_str(), EVIL_NAME);
        if let Some(adversary) = world.adversary {
            let role = head.members.get(&world.replicas[adversary].identity().account_id());
            prop_assert!(
                !matches!(role, Some(Role::Owner | Role::Admin)),
                "the adversary promoted itself: {role:?}"
            );
        }
        for m in store.messages(&world.chat, None, 100_000).expect("messages") {
            prop_assert_ne!(m.text.as_deref(), Some(EVIL_TEXT));
            prop_assert!(!m.reactions.contains_key(EVIL_EMOJI));
        }
        let victim = world.replicas[0].identity().account_id();
        let read = store.read_position(&world.chat, &victim).expect("read");
        prop_assert!(read.map(|r| r.to_i64()) != Some(EVIL_READ));
    }
    // The incremental read model equals one rebuilt from the documents.
    for &i in &honest {
        let replica = &world.replicas[i];
        let rebuilt = MemoryStore::new();
        let mut txn = rebuilt.begin_write().expect("txn");
        for id in replica
            .store()
            .doc_ids()
            .expect("ids")
            .into_iter()
            .filter(|d| d.chat() == Some(world.chat))
        {
            let mut doc = replica.docs().load(id).expect("load");
            txn.apply(&kith_core::full_read_model(&mut doc)).expect("apply");
        }
        txn.commit().expect("commit");
        let incremental = replica.store().messages(&world.chat, None, 100_000).expect("messages");
        let from_scratch = rebuilt.messages(&world.chat, None, 100_000).expect("messages");
        prop_assert_eq!(
            incremental,
            from_scratch,
            "incremental read model drifted on replica {}",
            i
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_refuse_tampering(
        count in 2usize..=5,
        with_adversary in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let trace = std::env::var("KITH_SIM_TRACE").is_ok();
        let world = world(count, with_adversary);
        for op in &ops {
            let started = std::time::Instant::now();
            if trace {
                eprintln!("start {op:?}");
            }
            apply(&world, op);
            if trace {
                eprintln!("{:?} {op:?}", started.elapsed());
            }
        }
        if trace {
            eprintln!("check");
        }
        check(&world)?;
    }
}

#[test]
fn a_lossy_network_still_converges_without_a_sync_loop() {
    let world = world(3, false);
    for (i, r) in world.replicas.iter().enumerate() {
        for k in 0..20 {
            r.messages()
                .send(&world.chat, &format!("from {i}: {k}"), None)
                .expect("send");
        }
    }
    let refs: Vec<&Profile> = world.replicas.iter().collect();
    let mesh = [(0, 1), (1, 2), (0, 2)];
    let stats = SimNetwork::new(99)
        .with_drops(300)
        .with_max_messages(5_000)
        .run_until_converged(&refs, &mesh, 50)
        .expect("converges");
    assert!(stats.dropped > 0, "the test must actually drop messages");
    for r in &world.replicas {
        assert_eq!(r.messages().list(&world.chat, 1000, None).expect("messages").len(), 60);
    }
    println!("lossy sync: {stats:?}");
}

#[test]
fn a_non_member_gets_nothing_applied() {
    let world = world(2, false);
    let stranger_id = Identity::create([[77; 32], [78; 32], [79; 32]], 0);
    let stranger = Profile::with_store(stranger_id, Arc::new(MemoryStore::new()), "stranger").expect("profile");
    stranger
        .docs()
        .learn_certificate(world.replicas[0].identity().certificate())
        .expect("learn");
    world.replicas[0]
        .docs()
        .learn_certificate(stranger.identity().certificate())
        .expect("learn");
    world.replicas[0]
        .messages()
        .send(&world.chat, "members only", None)
        .expect("send");
    // The stranger shares no chat with replica 0, so nothing is offered...
    assert!(
        world.replicas[0]
            .docs()
            .shared_with(&stranger.identity().account_id())
            .expect("docs")
            .is_empty()
    );
    // ...and a message it forges into the chat is never applied.
    let seg = DocId::Segment(world.chat, kith_proto::Month::from_millis(1_795_000_000_000));
    stranger
        .docs()
        .tamper(seg, |doc| {
            let _ = doc.put(ROOT, "schema", 1);
        })
        .expect("tamper");
    let mut doc = stranger.docs().load(seg).expect("load");
    let mut session = kith_core::SyncSession::new();
    let message = session.generate(&mut doc).expect("a message");
    let _ = world.replicas[0].docs().sync_receive("stranger", seg, &message);
    let stranger_changes: Vec<_> = doc.raw_mut().get_changes(&[]).iter().map(|c| c.hash()).collect();
    assert!(!stranger_changes.is_empty());
    let mut replica_doc = world.replicas[0].docs().load(seg).expect("load");
    for hash in stranger_changes {
        assert!(
            replica_doc.raw_mut().get_change_by_hash(&hash).is_none(),
            "the stranger's change was applied"
        );
    }
    assert_eq!(
        world.replicas[0]
            .messages()
            .list(&world.chat, 100, None)
            .expect("messages")
            .len(),
        1
    );
}
