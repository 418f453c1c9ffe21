//! The statements that run per message or on every sweep seek an index: none reads every row,
//! so their cost does not grow with the backlog (docs/PERFORMANCE.md, section 11). Each plan
//! is SQLite's own (`EXPLAIN QUERY PLAN`) for the statement text the store runs.
#![allow(clippy::unwrap_used)]

use rusqlite::types::Null;
use rusqlite::{Connection, params_from_iter};

use super::schema::{EXPIRED, prepare};

/// SQLite's plan for `sql`, its steps joined with `; `.
fn plan(sql: &str) -> String {
    let conn = Connection::open_in_memory().unwrap();
    prepare(&conn).unwrap();
    let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    // The plan does not depend on the values (the store prepares with QPSG on): bind NULLs.
    let nulls = std::iter::repeat_n(Null, explain.parameter_count());
    let steps: Vec<String> = explain
        .query_map(params_from_iter(nulls), |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    steps.join("; ")
}

/// `sql` seeks `index` with `seek` and scans nothing.
fn assert_seeks(sql: &str, index: &str, seek: &str) {
    let plan = plan(sql);
    assert!(
        plan.contains(&format!("SEARCH {}", table_of(index)))
            && plan.contains(&format!("INDEX {index} {seek}"))
            && !plan.contains("SCAN"),
        "{sql}\n  plan: {plan}\n  expected a search of {index} {seek}"
    );
}

fn table_of(index: &str) -> &'static str {
    if index.starts_with("duplicates") || index.contains("autoindex_duplicates") {
        "duplicates"
    } else {
        "messages"
    }
}

#[test]
fn the_sweep_seeks_expired_messages_and_lapsed_locks() {
    assert_seeks(&EXPIRED, "messages_expiry", "(expires_at<?)");
    assert_seeks(
        super::maintenance::STALE_LOCKS,
        "messages_lock_expiry",
        "(locked_until<?)",
    );
    assert_seeks(
        super::dead_letter::STALE_LOCKS,
        "messages_lock_expiry",
        "(locked_until<?)",
    );
}

#[test]
fn a_settlement_finds_its_message_by_lock_token() {
    assert_seeks(super::settle::HELD, "messages_lock_token", "(lock_token=?)");
}

#[test]
fn the_counts_find_the_queues_by_a_seek_per_queue() {
    let plan = plan(super::counts::KNOWN_QUEUES);
    assert!(
        !plan.contains("SCAN messages")
            && plan.contains("SEARCH messages USING COVERING INDEX messages_ready"),
        "{plan}"
    );
}

#[test]
fn the_duplicate_lookup_and_prune_seek_an_index_and_never_read_the_whole_history() {
    for (sql, seek) in [
        (
            "SELECT seen_at FROM duplicates WHERE queue = 'q' AND message_id = 'm'",
            "(queue=? AND message_id=?)",
        ),
        (
            "SELECT queue FROM duplicates WHERE queue > '' ORDER BY queue LIMIT 1",
            "(queue>?)",
        ),
        (
            "DELETE FROM duplicates WHERE queue = 'q' AND seen_at <= 1",
            "(queue=? AND seen_at<?)",
        ),
    ] {
        let plan = plan(sql);
        assert!(
            plan.starts_with("SEARCH") && plan.contains(seek) && !plan.contains("SCAN"),
            "{sql}: {plan}"
        );
    }
}

#[test]
fn a_store_made_before_the_partial_indexes_drops_the_full_lock_index_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let conn = Connection::open(&path).unwrap();
    prepare(&conn).unwrap();
    // As the schema was before: every row had an entry, the NULL ones included.
    conn.execute_batch(
        "DROP INDEX messages_lock_token; CREATE UNIQUE INDEX messages_lock ON messages (lock_token);",
    )
    .unwrap();
    drop(conn);
    let conn = Connection::open(&path).unwrap();
    prepare(&conn).unwrap();
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        indexes,
        [
            "messages_expiry",
            "messages_lock_expiry",
            "messages_lock_token",
            "messages_ready"
        ]
    );
}

#[test]
fn the_counts_by_state_follow_the_index_and_sort_nothing() {
    let plan = plan(super::counts::BY_STATE);
    assert!(
        plan.contains("SEARCH messages USING INDEX messages_ready (queue=?)")
            && !plan.contains("TEMP B-TREE"),
        "{plan}"
    );
}
