# SPDX-License-Identifier: GPL-2.0
#
# ntsync-rs: the /dev/ntsync driver in Rust.
#
#   make run     build everything (first time: about 15 minutes) and boot a VM
#                with our driver serving /dev/ntsync
#   make check   every test; ends with "N passed, N failed"
#   make bench   both drivers, alternating, same boot: table, JSON and SVG
#   make profile guest kernel instructions per operation and by function, both
#                drivers, counted by a QEMU plugin: table and JSON
#   make coverage line and branch coverage of both drivers by the VM suites,
#                from the PCs a QEMU plugin saw run: tables, JSON, annotated sources
#   make soak    hours: 100,000 differential seeds, long stress runs
#   make series  the driver as a patch series against Linux 7.3, with a cover
#                letter, in build/series (tools/upstream/series-check checks it)
#
# In a kernel tree, drivers/misc/ntsync/Makefile is the Kbuild file.

.PHONY: all run check bench profile coverage soak series module clean

all: module

run:
	tools/testing/vm/demo

check:
	tools/testing/check

bench:
	tools/testing/bench

profile:
	tools/testing/profile

coverage:
	tools/testing/coverage

soak:
	tools/testing/soak

series:
	tools/upstream/series

module:
	scripts/build-module fast

clean:
	rm -rf build
