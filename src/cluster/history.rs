//! The cluster's history, read from `cronduct_finishes`: what the API of
//! any node answers about past runs in cluster mode (cronduct.toml(5)
//! ADMIN API), every node's finish records with their `node`.
//!
//! Listings use the table's indexes ((job, finished_at), (finished_at),
//! the primary key (run_id, attempt)) newest first with a `LIMIT`, so
//! they read only the rows they answer. Statistics are grouped by the
//! database: counts per job, UTC day, status and retry flag; durations
//! and resource use per job, status, retry flag and duration histogram
//! bucket (the bucket computed in SQL exactly as the local index does).
//! What crosses the network is bounded by jobs × (days + buckets),
//! whatever the run rate, and the counting rules and percentiles are the
//! local ones ([`Aggregated`]).

use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::attempts::trigger_of;
use super::node::{Node, deadline};
use crate::log::{Aggregated, CountGroup, DurationGroup, MAX_STATS_DAYS, ResultGroup, RunFilter};
use crate::record::{FinishRecord, Status};
use crate::wire::{JobStats, Stats};

/// The columns of a finish record, in the order [`record_of`] reads them.
const COLUMNS: &str = "run_id, attempt, job, ts, trigger, scheduled_at, started_at, finished_at,
    duration_ms, status, exit_code, signal, http_status, error, stdout, stderr,
    output_truncated, cpu_user_ms, cpu_system_ms, max_rss_kib, output_dropped_bytes,
    result::text, result_error, will_retry, retry_at, host, node";

/// The histogram bucket of `duration_ms` (see `log::stats::bucket_of`):
/// exact below 64 ms, then 32 buckets per power of two. The position of
/// the highest set bit comes from the bit string, exact for any bigint.
const BUCKET_SQL: &str = "CASE WHEN duration_ms < 64 THEN duration_ms
    ELSE 64 + (58 - position('1' in duration_ms::bit(64)::text)) * 32
         + ((duration_ms >> (59 - position('1' in duration_ms::bit(64)::text))) - 32)
    END";

impl Node {
    /// Finish records matching `filter`, newest finish first, from every
    /// node.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<FinishRecord>, String> {
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let status = filter.status.map(Status::as_str);
        // As in `aggregate`: one job's runs on the (job, finished_at) index.
        let of_job = if filter.job.is_some() {
            "job = $1"
        } else {
            "$1::text IS NULL"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM cronduct_finishes
             WHERE {of_job} AND ($2::text IS NULL OR status = $2)
               AND ($3::timestamptz IS NULL OR finished_at >= $3)
             ORDER BY finished_at DESC, run_id DESC, attempt DESC LIMIT $4"
        );
        self.read(
            "reading the cluster's runs",
            &sql,
            &[&filter.job, &status, &filter.since, &limit],
        )
        .await?
        .iter()
        .map(record_of)
        .collect()
    }

    /// Every attempt of run `run_id` the cluster recorded, in attempt
    /// order; empty when it has none.
    pub async fn run(&self, run_id: &str) -> Result<Vec<FinishRecord>, String> {
        let sql =
            format!("SELECT {COLUMNS} FROM cronduct_finishes WHERE run_id = $1 ORDER BY attempt");
        self.read("reading a run", &sql, &[&run_id])
            .await?
            .iter()
            .map(record_of)
            .collect()
    }

    /// For each of `jobs` (in that order), the final attempt of its
    /// latest finished run on any node. One statement: an index scan of
    /// (job, finished_at) backwards per job.
    pub async fn last_finished_runs(
        &self,
        jobs: &[String],
    ) -> Result<Vec<Option<Arc<FinishRecord>>>, String> {
        if jobs.is_empty() {
            // `/health` without critical jobs: nothing to ask.
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT j.i, f.* FROM unnest($1::text[]) WITH ORDINALITY AS j(job, i)
             CROSS JOIN LATERAL (SELECT {COLUMNS} FROM cronduct_finishes
                 WHERE job = j.job AND NOT will_retry
                 ORDER BY finished_at DESC LIMIT 1) f"
        );
        let rows = self
            .read("reading the jobs' last runs", &sql, &[&jobs])
            .await?;
        let mut out = vec![None; jobs.len()];
        for row in &rows {
            let i: i64 = row.get(0);
            let record = record_at(row, 1)?;
            if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
                *slot = Some(Arc::new(record));
            }
        }
        Ok(out)
    }

    /// The cluster's statistics for the `days` UTC dates ending with
    /// `now`'s (as `GET /api/v1/stats`); `days` is checked by the caller.
    pub async fn stats(&self, days: u32, now: DateTime<Utc>) -> Result<Stats, String> {
        let first = crate::wire::Period::ending(days, now).from;
        let agg = self.aggregate(None, first).await?;
        agg.stats(days, now).map_err(|e| e.to_string())
    }

    /// One job's statistics by day (`GET /api/v1/stats?job=`).
    pub async fn job_stats_by_day(
        &self,
        job: &str,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Stats, String> {
        let first = crate::wire::Period::ending(days, now).from;
        let agg = self.aggregate(Some(job), first).await?;
        agg.stats(days, now).map_err(|e| e.to_string())
    }

    /// One job's statistics over the last 90 days (the job detail's
    /// `stats`).
    pub async fn job_stats(&self, job: &str, now: DateTime<Utc>) -> Result<JobStats, String> {
        let first = now
            .date_naive()
            .checked_sub_days(Days::new(u64::from(MAX_STATS_DAYS)))
            .unwrap_or(NaiveDate::MIN)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        Ok(self.aggregate(Some(job), first).await?.job_stats(job))
    }

    /// The records that finished at or after `first` (of `job` only, or
    /// of all jobs), grouped by the database: counts per job and day,
    /// durations per job and histogram bucket, results per job and key.
    async fn aggregate(
        &self,
        job: Option<&str>,
        first: DateTime<Utc>,
    ) -> Result<Aggregated, String> {
        // Two texts rather than `$2 IS NULL OR job = $2`, whose prepared
        // plan could not use the (job, finished_at) index for one job.
        let of_job = if job.is_some() {
            "job = $2"
        } else {
            "$2::text IS NULL"
        };
        let counts = format!(
            "SELECT job, (finished_at AT TIME ZONE 'UTC')::date, status, will_retry, count(*)
             FROM cronduct_finishes
             WHERE finished_at >= $1 AND {of_job}
             GROUP BY 1, 2, 3, 4"
        );
        let durations = format!(
            "SELECT job, status, will_retry, bucket::integer, count(*),
                    sum(duration_ms)::bigint, min(duration_ms), max(duration_ms),
                    count(*) FILTER (WHERE measured),
                    coalesce(sum(cpu) FILTER (WHERE measured), 0)::bigint,
                    coalesce(max(rss) FILTER (WHERE measured), 0)::bigint
             FROM (SELECT job, status, will_retry, duration_ms, {BUCKET_SQL} AS bucket,
                          (cpu_user_ms IS NOT NULL OR cpu_system_ms IS NOT NULL
                           OR max_rss_kib IS NOT NULL) AS measured,
                          coalesce(cpu_user_ms, 0) + coalesce(cpu_system_ms, 0) AS cpu,
                          coalesce(max_rss_kib, 0) AS rss
                   FROM cronduct_finishes
                   WHERE finished_at >= $1 AND {of_job}) f
             GROUP BY 1, 2, 3, 4"
        );
        let results = format!(
            "SELECT job, r.key, sum((r.value #>> '{{}}')::float8), count(*)
             FROM cronduct_finishes, jsonb_each(result) AS r
             WHERE finished_at >= $1 AND {of_job}
               AND NOT will_retry AND jsonb_typeof(r.value) = 'number'
             GROUP BY 1, 2"
        );
        let what = "reading the cluster's statistics";
        let counts = self.read(what, &counts, &[&first, &job]).await?;
        let durations = self.read(what, &durations, &[&first, &job]).await?;
        let results = self.read(what, &results, &[&first, &job]).await?;
        let mut agg = Aggregated::new(first.date_naive());
        let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
        let few = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        let status = |s: &str| {
            s.parse::<Status>()
                .map_err(|e| format!("a finish record in the database: {e}"))
        };
        for row in &counts {
            agg.add_counts(&CountGroup {
                job: row.get(0),
                day: row.get(1),
                status: status(row.get(2))?,
                will_retry: row.get(3),
                count: few(row.get(4)),
            });
        }
        for row in &durations {
            agg.add_durations(&DurationGroup {
                job: row.get(0),
                status: status(row.get(1))?,
                will_retry: row.get(2),
                bucket: u16::try_from(row.get::<_, i32>(3)).unwrap_or(u16::MAX),
                count: few(row.get(4)),
                duration_sum_ms: unsigned(row.get(5)),
                duration_min_ms: unsigned(row.get(6)),
                duration_max_ms: unsigned(row.get(7)),
                measured: unsigned(row.get(8)),
                cpu_ms: unsigned(row.get(9)),
                max_rss_kib: unsigned(row.get(10)),
            });
        }
        for row in &results {
            agg.add_result(&ResultGroup {
                job: row.get(0),
                key: row.get(1),
                sum: row.get(2),
                count: unsigned(row.get(3)),
            });
        }
        Ok(agg)
    }

    /// Runs one statement on a pooled connection under the call
    /// deadline; a connection whose call failed or timed out is dropped,
    /// never reused. While the node knows the database to be unreachable
    /// nothing is tried, so that the caller answers from the local log at
    /// once rather than after the deadline.
    async fn read(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, String> {
        let link = self.link().get();
        if !link.reachable {
            return Err(link.error.unwrap_or_else(|| "not connected".to_string()));
        }
        let client = self.connection().await?;
        let result = deadline(what, async {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, params).await
        })
        .await;
        match result {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => {
                let _ = Object::take(client);
                Err(format!("{what}: {e}"))
            }
            Err(e) => {
                let _ = Object::take(client);
                Err(e)
            }
        }
    }
}

fn record_of(row: &Row) -> Result<FinishRecord, String> {
    record_at(row, 0)
}

/// The finish record in `row`'s columns from `at` on ([`COLUMNS`]).
fn record_at(row: &Row, at: usize) -> Result<FinishRecord, String> {
    let c = |i: usize| at + i;
    let bad =
        |what: &str, e: String| format!("a finish record in the database has a bad {what}: {e}");
    let unsigned = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
    let status: &str = row.get(c(9));
    let result: Option<String> = row.get(c(21));
    let result = match result {
        Some(text) => serde_json::from_str(&text).map_err(|e| bad("result", e.to_string()))?,
        None => None,
    };
    Ok(FinishRecord {
        run_id: row.get(c(0)),
        attempt: u32::try_from(row.get::<_, i32>(c(1))).unwrap_or(1),
        job: row.get(c(2)),
        ts: row.get(c(3)),
        trigger: trigger_of(row.get(c(4))),
        scheduled_at: row.get(c(5)),
        started_at: row.get(c(6)),
        finished_at: row.get(c(7)),
        duration_ms: u64::try_from(row.get::<_, i64>(c(8))).unwrap_or(0),
        status: status.parse().map_err(|e| bad("status", e))?,
        exit_code: row.get(c(10)),
        signal: row.get(c(11)),
        http_status: row
            .get::<_, Option<i32>>(c(12))
            .and_then(|s| u16::try_from(s).ok()),
        error: row.get(c(13)),
        stdout: row.get(c(14)),
        stderr: row.get(c(15)),
        output_truncated: row.get(c(16)),
        cpu_user_ms: unsigned(row.get(c(17))),
        cpu_system_ms: unsigned(row.get(c(18))),
        max_rss_kib: unsigned(row.get(c(19))),
        output_dropped_bytes: unsigned(row.get(c(20))),
        result,
        result_error: row.get(c(22)),
        will_retry: row.get(c(23)),
        retry_at: row.get(c(24)),
        host: row.get(c(25)),
        node: Some(row.get(c(26))),
    })
}
