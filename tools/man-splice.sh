#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# tools/man-splice.sh BINARY <PAGE >OUT: PAGE with each block between
#   .\" generated: xdpfwd help TOPIC
#   .\" end of generated
# replaced by what `BINARY help TOPIC` prints (the parts of the man page made
# from the command table). make man writes xdpfwd.8 with it; make check
# compares.
set -eu
awk -v bin="$1" '
/^\.\\" generated: / {
	print
	cmd = bin " help " $NF
	while ((cmd | getline line) > 0)
		print line
	if (close(cmd) != 0)
		exit 1
	skip = 1
	next
}
/^\.\\" end of generated/ { skip = 0 }
!skip { print }'
