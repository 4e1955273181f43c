//! The [`LogStore`] on PostgreSQL, for several gateways sharing one source
//! of truth (`kith-server --database postgres://...`). The same rules as
//! the SQLite store, tested by the same conformance suite.
//!
//! The client is tokio-postgres (async, maintained, no second SQLite
//! library, unlike sqlx's default features) with a small pool of its own
//! connections. The store runs its own small tokio runtime: the
//! [`LogStore`] methods block (the server calls them from
//! `spawn_blocking`), and each drives its queries on that runtime.

mod blobs;
mod directory;
mod nudges;
mod usage;

use crate::store::{
    AppendOutcome, BlobChunk, BlobInfo, BlobPutOutcome, GatewayAnnouncement, LogStore, PullOutcome, Quotas, StoreError,
    TokenRate, announcement, check_quotas, to_i64, to_u64,
};
use kith_proto::{BlobId, DeviceId, Envelope, EnvelopeId, LogId};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, NoTls};

/// Connections in the pool.
const CONNECTIONS: usize = 8;

/// Every migration, in order; version N is the N-th.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_initial.sql"),
    include_str!("../migrations/postgres/0002_shared_gateway_state.sql"),
    include_str!("../migrations/postgres/0003_directory.sql"),
    include_str!("../migrations/postgres/0004_nudges.sql"),
];

/// A [`LogStore`] backed by a PostgreSQL database.
pub struct PostgresStore {
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Vec<Mutex<Client>>,
    next: AtomicUsize,
    /// Where to connect again when a connection was lost (a database
    /// restart fails only what was in flight).
    url: String,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`), creating the
    /// schema or bringing it up to date, and refusing a newer one.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kith-postgres")
            .enable_all()
            .build()?;
        let pool = runtime.block_on(async {
            let mut pool = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                pool.push(Mutex::new(connect(url).await?));
            }
            if let Some(first) = pool.first() {
                migrate(&mut *first.lock().await).await?;
            }
            Ok::<_, StoreError>(pool)
        })?;
        Ok(Self {
            runtime: Some(runtime),
            pool,
            next: AtomicUsize::new(0),
            url: url.to_owned(),
        })
    }

    /// A free connection if there is one, else the next in turn; one whose
    /// connection was lost is made again first.
    async fn client(&self) -> MutexGuard<'_, Client> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.pool.len();
        let mut guard = None;
        for offset in 0..count {
            if let Some(slot) = self.pool.get((start + offset) % count)
                && let Ok(free) = slot.try_lock()
            {
                guard = Some(free);
                break;
            }
        }
        // `open` makes CONNECTIONS of them, so the pool is never empty.
        let mut guard = match guard {
            Some(guard) => guard,
            None => self.pool[start % count].lock().await,
        };
        if guard.is_closed() {
            match connect(&self.url).await {
                Ok(client) => *guard = client,
                // The caller's query fails on the closed one and says why.
                Err(error) => tracing::warn!(%error, "cannot reconnect to PostgreSQL"),
            }
        }
        guard
    }

    fn block_on<T>(&self, work: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        match &self.runtime {
            Some(runtime) => runtime.block_on(work),
            None => Err(StoreError::Io(std::io::Error::other("the store is closing"))),
        }
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The store may be dropped on an async thread (the server's state
        // at shutdown), where a runtime cannot block to shut down.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// One connection, its I/O driven by a task of the store's runtime.
async fn connect(url: &str) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS kith_schema (version BIGINT NOT NULL)")
        .await?;
    let tx = client.transaction().await?;
    // One migrating gateway at a time.
    tx.batch_execute("LOCK TABLE kith_schema IN EXCLUSIVE MODE").await?;
    let current: i64 = tx
        .query_opt("SELECT version FROM kith_schema", &[])
        .await?
        .map_or(0, |row| row.get(0));
    let latest = MIGRATIONS.len() as i64;
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    for sql in MIGRATIONS.iter().skip(usize::try_from(current).unwrap_or(0)) {
        tx.batch_execute(sql).await?;
    }
    tx.execute("DELETE FROM kith_schema", &[]).await?;
    tx.execute("INSERT INTO kith_schema (version) VALUES ($1)", &[&latest])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The log's capability hash, last seq and stored bytes, locked for this
/// transaction when `for_update`.
async fn log_row(
    client: &impl GenericClient,
    log: &LogId,
    for_update: bool,
) -> Result<Option<(Vec<u8>, u64, u64)>, StoreError> {
    let sql = if for_update {
        "SELECT capability_hash, last_seq, stored_bytes FROM logs WHERE log_id = $1 FOR UPDATE"
    } else {
        "SELECT capability_hash, last_seq, stored_bytes FROM logs WHERE log_id = $1"
    };
    // Typed statements go in one round trip (no prepare first): these
    // are on every push and pull.
    Ok(client
        .query_typed_opt(sql, &[(&&log.0[..], Type::BYTEA)])
        .await?
        .map(|row| (row.get(0), to_u64(row.get(1)), to_u64(row.get(2)))))
}

/// Checks the capability of an existing log; returns its last seq.
async fn check(client: &impl GenericClient, log: &LogId, capability_hash: &[u8; 32]) -> Result<u64, StoreError> {
    match log_row(client, log, false).await? {
        None => Err(StoreError::NotFound),
        Some((hash, _, _)) if hash.as_slice() != capability_hash.as_slice() => Err(StoreError::Forbidden),
        Some((_, last_seq, _)) => Ok(last_seq),
    }
}

/// Checks the manage key of an existing log (locking it); returns its last seq.
async fn check_manager(client: &impl GenericClient, log: &LogId, manage_hash: &[u8; 32]) -> Result<u64, StoreError> {
    let row = client
        .query_opt(
            "SELECT manage_hash, last_seq FROM logs WHERE log_id = $1 FOR UPDATE",
            &[&&log.0[..]],
        )
        .await?;
    match row.map(|row| (row.get::<_, Option<Vec<u8>>>(0), row.get::<_, i64>(1))) {
        None => Err(StoreError::NotFound),
        Some((None, _)) => Err(StoreError::Unmanaged),
        Some((Some(hash), _)) if hash.as_slice() != manage_hash.as_slice() => Err(StoreError::NotManager),
        Some((Some(_), last_seq)) => Ok(to_u64(last_seq)),
    }
}

async fn is_deleted(client: &impl GenericClient, log: &LogId) -> Result<bool, StoreError> {
    Ok(client
        .query_opt("SELECT 1 FROM deleted_logs WHERE log_id = $1", &[&&log.0[..]])
        .await?
        .is_some())
}

/// The log, locked for this transaction, created (empty, with
/// `capability_hash`) if it does not exist and was never deleted. Returns
/// its last seq, its stored bytes and the bytes `pusher` has stored.
async fn lock_or_create(
    tx: &tokio_postgres::Transaction<'_>,
    log: &LogId,
    capability_hash: &[u8; 32],
    pusher: Option<&DeviceId>,
    now_ms: u64,
) -> Result<(u64, u64, u64), StoreError> {
    let id = &log.0[..];
    tx.execute_typed(
        "INSERT INTO logs (log_id, capability_hash, last_seq, stored_bytes, created_ms)
         SELECT $1, $2, 0, 0, $3 WHERE NOT EXISTS (SELECT 1 FROM deleted_logs WHERE log_id = $1)
         ON CONFLICT (log_id) DO NOTHING",
        &[
            (&id, Type::BYTEA),
            (&&capability_hash[..], Type::BYTEA),
            (&to_i64(now_ms), Type::INT8),
        ],
    )
    .await?;
    let device = pusher.map(|device| &device.as_bytes()[..]);
    let row = tx
        .query_typed_opt(
            "SELECT capability_hash, last_seq, stored_bytes,
                    COALESCE((SELECT stored_bytes FROM devices WHERE device_id = $2), 0)
             FROM logs WHERE log_id = $1 FOR UPDATE",
            &[(&id, Type::BYTEA), (&device, Type::BYTEA)],
        )
        .await?;
    match row.map(|row| (row.get::<_, Vec<u8>>(0), row.get(1), row.get(2), row.get(3))) {
        Some((hash, _, _, _)) if hash.as_slice() != capability_hash.as_slice() => Err(StoreError::Forbidden),
        Some((_, last_seq, stored, device_stored)) => Ok((to_u64(last_seq), to_u64(stored), to_u64(device_stored))),
        // Not inserted and not there: a tombstone (or deleted meanwhile).
        None if is_deleted(tx, log).await? => Err(StoreError::Deleted),
        None => Err(StoreError::NotFound),
    }
}

/// The seq an envelope already has in the log, if any.
async fn stored_seq(
    tx: &tokio_postgres::Transaction<'_>,
    log: &LogId,
    envelope: &EnvelopeId,
) -> Result<Option<u64>, StoreError> {
    Ok(tx
        .query_typed_opt(
            "SELECT seq FROM entries WHERE log_id = $1 AND envelope_id = $2",
            &[(&&log.0[..], Type::BYTEA), (&&envelope.0[..], Type::BYTEA)],
        )
        .await?
        .map(|row| to_u64(row.get(0))))
}

fn envelope_from(id: &[u8], epoch: i64, ciphertext: Vec<u8>) -> Result<Envelope, StoreError> {
    let id = <[u8; 16]>::try_from(id)
        .map_err(|_| StoreError::InvalidRequest("a stored envelope id is not 16 bytes".into()))?;
    Ok(Envelope {
        id: EnvelopeId(id),
        epoch: u32::try_from(epoch).unwrap_or(0),
        ciphertext,
    })
}

impl PostgresStore {
    async fn append_async(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        envelopes: &[Envelope],
        pusher: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let (mut last_seq, mut stored, device_before) =
            lock_or_create(&tx, log, capability_hash, Some(pusher), now_ms).await?;
        let mut device_stored = device_before;
        let first_new_seq = last_seq + 1;
        let mut results: Vec<(EnvelopeId, u64)> = Vec::with_capacity(envelopes.len());
        let id = &log.0[..];
        for envelope in envelopes {
            if let Some(&(_, seq)) = results.iter().find(|(id, _)| *id == envelope.id) {
                results.push((envelope.id, seq));
                continue;
            }
            let len = envelope.ciphertext.len() as u64;
            let over_quota = check_quotas(stored.saturating_add(len), device_stored.saturating_add(len), quotas);
            // A retried envelope is acknowledged again even at the quota.
            let inserted = match over_quota {
                Err(error) => match stored_seq(&tx, log, &envelope.id).await? {
                    Some(seq) => {
                        results.push((envelope.id, seq));
                        continue;
                    }
                    None => return Err(error),
                },
                Ok(()) => tx
                    .query_typed_opt(
                        "INSERT INTO entries (log_id, seq, envelope_id, epoch, ciphertext, received_ms)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (log_id, envelope_id) DO NOTHING RETURNING seq",
                        &[
                            (&id, Type::BYTEA),
                            (&to_i64(last_seq + 1), Type::INT8),
                            (&&envelope.id.0[..], Type::BYTEA),
                            (&i64::from(envelope.epoch), Type::INT8),
                            (&envelope.ciphertext, Type::BYTEA),
                            (&to_i64(now_ms), Type::INT8),
                        ],
                    )
                    .await?
                    .is_some(),
            };
            if inserted {
                last_seq += 1;
                stored = stored.saturating_add(len);
                device_stored = device_stored.saturating_add(len);
                results.push((envelope.id, last_seq));
            } else {
                let seq = stored_seq(&tx, log, &envelope.id).await?.ok_or(StoreError::NotFound)?;
                results.push((envelope.id, seq));
            }
        }
        let appended = last_seq >= first_new_seq;
        if appended {
            tx.execute_typed(
                "UPDATE logs SET last_seq = $2, stored_bytes = $3 WHERE log_id = $1",
                &[
                    (&id, Type::BYTEA),
                    (&to_i64(last_seq), Type::INT8),
                    (&to_i64(stored), Type::INT8),
                ],
            )
            .await?;
            usage::charge(&tx, log, pusher, device_stored - device_before, now_ms).await?;
        }
        tx.commit().await?;
        Ok(AppendOutcome {
            results,
            last_seq,
            appended,
            new_bytes: device_stored - device_before,
            new_envelopes: (last_seq + 1).saturating_sub(first_new_seq),
        })
    }

    async fn pull_async(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        after_seq: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<PullOutcome, StoreError> {
        let client = self.client().await;
        let last_seq = check(&*client, log, capability_hash).await?;
        if after_seq > last_seq {
            return Ok(PullOutcome {
                entries: Vec::new(),
                more: true,
            });
        }
        // Sizes first, so no more than `max_bytes` of ciphertext is read.
        let sizes = client
            .query_typed(
                "SELECT seq, LENGTH(ciphertext) FROM entries WHERE log_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[
                    (&&log.0[..], Type::BYTEA),
                    (&to_i64(after_seq), Type::INT8),
                    (&i64::from(limit), Type::INT8),
                ],
            )
            .await?;
        let mut through = None;
        let mut bytes = 0usize;
        for row in &sizes {
            let len = usize::try_from(row.get::<_, i32>(1)).unwrap_or(usize::MAX);
            bytes = bytes.saturating_add(len);
            if bytes > max_bytes && through.is_some() {
                break;
            }
            through = Some(row.get::<_, i64>(0));
        }
        let mut entries = Vec::new();
        if let Some(through) = through {
            let rows = client
                .query_typed(
                    "SELECT seq, envelope_id, epoch, ciphertext FROM entries
                     WHERE log_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
                    &[
                        (&&log.0[..], Type::BYTEA),
                        (&to_i64(after_seq), Type::INT8),
                        (&through, Type::INT8),
                    ],
                )
                .await?;
            for row in rows {
                let id: Vec<u8> = row.get(1);
                entries.push((to_u64(row.get(0)), envelope_from(&id, row.get(2), row.get(3))?));
            }
        }
        let more = entries.last().is_some_and(|(seq, _)| *seq < last_seq);
        Ok(PullOutcome { entries, more })
    }

    async fn register_async(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        manage_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        lock_or_create(&tx, log, capability_hash, None, now_ms).await?;
        let registered: Option<Vec<u8>> = tx
            .query_one("SELECT manage_hash FROM logs WHERE log_id = $1", &[&&log.0[..]])
            .await?
            .get(0);
        match registered {
            Some(hash) if hash.as_slice() == manage_hash.as_slice() => {}
            Some(_) => return Err(StoreError::ManagedByAnother),
            None => {
                tx.execute(
                    "UPDATE logs SET manage_hash = $2 WHERE log_id = $1",
                    &[&&log.0[..], &&manage_hash[..]],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mark_superseded_async(
        &self,
        log: &LogId,
        manage_hash: &[u8; 32],
        through_seq: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let last_seq = check_manager(&tx, log, manage_hash).await?;
        if through_seq > last_seq {
            return Err(StoreError::InvalidRequest(format!(
                "cannot compact through {through_seq}: the log ends at {last_seq}"
            )));
        }
        tx.execute(
            "INSERT INTO compactions (log_id, through_seq, superseded_ms) VALUES ($1, $2, $3)",
            &[&&log.0[..], &to_i64(through_seq), &to_i64(now_ms)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sweep_async(&self, cutoff_ms: u64) -> Result<u64, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let due = tx
            .query(
                "SELECT log_id, MAX(through_seq) FROM compactions WHERE superseded_ms <= $1 GROUP BY log_id",
                &[&to_i64(cutoff_ms)],
            )
            .await?;
        let mut deleted = 0u64;
        for row in due {
            let (log, through): (Vec<u8>, i64) = (row.get(0), row.get(1));
            let Ok(id) = <[u8; 32]>::try_from(log.as_slice()) else {
                continue;
            };
            let log_id = LogId(id);
            // The log's row lock keeps appends out while its bytes move.
            log_row(&tx, &log_id, true).await?;
            let freed: i64 = tx
                .query_one(
                    "SELECT COALESCE(SUM(LENGTH(ciphertext)), 0)::BIGINT FROM entries WHERE log_id = $1 AND seq <= $2",
                    &[&log, &through],
                )
                .await?
                .get(0);
            let n = tx
                .execute("DELETE FROM entries WHERE log_id = $1 AND seq <= $2", &[&log, &through])
                .await?;
            tx.execute(
                "UPDATE logs SET stored_bytes = GREATEST(0, stored_bytes - $2) WHERE log_id = $1",
                &[&log, &freed],
            )
            .await?;
            usage::give_back_share(&tx, &log_id, to_u64(freed)).await?;
            tx.execute(
                "DELETE FROM compactions WHERE log_id = $1 AND through_seq <= $2 AND superseded_ms <= $3",
                &[&log, &through, &to_i64(cutoff_ms)],
            )
            .await?;
            deleted += n;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn delete_async(&self, log: &LogId, manage_hash: &[u8; 32], now_ms: u64) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        check_manager(&tx, log, manage_hash).await?;
        usage::give_back_log(&tx, log).await?;
        let id = &log.0[..];
        tx.execute(
            "DELETE FROM blob_chunks WHERE blob_id IN (SELECT blob_id FROM blobs WHERE log_id = $1)",
            &[&id],
        )
        .await?;
        for table in ["blobs", "entries", "compactions", "logs"] {
            tx.execute(&format!("DELETE FROM {table} WHERE log_id = $1"), &[&id])
                .await?;
        }
        tx.execute(
            "INSERT INTO deleted_logs (log_id, deleted_ms) VALUES ($1, $2) ON CONFLICT (log_id) DO NOTHING",
            &[&id, &to_i64(now_ms)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl LogStore for PostgresStore {
    fn append(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        envelopes: &[Envelope],
        pusher: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
        self.block_on(self.append_async(log, capability_hash, envelopes, pusher, quotas, now_ms))
    }

    fn pull(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        after_seq: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<PullOutcome, StoreError> {
        self.block_on(self.pull_async(log, capability_hash, after_seq, limit, max_bytes))
    }

    fn last_seq(&self, log: &LogId, capability_hash: &[u8; 32]) -> Result<u64, StoreError> {
        self.block_on(async { check(&*self.client().await, log, capability_hash).await })
    }

    fn register(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        manage_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.block_on(self.register_async(log, capability_hash, manage_hash, now_ms))
    }

    fn delete_log(&self, log: &LogId, manage_hash: &[u8; 32], now_ms: u64) -> Result<(), StoreError> {
        self.block_on(self.delete_async(log, manage_hash, now_ms))
    }

    fn mark_superseded(
        &self,
        log: &LogId,
        manage_hash: &[u8; 32],
        through_seq: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.block_on(self.mark_superseded_async(log, manage_hash, through_seq, now_ms))
    }

    fn device_stored(&self, device: &DeviceId) -> Result<u64, StoreError> {
        self.block_on(async { usage::device_stored(&*self.client().await, device).await })
    }

    fn sweep_superseded(&self, cutoff_ms: u64) -> Result<u64, StoreError> {
        self.block_on(self.sweep_async(cutoff_ms))
    }

    fn record_device(&self, device: &DeviceId, now_ms: u64) -> Result<(), StoreError> {
        self.block_on(async {
            self.client()
                .await
                .execute(
                    "INSERT INTO devices (device_id, first_seen_ms, last_seen_ms) VALUES ($1, $2, $2)
                     ON CONFLICT (device_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
                    &[&&device.as_bytes()[..], &to_i64(now_ms)],
                )
                .await?;
            Ok(())
        })
    }

    fn take_token(&self, source: &[u8; 32], rate: TokenRate, now_ms: u64) -> Result<bool, StoreError> {
        self.block_on(async {
            let mut client = self.client().await;
            let tx = client.transaction().await?;
            tx.execute_typed(
                "DELETE FROM new_device_buckets WHERE updated_ms < $1",
                &[(&to_i64(rate.full_again_before(now_ms)), Type::INT8)],
            )
            .await?;
            let taken = tx
                .query_typed_opt(
                    "INSERT INTO new_device_buckets (address_hash, tokens, updated_ms) VALUES ($1, $2 - 1.0, $3)
                     ON CONFLICT (address_hash) DO UPDATE
                     SET tokens = LEAST($2, new_device_buckets.tokens
                                  + GREATEST(0, $3 - new_device_buckets.updated_ms) * $4) - 1.0,
                         updated_ms = $3
                     WHERE LEAST($2, new_device_buckets.tokens
                                 + GREATEST(0, $3 - new_device_buckets.updated_ms) * $4) >= 1.0
                     RETURNING tokens",
                    &[
                        (&&source[..], Type::BYTEA),
                        (&rate.burst, Type::FLOAT8),
                        (&to_i64(now_ms), Type::INT8),
                        (&rate.per_ms(), Type::FLOAT8),
                    ],
                )
                .await?
                .is_some();
            tx.commit().await?;
            Ok(taken)
        })
    }

    fn announce_gateway(&self, gateway: &GatewayAnnouncement, now_ms: u64) -> Result<(), StoreError> {
        self.block_on(async {
            self.client()
                .await
                .execute_typed(
                    "INSERT INTO gateways (peer_id, addresses, seen_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (peer_id) DO UPDATE SET addresses = excluded.addresses, seen_ms = excluded.seen_ms",
                    &[
                        (&gateway.peer_id, Type::TEXT),
                        (&gateway.addresses.join("\n"), Type::TEXT),
                        (&to_i64(now_ms), Type::INT8),
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn gateways(&self, since_ms: u64) -> Result<Vec<GatewayAnnouncement>, StoreError> {
        self.block_on(async {
            Ok(self
                .client()
                .await
                .query_typed(
                    "SELECT peer_id, addresses FROM gateways WHERE seen_ms >= $1 ORDER BY peer_id",
                    &[(&to_i64(since_ms), Type::INT8)],
                )
                .await?
                .into_iter()
                .map(|row| announcement(row.get(0), row.get(1)))
                .collect())
        })
    }

    fn device_known(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.block_on(async {
            Ok(self
                .client()
                .await
                .query_opt("SELECT 1 FROM devices WHERE device_id = $1", &[&&device.as_bytes()[..]])
                .await?
                .is_some())
        })
    }

    fn blob_put_chunk(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        chunk: BlobChunk<'_>,
        uploader: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<BlobPutOutcome, StoreError> {
        chunk.validate()?;
        self.block_on(async {
            let mut client = self.client().await;
            blobs::put_chunk(&mut client, log, capability_hash, chunk, uploader, quotas, now_ms).await
        })
    }

    fn blob_stat(&self, log: &LogId, capability_hash: &[u8; 32], blob: &BlobId) -> Result<BlobInfo, StoreError> {
        self.block_on(async {
            let client = self.client().await;
            check(&*client, log, capability_hash).await?;
            blobs::stat(&*client, log, blob).await
        })
    }

    fn blob_get_chunk(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        blob: &BlobId,
        index: u32,
    ) -> Result<Vec<u8>, StoreError> {
        self.block_on(async {
            let client = self.client().await;
            check(&*client, log, capability_hash).await?;
            blobs::get_chunk(&*client, log, blob, index).await
        })
    }
}
