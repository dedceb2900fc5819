/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * textfile.h - a whole text file in memory: config files and the state file
 * come in this way, with one set of limits and one set of messages.
 */
#ifndef XDPFWD_TEXTFILE_H
#define XDPFWD_TEXTFILE_H

#include <stddef.h>

/* PATH's contents, NUL-terminated, in *TEXT (malloc'd): a regular file of at
 * most MAX_BYTES holding no NUL byte. 0 on success; -ENOENT when it does not
 * exist (err says so too); another negative errno with one line in err,
 * naming the file, otherwise. */
int read_text_file(const char *path, size_t max_bytes, char **text, char *err);
/* The same for a file that may hold any byte (the state file's journal,
 * whose torn tail may be zeros): *LEN bytes in *BYTES (malloc'd, with a NUL
 * after them). */
int read_file_bytes(const char *path, size_t max_bytes, char **bytes, size_t *len, char *err);

#endif
