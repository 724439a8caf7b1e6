// SPDX-License-Identifier: GPL-2.0
/*
 * The few kernel facilities that only exist as C macros or static inlines,
 * wrapped so that ffi.rs can call them. Nothing else belongs here.
 */

#include <linux/sched.h>
#include <linux/time_namespace.h>
#include <linux/uaccess.h>

#include "ntsync_glue.h"

void ntsync_rs_set_current_interruptible(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
}

void ntsync_rs_set_current_running(void)
{
	__set_current_state(TASK_RUNNING);
}

ktime_t ntsync_rs_timens_to_host(clockid_t clock, ktime_t tim)
{
	return timens_ktime_to_host(clock, tim);
}

int ntsync_rs_put_u32(u32 __user *uaddr, u32 val)
{
	return put_user(val, uaddr);
}

int ntsync_rs_get_u32(const u32 __user *uaddr, u32 *val)
{
	return get_user(*val, uaddr);
}
