//! Results: one [`Metric`] per figure, printed as a table or one JSON object.

use serde_json::{Map, Value, json};

/// Which number a budget constrains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The measured value itself.
    Value,
    /// The value divided by its baseline.
    Ratio,
}

/// A budget from DESIGN.md §8.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// The subject must be strictly below the limit.
    Below(Subject, f64),
    /// The subject must be strictly above the limit.
    Above(Subject, f64),
}

impl Budget {
    fn parts(self) -> (Subject, &'static str, f64) {
        match self {
            Budget::Below(subject, limit) => (subject, "<", limit),
            Budget::Above(subject, limit) => (subject, ">", limit),
        }
    }

    /// The limit.
    pub fn limit(self) -> f64 {
        self.parts().2
    }

    /// Whether the figures meet the budget (`None` when a ratio budget has no ratio).
    pub fn met(self, value: f64, ratio: Option<f64>) -> Option<bool> {
        let (subject, _, limit) = self.parts();
        let x = match subject {
            Subject::Value => value,
            Subject::Ratio => ratio?,
        };
        Some(match self {
            Budget::Below(..) => x < limit,
            Budget::Above(..) => x > limit,
        })
    }

    /// `value < 1` or `ratio < 2.5`.
    pub fn rule(self) -> String {
        let (subject, op, limit) = self.parts();
        let name = match subject {
            Subject::Value => "value",
            Subject::Ratio => "ratio",
        };
        format!("{name} {op} {limit}")
    }

    fn cell(self, unit: &str) -> String {
        let (subject, op, limit) = self.parts();
        match subject {
            Subject::Value => format!("{op} {limit} {unit}").trim_end().to_owned(),
            Subject::Ratio => format!("ratio {op} {limit}"),
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Metric {
    /// The JSON key, for example `send_p99_ms`.
    pub key: &'static str,
    /// Unit shown in the table.
    pub unit: &'static str,
    /// The measured value.
    pub value: f64,
    /// The same-run baseline, if the figure has one.
    pub baseline: Option<f64>,
    /// The budget, if the figure has one.
    pub budget: Option<Budget>,
    /// How it was measured (shown under the table).
    pub note: Option<String>,
    /// The peer system's figure on the same workload in the same run (samod).
    pub peer: Option<f64>,
}

impl Metric {
    /// A figure with a baseline and a budget.
    pub fn new(
        key: &'static str,
        unit: &'static str,
        value: f64,
        baseline: Option<f64>,
        budget: Option<Budget>,
    ) -> Metric {
        Metric {
            key,
            unit,
            value,
            baseline,
            budget,
            note: None,
            peer: None,
        }
    }

    /// Adds the peer system's figure (`None`: it has none for this metric).
    pub fn peer(mut self, peer: Option<f64>) -> Metric {
        self.peer = peer;
        self
    }

    /// value / peer: below 1 means Kith is ahead (for figures where less is better).
    pub fn peer_ratio(&self) -> Option<f64> {
        self.peer.filter(|p| *p != 0.0).map(|p| self.value / p)
    }

    /// Adds the note shown under the table.
    pub fn note(mut self, note: impl Into<String>) -> Metric {
        self.note = Some(note.into());
        self
    }

    /// value / baseline.
    pub fn ratio(&self) -> Option<f64> {
        self.baseline.filter(|b| *b != 0.0).map(|b| self.value / b)
    }

    /// Whether the budget is met (`None`: no budget).
    pub fn ok(&self) -> Option<bool> {
        self.budget.and_then(|b| b.met(self.value, self.ratio()))
    }
}

/// Every figure of one run, in order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    metrics: Vec<Metric>,
}

impl Report {
    /// Appends figures.
    pub fn extend(&mut self, metrics: impl IntoIterator<Item = Metric>) {
        self.metrics.extend(metrics);
    }

    /// One JSON object, one key per metric.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for m in &self.metrics {
            let budget = m.budget.map(Budget::limit);
            let entry = json!({
                "value": finite(m.value),
                "baseline": m.baseline.map(finite),
                "ratio": m.ratio().map(finite),
                "budget": budget.map(finite),
                "budget_rule": m.budget.map(Budget::rule),
                "ok": m.ok(),
                "peer": m.peer.map(finite),
                "peer_ratio": m.peer_ratio().map(finite),
                "unit": m.unit,
            });
            object.insert(m.key.to_owned(), entry);
        }
        Value::Object(object)
    }

    /// The table with its notes.
    pub fn table(&self) -> String {
        // The peer columns only where some figure has a peer.
        let with_peer = self.metrics.iter().any(|m| m.peer.is_some());
        let mut header = vec!["metric", "value", "baseline", "ratio"];
        if with_peer {
            header.extend(["samod", "vs samod"]);
        }
        header.extend(["budget", "ok"]);
        let header: Vec<String> = header.into_iter().map(str::to_owned).collect();
        let with_unit = |x: f64, unit: &str| format!("{} {unit}", number(x)).trim_end().to_owned();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for m in &self.metrics {
            let mut row = vec![
                m.key.to_owned(),
                with_unit(m.value, m.unit),
                m.baseline.map_or("-".to_owned(), |b| with_unit(b, m.unit)),
                m.ratio().map_or("-".to_owned(), |r| format!("{r:.2}x")),
            ];
            if with_peer {
                row.push(m.peer.map_or("-".to_owned(), |p| with_unit(p, m.unit)));
                row.push(m.peer_ratio().map_or("-".to_owned(), |r| format!("{r:.2}x")));
            }
            row.push(m.budget.map_or("-".to_owned(), |b| b.cell(m.unit)));
            row.push(match m.ok() {
                Some(true) => "ok".to_owned(),
                Some(false) => "NOT OK".to_owned(),
                None => "-".to_owned(),
            });
            rows.push(row);
        }
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, &width))| {
                    if i == 0 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        let mut out = Vec::new();
        out.push(line(&header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        out.push(format!("|{}|", rule.join("|")));
        for row in &rows {
            out.push(line(row));
        }
        let notes: Vec<String> = self
            .metrics
            .iter()
            .filter_map(|m| m.note.as_ref().map(|n| format!("- {}: {n}", m.key)))
            .collect();
        if !notes.is_empty() {
            out.push(String::new());
            out.push("notes:".to_owned());
            out.extend(notes);
        }
        out.join("\n")
    }
}

/// JSON has no NaN or infinity.
fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// A number with sensible precision for a table.
pub fn number(x: f64) -> String {
    let abs = x.abs();
    if abs >= 10_000.0 || (x.fract() == 0.0 && abs < 1e15) {
        format!("{x:.0}")
    } else if abs >= 100.0 {
        format!("{x:.1}")
    } else if abs >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_judge_value_or_ratio() {
        let m = Metric::new("x_ms", "ms", 0.8, Some(0.4), Some(Budget::Below(Subject::Value, 1.0)));
        assert_eq!(m.ok(), Some(true));
        assert_eq!(m.ratio(), Some(2.0));
        let m = Metric::new("d", "B", 300.0, Some(100.0), Some(Budget::Below(Subject::Ratio, 2.5)));
        assert_eq!(m.ok(), Some(false));
        let m = Metric::new(
            "r",
            "msgs/s",
            30_000.0,
            None,
            Some(Budget::Above(Subject::Value, 20_000.0)),
        );
        assert_eq!(m.ok(), Some(true));
        assert_eq!(Metric::new("n", "", 4.0, None, None).ok(), None);
    }

    #[test]
    fn the_peer_columns_appear_only_with_a_peer_figure() {
        let mut report = Report::default();
        report.extend([Metric::new("a_ms", "ms", 2.0, Some(1.0), None)]);
        assert!(!report.table().contains("samod"));
        report.extend([Metric::new("b_ms", "ms", 3.0, None, None).peer(Some(6.0))]);
        let table = report.table();
        assert!(table.contains("vs samod"), "{table}");
        assert!(table.contains("0.50x"), "{table}");
        let json = report.to_json();
        assert_eq!(json["b_ms"]["peer"], json!(6.0));
        assert_eq!(json["b_ms"]["peer_ratio"], json!(0.5));
        assert_eq!(json["a_ms"]["peer"], Value::Null);
    }

    #[test]
    fn json_has_one_key_per_metric() {
        let mut report = Report::default();
        report.extend([
            Metric::new("a_ms", "ms", 0.8, Some(0.3), Some(Budget::Below(Subject::Value, 1.0))),
            Metric::new("b", "", 4.0, None, None),
        ]);
        let json = report.to_json();
        assert_eq!(json["a_ms"]["ok"], Value::Bool(true));
        assert_eq!(json["a_ms"]["budget"], json!(1.0));
        assert_eq!(json["b"]["ok"], Value::Null);
        assert!(report.table().contains("| a_ms"));
    }
}
