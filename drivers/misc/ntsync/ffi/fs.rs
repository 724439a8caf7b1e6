// SPDX-License-Identifier: GPL-2.0

//! [`kernel::fs`] with the anonymous-inode files and the file functions that the series adds.

// All of the kernel crate's module, which this one completes, used or not.
#[allow(unused_imports)]
pub use kernel::fs::*;

// upstream: rust/kernel/fs.rs, after "pub mod file;"
pub mod anon_inode;
// upstream: end
pub mod file;
