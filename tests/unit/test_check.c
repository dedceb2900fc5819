// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_check.c - xdpfwd check's report: the exit status is the worst item's
 * (0 ok, 1 warning, 2 error), the text has one line an item and a summary,
 * and the JSON is the schema docs/operations.md gives, with every message
 * escaped. (The items themselves read the running system: tests/e2e's
 * test_check_* make each one wrong in the lab.)
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "harness.h"

UNIT_TEST(test_check_report, 5)
{
	struct check_report r = {0};
	struct strbuf text = STRBUF_INIT, json = STRBUF_INIT;
	json_object *root, *checks = NULL, *item, *v;
	int n = 0;

	CHECK(check_exit(&r) == 0, "an empty report exits %d, want 0", check_exit(&r));
	n++;
	check_add(&r, "btf", CHECK_OK, "fine");
	CHECK(check_exit(&r) == 0, "all ok exits %d, want 0", check_exit(&r));
	n++;
	check_add(&r, "rp_filter", CHECK_WARNING, "strict on %s", "wg0");
	CHECK(check_exit(&r) == 1, "a warning exits %d, want 1", check_exit(&r));
	n++;
	check_add(&r, "state", CHECK_ERROR, "a \"quoted\" path\\ and a tab\t");
	check_add(&r, "daemon", CHECK_WARNING, "later warning");
	CHECK(check_exit(&r) == 2, "an error exits %d, want 2", check_exit(&r));
	n++;

	check_format(&r, false, &text);
	CHECK(!strcmp(strbuf_str(&text), "ok      btf: fine\n"
					 "warning rp_filter: strict on wg0\n"
					 "error   state: a \"quoted\" path\\ and a tab\t\n"
					 "warning daemon: later warning\n"
					 "1 ok, 2 warnings, 1 error\n"),
	      "text report:\n%s", strbuf_str(&text));
	n++;

	check_format(&r, true, &json);
	root = json_tokener_parse(strbuf_str(&json));
	CHECK(root && json_object_object_get_ex(root, "status", &v) &&
		  !strcmp(json_object_get_string(v), "error") &&
		  json_object_object_get_ex(root, "checks", &checks) &&
		  json_object_array_length(checks) == 4,
	      "JSON report: %s", strbuf_str(&json));
	n++;
	item = root && checks ? json_object_array_get_idx(checks, 2) : NULL;
	CHECK(item && json_object_object_get_ex(item, "name", &v) &&
		  !strcmp(json_object_get_string(v), "state") &&
		  json_object_object_get_ex(item, "status", &v) &&
		  !strcmp(json_object_get_string(v), "error") &&
		  json_object_object_get_ex(item, "message", &v) &&
		  !strcmp(json_object_get_string(v), "a \"quoted\" path\\ and a tab\t"),
	      "JSON item 2: %s", strbuf_str(&json));
	n++;
	json_object_put(root);

	/* A message longer than an item holds is cut, not overrun. */
	check_add(&r, "long", CHECK_OK, "%0600d", 0);
	CHECK(strlen(r.items[r.count - 1].text) == sizeof(r.items[0].text) - 1,
	      "a long message is %zu characters", strlen(r.items[r.count - 1].text));
	n++;

	strbuf_free(&text);
	strbuf_free(&json);
	check_free(&r);
	return n;
}
