//! Medians, tails and ratios of latency samples.

use std::time::Duration;

use serde::Serialize;

/// The distribution of one series of samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile (nearest rank).
    pub p99_us: f64,
    /// Largest sample.
    pub max_us: f64,
    /// Arithmetic mean.
    pub mean_us: f64,
}

/// The `p`-th percentile (0 < p ≤ 100) of ascending `sorted`, by the nearest-rank method:
/// the smallest sample with at least p % of the samples at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    /// Summarises `samples` (any order). An empty series gives NaNs and `n = 0`.
    pub fn of(samples: &[Duration]) -> Summary {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let mean = if us.is_empty() {
            f64::NAN
        } else {
            us.iter().sum::<f64>() / us.len() as f64
        };
        Summary {
            n: us.len(),
            p50_us: percentile(&us, 50.0),
            p99_us: percentile(&us, 99.0),
            max_us: us.last().copied().unwrap_or(f64::NAN),
            mean_us: mean,
        }
    }

    /// The median in milliseconds.
    pub fn p50_ms(&self) -> f64 {
        self.p50_us / 1000.0
    }

    /// The 99th percentile in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        self.p99_us / 1000.0
    }
}

/// `a / b`, NaN when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// Least-squares slope of `y` over `x` (units of y per unit of x); NaN with fewer than two
/// distinct x.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return f64::NAN;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx > 0.0 { sxy / sxx } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.1), 1.0);
        let three = [1.0, 2.0, 3.0];
        assert_eq!(percentile(&three, 50.0), 2.0);
        assert_eq!(percentile(&three, 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn summary_sorts_and_converts_to_microseconds() {
        let s = Summary::of(&[
            Duration::from_micros(300),
            Duration::from_micros(100),
            Duration::from_micros(200),
        ]);
        assert_eq!(s.n, 3);
        assert_eq!(s.p50_us, 200.0);
        assert_eq!(s.max_us, 300.0);
        assert!((s.mean_us - 200.0).abs() < 1e-9);
        assert!((s.p50_ms() - 0.2).abs() < 1e-12);
        assert_eq!(Summary::of(&[]).n, 0);
    }

    #[test]
    fn slope_of_a_line_and_of_a_flat_series() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 7.0))
            .collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        let flat: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 5.0)).collect();
        assert_eq!(slope(&flat), 0.0);
        assert!(slope(&[(1.0, 1.0)]).is_nan());
        assert!(ratio(1.0, 0.0).is_nan());
        assert_eq!(ratio(3.0, 2.0), 1.5);
    }
}
