/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The helpers of ntsync_glue.c, which ffi/bindings.rs declares again on the
 * Rust side.
 */
#ifndef NTSYNC_GLUE_H
#define NTSYNC_GLUE_H

#include <linux/types.h>

void ntsync_rs_set_current_state(unsigned int state);
void ntsync_rs___set_current_state(unsigned int state);
ktime_t ntsync_rs_timens_ktime_to_host(clockid_t clock, ktime_t tim);
int ntsync_rs_get_user_u32(u32 *val, const u32 __user *uaddr);
int ntsync_rs_put_user_u32(u32 val, u32 __user *uaddr);

#endif /* NTSYNC_GLUE_H */
