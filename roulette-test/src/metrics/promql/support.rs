//! The subset of PromQL that the evaluator implements.

use promql_parser::parser::{Expr, VectorSelector};

/// Functions that take a range vector.
pub(super) const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "resets",
    "changes",
    "deriv",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "present_over_time",
];

/// Functions over scalars and instant vectors.
pub(super) const INSTANT_FUNCTIONS: &[&str] = &[
    "histogram_quantile",
    "abs",
    "ceil",
    "floor",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "sgn",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "scalar",
    "vector",
    "time",
    "sort",
    "sort_desc",
];

const AGGREGATIONS: &[&str] = &[
    "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
];

pub(super) struct Unsupported {
    pub(super) construct: String,
    pub(super) hint: &'static str,
}

fn unsupported(construct: String, hint: &'static str) -> Result<(), Unsupported> {
    Err(Unsupported { construct, hint })
}

/// Returns the first construct in `expr` that the evaluator lacks.
pub(super) fn check(expr: &Expr) -> Result<(), Unsupported> {
    match expr {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(selector) => check_selector(selector),
        Expr::MatrixSelector(matrix) => check_selector(&matrix.vs),
        Expr::Paren(paren) => check(&paren.expr),
        Expr::Unary(unary) => check(&unary.expr),
        Expr::Subquery(_) => unsupported(
            "a subquery".into(),
            "apply the range function to a range selector such as metric[5m] instead",
        ),
        Expr::Extension(_) => unsupported("an extension expression".into(), "remove it"),
        Expr::Binary(binary) => {
            if let Some(modifier) = &binary.modifier {
                let fill = &modifier.fill_values;
                if fill.lhs.is_some() || fill.rhs.is_some() {
                    return unsupported(
                        "a fill modifier".into(),
                        "Prometheus 2.42 has no fill modifiers",
                    );
                }
            }
            check(&binary.lhs)?;
            check(&binary.rhs)
        }
        Expr::Aggregate(aggregate) => {
            let name = aggregate.op.to_string();
            if !AGGREGATIONS.contains(&name.as_str()) {
                return unsupported(
                    format!("the aggregation {name}"),
                    "supported aggregations are sum, min, max, avg, count, group, stddev, stdvar, topk, bottomk and quantile",
                );
            }
            if let Some(param) = &aggregate.param {
                check(param)?;
            }
            check(&aggregate.expr)
        }
        Expr::Call(call) => {
            let name = call.func.name;
            if !RANGE_FUNCTIONS.contains(&name) && !INSTANT_FUNCTIONS.contains(&name) {
                return unsupported(
                    format!("the function {name}()"),
                    "see the list of supported functions in the roulette_test::metrics documentation",
                );
            }
            call.args.args.iter().try_for_each(|arg| check(arg))
        }
    }
}

fn check_selector(selector: &VectorSelector) -> Result<(), Unsupported> {
    if selector.at.is_some() {
        return unsupported(
            "the @ modifier".into(),
            "use offset, or evaluate at the time you need",
        );
    }
    if !selector.matchers.or_matchers.is_empty() {
        return unsupported(
            "\"or\" inside a label matcher set".into(),
            "Prometheus 2.42 has no such syntax; use the or operator between two selectors",
        );
    }
    Ok(())
}
