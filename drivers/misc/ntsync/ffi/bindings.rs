// SPDX-License-Identifier: GPL-2.0

//! [`kernel::bindings`] with the C functions that the series binds: the helpers of
//! `ntsync_glue.c`, under the names that `rust/helpers/` gives them in the kernel crate, and
//! `anon_inode_getfile()`, whose header the series adds to `bindings_helper.h`.

pub use kernel::bindings::*;

use kernel::ffi::{
    c_char,
    c_int,
    c_uint,
    c_void, //
};

// `struct file` ends in zero-sized arrays that the lint flags; the C side only ever sees
// pointers to it, exactly as in `kernel::bindings`.
#[allow(improper_ctypes)]
extern "C" {
    pub fn anon_inode_getfile(
        name: *const c_char,
        fops: *const file_operations,
        priv_: *mut c_void,
        flags: c_int,
    ) -> *mut file;

    #[link_name = "ntsync_rs_get_user_u32"]
    pub fn get_user_u32(val: *mut u32, uaddr: *const u32) -> c_int;
    #[link_name = "ntsync_rs_put_user_u32"]
    pub fn put_user_u32(val: u32, uaddr: *mut u32) -> c_int;
    #[link_name = "ntsync_rs_set_current_state"]
    pub fn set_current_state(state: c_uint);
    #[link_name = "ntsync_rs___set_current_state"]
    pub fn __set_current_state(state: c_uint);
    #[link_name = "ntsync_rs_timens_ktime_to_host"]
    pub fn timens_ktime_to_host(clock: clockid_t, tim: ktime_t) -> ktime_t;
}
