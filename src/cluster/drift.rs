//! Definition drift: the same job defined differently on two live nodes.
//!
//! Each node publishes a hash of every job's validated definition; this
//! module computes those hashes and, from what the live nodes published,
//! which jobs differ. It is pure: the node reads and writes the table,
//! `/health` and `GET /api/v1/cluster` render the answer.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Config, Job};

/// A job's definition hash: 16 hex digits of FNV-1a over the job's
/// settings as `GET /api/v1/jobs/{id}` shows them (which never hold a
/// secret) plus its schedule, zone, description, `enabled` and `run_on`.
///
/// The file the job comes from is left out: the same definition in
/// `/etc/cronduct/jobs.toml` on one node and in a `managed_dir` file on
/// another is no drift. FNV-1a, unlike std's hasher, is fixed for good,
/// so nodes built by different compilers agree.
pub fn definition_hash(job: &Job) -> String {
    let mut fields = crate::api::settings::settings_json(job);
    let mut put = |k: &str, v: serde_json::Value| {
        fields.insert(k.to_string(), v);
    };
    put("description", job.description.clone().into());
    put("schedule", job.schedule.to_string().into());
    put("timezone", job.timezone.name().into());
    put("enabled", job.enabled.into());
    put("run_on", job.run_on.as_str().into());
    // A `serde_json::Map` is ordered by key, so the text is stable.
    let text = serde_json::Value::Object(fields).to_string();
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// Every job's [`definition_hash`], by job id.
pub fn definitions(config: &Config) -> BTreeMap<String, String> {
    config
        .jobs
        .iter()
        .map(|(id, job)| (id.clone(), definition_hash(job)))
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The jobs the live nodes disagree on, each with every live node's hash
/// of it (`None`: that node does not define the job). A job defined on
/// some live nodes and not on others differs too: the same jobs.toml is
/// meant to be everywhere. `live` maps each live node to its hashes; a
/// gone node is not in it, so it makes no drift.
pub fn differing(
    live: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeMap<String, BTreeMap<String, Option<String>>> {
    let jobs: BTreeSet<&String> = live.values().flat_map(|d| d.keys()).collect();
    jobs.into_iter()
        .filter_map(|job| {
            let by_node: BTreeMap<String, Option<String>> = live
                .iter()
                .map(|(node, defs)| (node.clone(), defs.get(job).cloned()))
                .collect();
            let distinct: BTreeSet<&Option<String>> = by_node.values().collect();
            (distinct.len() > 1).then(|| (job.clone(), by_node))
        })
        .collect()
}

/// Whether `node`'s definition (in `by_node`, one job's entry of
/// [`differing`]) is not the one most live nodes have. When no single
/// definition is the most common (two nodes, two definitions), every
/// node is odd.
pub fn is_odd_one_out(by_node: &BTreeMap<String, Option<String>>, node: &str) -> bool {
    let mut counts: BTreeMap<&Option<String>, usize> = BTreeMap::new();
    for hash in by_node.values() {
        *counts.entry(hash).or_default() += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    let mut leaders = counts.iter().filter(|(_, n)| **n == most);
    match (leaders.next(), leaders.next()) {
        (Some((majority, _)), None) => by_node.get(node).is_some_and(|h| h != *majority),
        _ => by_node.contains_key(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(defs: &[(&str, &str)]) -> BTreeMap<String, String> {
        defs.iter()
            .map(|(j, h)| (j.to_string(), h.to_string()))
            .collect()
    }

    fn live(nodes: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, BTreeMap<String, String>> {
        nodes
            .iter()
            .map(|(n, defs)| (n.to_string(), node(defs)))
            .collect()
    }

    #[test]
    fn agreeing_nodes_have_no_drift() {
        let l = live(&[
            ("a", &[("x", "1"), ("y", "2")]),
            ("b", &[("x", "1"), ("y", "2")]),
        ]);
        assert!(differing(&l).is_empty());
        assert!(differing(&live(&[("a", &[("x", "1")])])).is_empty());
        assert!(differing(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_different_hash_names_the_job_and_every_nodes_hash() {
        let l = live(&[
            ("a", &[("x", "1"), ("y", "2")]),
            ("b", &[("x", "1"), ("y", "3")]),
            ("c", &[("x", "1"), ("y", "2")]),
        ]);
        let d = differing(&l);
        assert_eq!(d.keys().collect::<Vec<_>>(), ["y"]);
        assert_eq!(d["y"]["b"].as_deref(), Some("3"));
        assert_eq!(d["y"]["a"].as_deref(), Some("2"));
    }

    #[test]
    fn the_odd_one_out_is_the_minority_or_everyone_on_a_tie() {
        let three = live(&[
            ("a", &[("y", "2")]),
            ("b", &[("y", "3")]),
            ("c", &[("y", "2")]),
        ]);
        let d = differing(&three);
        let odd: Vec<&str> = ["a", "b", "c"]
            .into_iter()
            .filter(|n| is_odd_one_out(&d["y"], n))
            .collect();
        assert_eq!(odd, ["b"]);
        let two = live(&[("a", &[("y", "2")]), ("b", &[("y", "3")])]);
        let d = differing(&two);
        assert!(is_odd_one_out(&d["y"], "a") && is_odd_one_out(&d["y"], "b"));
        assert!(!is_odd_one_out(&d["y"], "elsewhere"));
    }

    #[test]
    fn a_job_missing_on_a_live_node_differs() {
        let l = live(&[("a", &[("x", "1"), ("y", "2")]), ("b", &[("x", "1")])]);
        let d = differing(&l);
        assert_eq!(d.keys().collect::<Vec<_>>(), ["y"]);
        assert_eq!(d["y"]["b"], None);
    }

    fn job(command: &str, source: &str) -> Job {
        Job::new(
            "j",
            "@hourly".parse().expect("valid"),
            crate::zone::Zone::utc(),
            crate::config::Action::Command(crate::config::Command::Shell(command.into())),
            source,
        )
    }

    #[test]
    fn the_hash_follows_the_definition_not_the_file() {
        let a = definition_hash(&job("backup", "/etc/cronduct/jobs.toml"));
        assert_eq!(a, definition_hash(&job("backup", "/srv/managed/j.toml")));
        assert_ne!(
            a,
            definition_hash(&job("backup --full", "/etc/cronduct/jobs.toml"))
        );
        let mut later = job("backup", "jobs.toml");
        later.schedule = "@daily".parse().expect("valid");
        assert_ne!(a, definition_hash(&later));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        // The reference values of FNV-1a 64 (Fowler, Noll, Vo).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
