use super::*;

const TEXT: &str = "text/plain; version=0.0.4";

fn body(text: &str) -> Result<ScrapeBody<'_>, ScrapeError> {
    Ok(ScrapeBody {
        text,
        content_type: TEXT,
    })
}

fn series(name: &str, endpoint: &str) -> Labels {
    Labels::from_pairs([(METRIC_NAME, name), ("instance", endpoint)])
}

fn values(store: &Store, labels: &Labels) -> Vec<(i64, String)> {
    store
        .points(labels)
        .unwrap_or_default()
        .iter()
        .map(|point| {
            let value = if is_stale_nan(point.v) {
                "stale".to_owned()
            } else {
                point.v.to_string()
            };
            (point.t, value)
        })
        .collect()
}

#[test]
fn stale_nan_differs_from_nan() {
    assert!(stale_nan().is_nan());
    assert!(is_stale_nan(stale_nan()));
    assert!(!is_stale_nan(f64::NAN));
}

#[test]
fn scrape_records_samples_and_up() {
    let mut store = Store::new();
    let outcome = store
        .ingest_scrape("sut:9100", 1000, body("a 1\nb 2\n"))
        .unwrap();
    assert_eq!(
        outcome,
        ScrapeOutcome {
            up: true,
            samples: 2,
            ..ScrapeOutcome::default()
        }
    );
    assert_eq!(
        values(&store, &series("a", "sut:9100")),
        [(1000, "1".to_owned())]
    );
    assert_eq!(
        values(&store, &series("up", "sut:9100")),
        [(1000, "1".to_owned())]
    );
}

#[test]
fn missing_series_gets_stale_marker() {
    let mut store = Store::new();
    store.ingest_scrape("e", 1000, body("a 1\nb 2\n")).unwrap();
    let outcome = store.ingest_scrape("e", 2000, body("a 3\n")).unwrap();
    assert_eq!(outcome.stale_markers, 1);
    store.ingest_scrape("e", 3000, body("a 4\nb 5\n")).unwrap();
    assert_eq!(
        values(&store, &series("b", "e")),
        [
            (1000, "2".to_owned()),
            (2000, "stale".to_owned()),
            (3000, "5".to_owned())
        ]
    );
}

#[test]
fn failed_scrape_sets_up_zero_and_marks_stale() {
    let mut store = Store::new();
    store.ingest_scrape("e", 1000, body("a 1\n")).unwrap();
    let failure = Err(ScrapeError::Status { status: 503 });
    let outcome = store.ingest_scrape("e", 2000, failure).unwrap();
    assert!(!outcome.up);
    assert_eq!(outcome.stale_markers, 1);
    assert_eq!(
        values(&store, &series("up", "e")),
        [(1000, "1".to_owned()), (2000, "0".to_owned())]
    );
    assert_eq!(
        values(&store, &series("a", "e")),
        [(1000, "1".to_owned()), (2000, "stale".to_owned())]
    );
}

#[test]
fn invalid_exposition_is_failed_scrape() {
    let mut store = Store::new();
    store.ingest_scrape("e", 1000, body("a 1\n")).unwrap();
    let error = store
        .ingest_scrape("e", 2000, body("a 1\nb{ 2\n"))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid exposition from e: line 2:"),
        "{error}"
    );
    assert_eq!(
        values(&store, &series("up", "e"))[1],
        (2000, "0".to_owned())
    );
    assert_eq!(values(&store, &series("a", "e"))[1].1, "stale");
}

#[test]
fn duplicate_series_rejected() {
    let mut store = Store::new();
    let error = store
        .ingest_scrape("e", 1000, body("a 1\na 2\n"))
        .unwrap_err();
    assert!(matches!(error, IngestError::DuplicateSeries { .. }));
    assert_eq!(values(&store, &series("up", "e")), [(1000, "0".to_owned())]);
}

#[test]
fn scrape_times_must_increase() {
    let mut store = Store::new();
    store.ingest_scrape("e", 1000, body("a 1\n")).unwrap();
    let error = store.ingest_scrape("e", 1000, body("a 2\n")).unwrap_err();
    assert!(matches!(
        error,
        IngestError::OutOfOrder {
            previous_ms: 1000,
            ..
        }
    ));
    assert_eq!(store.points(&series("a", "e")).unwrap().len(), 1);
    store.ingest_scrape("other", 500, body("a 1\n")).unwrap();
}

#[test]
fn instance_label_kept_as_exported_instance() {
    let mut store = Store::new();
    store
        .ingest_scrape("e", 1000, body("a{instance=\"x\"} 1\n"))
        .unwrap();
    let labels = Labels::from_pairs([
        (METRIC_NAME, "a"),
        ("instance", "e"),
        ("exported_instance", "x"),
    ]);
    assert_eq!(values(&store, &labels), [(1000, "1".to_owned())]);
}

#[test]
fn exporter_timestamps_ignored_by_default() {
    let mut store = Store::new();
    store.ingest_scrape("e", 1000, body("a 1 5\n")).unwrap();
    assert_eq!(values(&store, &series("a", "e")), [(1000, "1".to_owned())]);
}

#[test]
fn honored_timestamps_skip_staleness() {
    let mut store = Store::with_options(StoreOptions {
        honor_timestamps: true,
    });
    store
        .ingest_scrape("e", 1000, body("a 1 900\nb 2\n"))
        .unwrap();
    let outcome = store.ingest_scrape("e", 2000, body("a 1 900\n")).unwrap();
    assert_eq!(outcome.out_of_order, 1);
    assert_eq!(outcome.stale_markers, 1);
    assert_eq!(values(&store, &series("a", "e")), [(900, "1".to_owned())]);
    assert_eq!(values(&store, &series("b", "e"))[1].1, "stale");
}

#[test]
fn end_target_marks_everything_stale() {
    let mut store = Store::new();
    store.ingest_scrape("e", 1000, body("a 1\n")).unwrap();
    assert_eq!(store.end_target("e", 2000), 2);
    assert_eq!(values(&store, &series("a", "e"))[1].1, "stale");
    assert_eq!(values(&store, &series("up", "e"))[1].1, "stale");
    assert_eq!(store.end_target("e", 3000), 0);
}

#[test]
fn scrape_times_cover_all_endpoints() {
    let mut store = Store::new();
    store.ingest_scrape("a", 1000, body("")).unwrap();
    store.ingest_scrape("b", 1500, body("")).unwrap();
    store
        .ingest_scrape("a", 2000, Err(ScrapeError::TimedOut { after_ms: 900 }))
        .unwrap();
    assert_eq!(store.scrape_times(0, 1999), [1000, 1500]);
    assert_eq!(store.scrape_times(1500, 2000), [1500, 2000]);
}
