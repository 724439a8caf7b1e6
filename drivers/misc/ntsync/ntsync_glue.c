// SPDX-License-Identifier: GPL-2.0
/*
 * The Rust helpers that the upstream series adds to rust/helpers/, for the
 * kernels that lack them: each wraps a C macro or static inline, which Rust
 * cannot call. ffi/bindings.rs binds them under the names the kernel crate
 * gives them. Each region between an "upstream:" comment and "upstream: end"
 * is the text that the series moves into the named file, with the prefix
 * ntsync_rs_ read as rust_helper_. Nothing else belongs here.
 */

/* upstream: rust/bindings/bindings_helper.h, after "#include <linux/acpi.h>" */
#include <linux/anon_inodes.h>
/* upstream: end */
#include <linux/sched.h>
/* upstream: rust/helpers/time.c, after "#include <linux/ktime.h>" */
#include <linux/time_namespace.h>
/* upstream: end */
#include <linux/uaccess.h>

#include "ntsync_glue.h"

/* Out of tree the helpers are ordinary functions of the module. */
#define __rust_helper

/* upstream: rust/helpers/task.c, append */

__rust_helper void ntsync_rs_set_current_state(unsigned int state)
{
	set_current_state(state);
}

__rust_helper void ntsync_rs___set_current_state(unsigned int state)
{
	__set_current_state(state);
}
/* upstream: end */

/* upstream: rust/helpers/time.c, append */

__rust_helper ktime_t ntsync_rs_timens_ktime_to_host(clockid_t clock, ktime_t tim)
{
	return timens_ktime_to_host(clock, tim);
}
/* upstream: end */

/* upstream: rust/helpers/uaccess.c, append */

__rust_helper int ntsync_rs_get_user_u32(u32 *val, const u32 __user *uaddr)
{
	return get_user(*val, uaddr);
}

__rust_helper int ntsync_rs_put_user_u32(u32 val, u32 __user *uaddr)
{
	return put_user(val, uaddr);
}
/* upstream: end */
