/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C wrappers of ntsync_glue.c, which ffi.rs declares again on the Rust
 * side: the kernel facilities they wrap are macros or static inlines, which
 * Rust cannot call.
 */
#ifndef NTSYNC_GLUE_H
#define NTSYNC_GLUE_H

#include <linux/types.h>

void ntsync_rs_set_current_interruptible(void);
void ntsync_rs_set_current_running(void);
ktime_t ntsync_rs_timens_to_host(clockid_t clock, ktime_t tim);
int ntsync_rs_put_u32(u32 __user *uaddr, u32 val);
int ntsync_rs_get_u32(const u32 __user *uaddr, u32 *val);

#endif /* NTSYNC_GLUE_H */
