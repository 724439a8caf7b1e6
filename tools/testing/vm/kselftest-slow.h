/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included into a second build of the upstream kselftest, the one run on
 * the debug kernel. Under TCG that kernel runs syscalls about a hundred times
 * slower than native, and the harness's compiled-in 30 s per-test limit was
 * meant for native speed: stress_wait alone takes 12-20 s there with either
 * driver. The tests themselves are unchanged; TEST() reads this value where
 * the test file expands it.
 */
#include "kselftest_harness.h"

#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 300
