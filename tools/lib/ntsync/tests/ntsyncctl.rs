// SPDX-License-Identifier: GPL-2.0

//! ntsyncctl's input handling, output and exit status, on the host: a file that is not
//! ntsync stands in for the device, so every driver call fails with ENOTTY.

use std::io::Write;
use std::process::Command;
use std::process::Stdio;

/// Runs ntsyncctl with `args` and `stdin`: (status, stdout, stderr).
fn ntsyncctl(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ntsyncctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn commands_from_stdin_echoed() {
    let (status, out, err) = ntsyncctl(
        &["-x", "-d", "/dev/null"],
        "# a comment\n\nlist; sleep 1\nquit\nlist\n",
    );
    assert_eq!((status, err.as_str()), (0, ""));
    assert_eq!(out, "> list\n> sleep 1\n> quit\n");
}

#[test]
fn driver_errors_are_results_and_fail_the_run() {
    let (status, out, err) = ntsyncctl(&["-d", "/dev/null", "-c", "sem a 1 2; list"], "");
    assert_eq!(status, 1);
    assert_eq!(
        out,
        "sem a: error: not an ntsync file that knows this command (ENOTTY)\n"
    );
    assert_eq!(err, "");
}

#[test]
fn mistakes_go_to_stderr_with_their_line() {
    let (status, out, err) = ntsyncctl(&["-d", "/dev/null"], "list\nread nothing\nbogus 1\n");
    assert_eq!((status, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "ntsyncctl: line 2: no object named 'nothing'\n\
         ntsyncctl: line 3: unknown command 'bogus' (try 'help')\n"
    );
}

#[test]
fn a_missing_device_goes_to_stderr() {
    let (status, out, err) = ntsyncctl(
        &["-d", "/nonexistent/ntsync", "-c", "event e manual set"],
        "",
    );
    assert_eq!((status, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "ntsyncctl: line 1: /nonexistent/ntsync: \
         no such device node; is the ntsync driver loaded? (ENOENT)\n"
    );
}

#[test]
fn scripts_are_read_from_files() {
    let path = std::env::temp_dir().join(format!("ntsyncctl-test-{}", std::process::id()));
    std::fs::write(&path, "help\n").unwrap();
    let (status, out, _) = ntsyncctl(&[path.to_str().unwrap()], "");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(status, 0);
    assert!(out.starts_with("commands"), "{out}");
}

#[test]
fn bad_options_exit_2() {
    for args in [&["-q"][..], &["-c"], &["a", "b"], &["/nonexistent/script"]] {
        let (status, out, err) = ntsyncctl(args, "");
        assert_eq!(status, 2, "{args:?}");
        assert_eq!(out, "");
        assert!(!err.is_empty());
    }
}
