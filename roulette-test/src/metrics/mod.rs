//! Metrics for hypotheses: parse what the harness scraped, keep it as
//! series, and evaluate PromQL over them in-process.
//!
//! The semantics follow Prometheus 2.42, and `tests/promql_oracle.rs`
//! checks them against `promtool test rules` of that version.
//!
//! # Wiring
//!
//! ```
//! use roulette_test::metrics::promql::{Expr, Value, evaluate};
//! use roulette_test::metrics::store::{ScrapeBody, ScrapeError, Store};
//!
//! // Parse hypotheses when the spec loads, so a typo or an unsupported
//! // function fails before the experiment starts.
//! let expr = Expr::parse("sum(rate(requests_total[1m])) > 0").unwrap();
//!
//! let mut store = Store::new();
//! // One call per scrape, with times in ms on the experiment's clock.
//! let text = "# TYPE requests_total counter\nrequests_total 10\n";
//! let body = ScrapeBody { text, content_type: "text/plain; version=0.0.4" };
//! store.ingest_scrape("127.0.0.1:9100", 0, Ok(body)).unwrap();
//! let body = ScrapeBody { text: "requests_total 70\n", content_type: "" };
//! store.ingest_scrape("127.0.0.1:9100", 15_000, Ok(body)).unwrap();
//! // A failed request records up=0 and marks the endpoint's series stale.
//! let failure = Err(ScrapeError::Status { status: 503 });
//! store.ingest_scrape("127.0.0.1:9100", 30_000, failure).unwrap();
//!
//! match evaluate(&expr, &store, 15_000).unwrap() {
//!     Value::Vector(samples) => assert_eq!(samples.len(), 1),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
//!
//! - [`exposition::parse_exposition`] parses the text format 0.0.4 and
//!   OpenMetrics 1.0, picked by the `Content-Type` header, and rejects any
//!   malformed line with its line number.
//! - [`store::Store::ingest_scrape`] records a scrape with Prometheus
//!   staleness and an `up` series per endpoint. Scraped series get the
//!   label `instance="<endpoint>"`. [`store::Store::end_target`] marks an
//!   endpoint's series stale when scraping stops.
//! - [`promql::evaluate`] runs an instant query at one time, and
//!   [`promql::evaluate_at_scrapes`] at every scrape time in a window.
//!
//! # Supported PromQL
//!
//! - Selectors with `=`, `!=`, `=~`, `!~` (fully anchored), `offset`
//!   (negative too), range selectors, a 5 minute lookback delta and
//!   staleness.
//! - Range functions: `rate`, `irate`, `increase`, `delta`, `idelta`,
//!   `resets`, `changes`, `deriv`, and `min`, `max`, `avg`, `sum`,
//!   `count`, `last`, `quantile`, `stddev`, `stdvar`, `present` `_over_time`.
//! - Other functions: `histogram_quantile`, `abs`, `ceil`, `floor`, `exp`,
//!   `ln`, `log2`, `log10`, `sqrt`, `sgn`, `round`, `clamp`, `clamp_min`,
//!   `clamp_max`, `scalar`, `vector`, `time`, `sort`, `sort_desc`.
//! - Aggregations `sum`, `min`, `max`, `avg`, `count`, `group`, `stddev`,
//!   `stdvar`, `topk`, `bottomk`, `quantile`, with `by` or `without`.
//! - Arithmetic (`+ - * / % ^ atan2`), comparisons with and without
//!   `bool`, and `and`, `or`, `unless`, between scalars and vectors, with
//!   `on`, `ignoring`, `group_left` and `group_right`.
//!
//! [`promql::Expr::parse`] rejects everything else (subqueries, the `@`
//! modifier, `count_values`, `predict_linear`, `label_replace`, ...) with
//! an error that names the construct.

pub mod exposition;
pub mod labels;
pub mod promql;
pub mod store;
