//! A deterministic in-memory network between profiles: no sockets, no
//! sleeps. Sessions take turns in an order drawn from a seeded generator
//! (each session's own messages stay in order, like a stream),
//! optionally dropped, and every run ends in a bounded number of messages or
//! reports a sync loop.

use crate::error::ClientError;
use crate::profile::Profile;
use kith_proto::DocId;
use std::collections::BTreeSet;

/// Statistics of one simulated run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Messages delivered.
    pub delivered: usize,
    /// Messages dropped on purpose.
    pub dropped: usize,
    /// Sync message bytes delivered.
    pub bytes: usize,
}

/// Why a simulated run failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// More messages than the bound: the protocol is looping.
    #[error("sync did not settle within {0} messages")]
    NoQuiescence(usize),
    /// A profile operation failed.
    #[error(transparent)]
    Client(#[from] Box<ClientError>),
}

struct InFlight {
    from: usize,
    to: usize,
    doc: DocId,
    bytes: Vec<u8>,
}

/// The simulated network.
#[derive(Debug)]
pub struct SimNetwork {
    state: u64,
    drop_per_mille: u64,
    max_messages: usize,
    /// One line per delivered message, when tracing.
    trace: Option<Vec<String>>,
}

impl From<ClientError> for SimError {
    fn from(err: ClientError) -> SimError {
        SimError::Client(Box::new(err))
    }
}

impl SimNetwork {
    /// A network whose delivery order is fixed by `seed`.
    pub fn new(seed: u64) -> SimNetwork {
        SimNetwork {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            drop_per_mille: 0,
            max_messages: 200_000,
            trace: None,
        }
    }

    /// Drops each message with this probability (per mille).
    pub fn with_drops(mut self, per_mille: u64) -> SimNetwork {
        self.drop_per_mille = per_mille.min(1000);
        self
    }

    /// Bounds the number of messages in one run.
    pub fn with_max_messages(mut self, max: usize) -> SimNetwork {
        self.max_messages = max;
        self
    }

    /// Records every delivery (see [`SimNetwork::take_trace`]), to diagnose a
    /// failing property test.
    pub fn with_trace(mut self) -> SimNetwork {
        self.trace = Some(Vec::new());
        self
    }

    /// The deliveries recorded so far.
    pub fn take_trace(&mut self) -> Vec<String> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn describe(bytes: &[u8]) -> String {
        fn short(hashes: &[automerge::ChangeHash]) -> String {
            let list: Vec<String> = hashes.iter().map(|h| h.to_string()[..6].to_string()).collect();
            list.join(",")
        }
        match automerge::sync::Message::decode(bytes) {
            Ok(m) => {
                let changes: Vec<String> = m
                    .changes
                    .iter()
                    .map(|c| match automerge::Change::from_bytes(c.to_vec()) {
                        Ok(c) => format!("{}<-[{}]", &c.hash().to_string()[..6], short(c.deps())),
                        Err(_) => format!("chunk{}B", c.len()),
                    })
                    .collect();
                let have: Vec<String> = m
                    .have
                    .iter()
                    .map(|h| format!("since[{}]", short(&h.last_sync)))
                    .collect();
                format!(
                    "heads[{}] need[{}] have{:?} changes{:?}",
                    short(&m.heads),
                    short(&m.need),
                    have,
                    changes
                )
            }
            Err(err) => format!("undecodable: {err}"),
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: small, deterministic, good enough to shuffle deliveries.
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn docs_between(a: &Profile, b: &Profile) -> Result<BTreeSet<DocId>, ClientError> {
        let mut docs: BTreeSet<DocId> = a.docs().shared_with(&b.identity().account_id())?.into_iter().collect();
        docs.extend(b.docs().shared_with(&a.identity().account_id())?);
        Ok(docs)
    }

    fn name(profile: &Profile) -> String {
        profile.identity().device_id().to_string()
    }

    fn offer(nodes: &[&Profile], from: usize, to: usize, queue: &mut Vec<InFlight>) -> Result<(), ClientError> {
        for doc in Self::docs_between(nodes[from], nodes[to])? {
            if let Some(bytes) = nodes[from].docs().sync_generate(&Self::name(nodes[to]), doc)? {
                queue.push(InFlight { from, to, doc, bytes });
            }
        }
        Ok(())
    }

    /// Connects every listed pair (fresh sync sessions, as after a reconnect)
    /// and delivers messages until nothing is left to send.
    pub fn run(&mut self, nodes: &[&Profile], links: &[(usize, usize)]) -> Result<SimStats, SimError> {
        let mut stats = SimStats::default();
        let mut queue: Vec<InFlight> = Vec::new();
        for &(a, b) in links {
            nodes[a].docs().reset_sync(&Self::name(nodes[b]));
            nodes[b].docs().reset_sync(&Self::name(nodes[a]));
            Self::offer(nodes, a, b, &mut queue)?;
            Self::offer(nodes, b, a, &mut queue)?;
        }
        while !queue.is_empty() {
            if stats.delivered + stats.dropped >= self.max_messages {
                return Err(SimError::NoQuiescence(self.max_messages));
            }
            // Any session may go next, but each session's stream stays in
            // order: Automerge sync assumes an ordered stream, as TCP, QUIC
            // and WebSocket give it.
            let drawn = usize::try_from(self.next() % queue.len() as u64).unwrap_or(0);
            let (from, to, doc) = (queue[drawn].from, queue[drawn].to, queue[drawn].doc);
            let index = queue
                .iter()
                .position(|m| m.from == from && m.to == to && m.doc == doc)
                .unwrap_or(drawn);
            let message = queue.remove(index);
            if self.next() % 1000 < self.drop_per_mille {
                stats.dropped += 1;
                continue;
            }
            stats.delivered += 1;
            stats.bytes += message.bytes.len();
            let (from, to) = (nodes[message.from], nodes[message.to]);
            let accepted = to.docs().sync_receive(&Self::name(from), message.doc, &message.bytes)?;
            if let Some(trace) = self.trace.as_mut() {
                trace.push(format!(
                    "{}->{} {} {} accepted {accepted}",
                    message.from,
                    message.to,
                    message.doc,
                    Self::describe(&message.bytes)
                ));
            }
            if let Some(bytes) = to.docs().sync_generate(&Self::name(from), message.doc)? {
                queue.push(InFlight {
                    from: message.to,
                    to: message.from,
                    doc: message.doc,
                    bytes,
                });
            }
            if accepted > 0 {
                // What `to` learned may interest its other peers (and may make
                // new documents shareable with them).
                for &(a, b) in links {
                    let other = if a == message.to {
                        b
                    } else if b == message.to {
                        a
                    } else {
                        continue;
                    };
                    Self::offer(nodes, message.to, other, &mut queue)?;
                }
            }
        }
        Ok(stats)
    }

    /// Runs until a run delivers nothing new: lossy runs stall when a message
    /// is dropped, and reconnecting (fresh sessions) resumes them.
    pub fn run_until_converged(
        &mut self,
        nodes: &[&Profile],
        links: &[(usize, usize)],
        max_rounds: usize,
    ) -> Result<SimStats, SimError> {
        let mut total = SimStats::default();
        for _ in 0..max_rounds {
            let stats = self.run(nodes, links)?;
            total.delivered += stats.delivered;
            total.dropped += stats.dropped;
            total.bytes += stats.bytes;
            if stats.dropped == 0 {
                return Ok(total);
            }
        }
        // Last round without losses.
        let saved = self.drop_per_mille;
        self.drop_per_mille = 0;
        let stats = self.run(nodes, links);
        self.drop_per_mille = saved;
        let stats = stats?;
        total.delivered += stats.delivered;
        total.bytes += stats.bytes;
        Ok(total)
    }
}
