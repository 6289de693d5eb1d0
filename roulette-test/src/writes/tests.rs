//! The verdict arithmetic of [`analyse`], and the writer against real
//! `exec` commands.

use super::*;

fn acked(sequence: u32, at_ms: u64) -> WriteRecord {
    WriteRecord {
        id: format!("wabc-{sequence:06}"),
        outcome: WriteOutcome::Acknowledged(Duration::from_millis(at_ms)),
    }
}

fn failed(sequence: u32) -> WriteRecord {
    WriteRecord {
        id: format!("wabc-{sequence:06}"),
        outcome: WriteOutcome::Unacknowledged(WriteError {
            kind: String::from("connection refused"),
            message: String::from("connect failed: Connection refused"),
        }),
    }
}

fn log(records: Vec<WriteRecord>) -> WriteLog {
    WriteLog {
        records,
        elapsed: Duration::from_secs(1),
    }
}

fn ids(list: &[u32]) -> Vec<String> {
    list.iter().map(|n| format!("wabc-{n:06}")).collect()
}

fn boundary(at_ms: u64) -> Boundary {
    Boundary {
        label: String::from("kill #1"),
        at: Duration::from_millis(at_ms),
    }
}

#[test]
fn every_acknowledged_write_present() {
    let log = log(vec![acked(0, 10), acked(1, 20), failed(2)]);
    let report = analyse("t".into(), 10.0, &log, Ok(ids(&[0, 1])), "wabc", &[]);
    assert_eq!(report.attempted, 3);
    assert_eq!(report.acknowledged, 2);
    assert_eq!(report.unacknowledged, 1);
    assert_eq!(report.present, 2);
    assert_eq!(report.lost, 0);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.unacknowledged_present, 0);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].kind, "connection refused");
    assert_eq!(report.errors[0].count, 1);
    assert_eq!(report.achieved_rate, 3.0);
}

#[test]
fn lost_writes_counted_per_interval() {
    let log = log(vec![
        acked(0, 10),
        acked(1, 20),
        acked(2, 120),
        acked(3, 130),
    ]);
    let report = analyse(
        "t".into(),
        10.0,
        &log,
        Ok(ids(&[2, 3])),
        "wabc",
        &[boundary(100)],
    );
    assert_eq!(report.lost, 2);
    assert_eq!(report.first_lost, ids(&[0, 1]));
    assert_eq!(report.intervals.len(), 2);
    assert_eq!(report.intervals[0].label, "before kill #1");
    assert_eq!(report.intervals[0].acknowledged, 2);
    assert_eq!(report.intervals[0].lost, 2);
    assert_eq!(report.intervals[1].label, "after kill #1");
    assert_eq!(report.intervals[1].acknowledged, 2);
    assert_eq!(report.intervals[1].lost, 0);
}

#[test]
fn first_lost_ids_are_capped() {
    let records = (0..25).map(|n| acked(n, 10)).collect();
    let report = analyse("t".into(), 10.0, &log(records), Ok(Vec::new()), "wabc", &[]);
    assert_eq!(report.lost, 25);
    assert_eq!(report.first_lost.len(), FIRST_IDS);
    assert_eq!(report.first_lost[0], "wabc-000000");
}

#[test]
fn duplicates_and_strangers() {
    let log = log(vec![acked(0, 10), failed(1)]);
    let mut listed = ids(&[0, 0, 1, 7]);
    listed.push(String::from("another-run-000001"));
    let report = analyse("t".into(), 10.0, &log, Ok(listed), "wabc", &[]);
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.first_duplicates, ids(&[0]));
    assert_eq!(report.unacknowledged_present, 1);
    assert_eq!(report.unknown, 1, "wabc-000007 was never written");
    assert_eq!(report.present, 3, "ids of another run are not counted");
    assert_eq!(report.lost, 0);
}

#[test]
fn list_error_reported() {
    let log = log(vec![acked(0, 10)]);
    let report = analyse(
        "t".into(),
        10.0,
        &log,
        Err(String::from("refused")),
        "wabc",
        &[],
    );
    assert_eq!(report.list_error.as_deref(), Some("refused"));
    assert_eq!(report.acknowledged, 1);
    assert_eq!(report.lost, 0);
}

#[test]
fn prefix_differs_per_run() {
    assert_ne!(id_prefix("a-1-ff"), id_prefix("a-1-fe"));
    assert_eq!(id_prefix("x"), id_prefix("x"));
    assert_eq!(id_prefix("x").len(), 9);
}

/// The writer issues `count` ids through a real command and then stops,
/// and the list command reads back what the write command stored.
#[tokio::test]
async fn writer_round_trip_with_exec() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.txt");
    let file = file.to_str().unwrap().to_owned();
    let driver = crate::spec::WriteDriver::Exec {
        write: vec![
            "sh".into(),
            "-c".into(),
            format!("echo \"$1\" >> {file}"),
            "write".into(),
        ],
        list: vec!["cat".into(), file.clone()],
    };
    let store = Store::new(
        &driver,
        Duration::from_secs(2),
        Duration::from_secs(5),
        std::env::temp_dir(),
        String::from("writes-unit-test"),
    )
    .unwrap();
    let writer = Writer::start(
        store,
        WriterSettings {
            rate: 200.0,
            count: 5,
            timeout: Duration::from_secs(2),
            prefix: String::from("wtest"),
            start: Instant::now(),
        },
    );
    let (log, mut store) = writer.finish().await;
    assert_eq!(log.records.len(), 5, "count bounds the writes");
    let listed = store.list().await;
    let report = analyse(store.describe(), 200.0, &log, listed, "wtest", &[]);
    assert_eq!(report.acknowledged, 5);
    assert_eq!(report.present, 5);
    assert_eq!(report.lost, 0);
    assert_eq!(report.first_lost, Vec::<String>::new());
}
