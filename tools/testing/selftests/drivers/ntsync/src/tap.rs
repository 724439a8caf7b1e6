// SPDX-License-Identifier: GPL-2.0

//! A minimal TAP producer: each test is a function returning `Result<(), String>`.

use std::time::Instant;

pub type TestResult = Result<(), String>;

/// A named test.
pub type Test = (&'static str, fn() -> TestResult);

/// Fails the test with the location and message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err(format!("{}:{}: check failed: {}", file!(), line!(), stringify!($cond)));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($fmt)+)));
        }
    };
}

/// Fails unless `left == right`, showing both.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!(
                "{}:{}: {} == {}: got {:?}, expected {:?}",
                file!(),
                line!(),
                stringify!($left),
                stringify!($right),
                l,
                r
            ));
        }
    }};
}

/// Runs `tests` in order (or only those named in `filter`), printing TAP; returns the number
/// of failures.
pub fn run(tests: &[Test], filter: &[String]) -> usize {
    let selected: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("TAP version 13");
    println!("1..{}", selected.len());
    let mut failed = 0;
    for (i, (name, test)) in selected.iter().enumerate() {
        let start = Instant::now();
        let result = test();
        let ms = start.elapsed().as_millis();
        match result {
            Ok(()) => println!("ok {} - {name} # {ms} ms", i + 1),
            Err(msg) => {
                failed += 1;
                println!("not ok {} - {name}", i + 1);
                for line in msg.lines() {
                    println!("# {line}");
                }
            }
        }
    }
    println!("# {} passed, {} failed", selected.len() - failed, failed);
    failed
}

/// Prints the plan of `names.len()` checks up front, so that a run that dies before
/// [`report`] shows every check as never run.
pub fn plan(names: &[&str]) {
    println!("TAP version 13");
    println!("1..{}", names.len());
}

/// Prints the outcome of checks that ran together (one numbered line each, in plan order)
/// after [`plan`]; returns the number of failures.
pub fn report<S: AsRef<str>>(results: &[(S, TestResult)]) -> usize {
    let mut failed = 0;
    for (i, (name, result)) in results.iter().enumerate() {
        let name = name.as_ref();
        match result {
            Ok(()) => println!("ok {} - {name}", i + 1),
            Err(msg) => {
                failed += 1;
                let mut lines = msg.lines();
                println!("not ok {} - {name}: {}", i + 1, lines.next().unwrap_or(""));
                for line in lines {
                    println!("# {line}");
                }
            }
        }
    }
    println!("# {} passed, {} failed", results.len() - failed, failed);
    failed
}

/// The whole `main` of a test binary: runs `tests` (or those whose names contain one of the
/// arguments) and exits with the number of failures, capped at 100.
pub fn main(tests: &[Test]) -> ! {
    let filter: Vec<String> = std::env::args().skip(1).collect();
    let failed = run(tests, &filter);
    std::process::exit(failed.min(100) as i32);
}
