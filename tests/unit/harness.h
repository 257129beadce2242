/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A small unit-test harness. TEST(name) { ... } defines a test and
 * registers it (a constructor adds it to the list: no hand-kept list);
 * EXPECT(cond) ends the test with "FAIL name: line N: cond". The runner
 * prints "PASS name" per test and "N passed, N failed".
 */
#ifndef SYNFIN_TEST_HARNESS_H
#define SYNFIN_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
	struct unit_test *next;
};

extern struct unit_test *unit_tests;
extern const char *unit_cur;
extern bool unit_failed;

#define TEST(name)                                                              \
	static void test_##name(void);                                          \
	static struct unit_test unit_##name = { #name, test_##name, NULL };     \
	__attribute__((constructor)) static void register_##name(void)          \
	{                                                                       \
		struct unit_test **p = &unit_tests;                             \
		while (*p) /* in the order of the file */                       \
			p = &(*p)->next;                                        \
		*p = &unit_##name;                                              \
	}                                                                       \
	static void test_##name(void)

#define EXPECT(cond)                                                                  \
	do {                                                                          \
		if (!(cond)) {                                                        \
			printf("FAIL %s: line %d: %s\n", unit_cur, __LINE__, #cond); \
			unit_failed = true;                                           \
			return;                                                       \
		}                                                                     \
	} while (0)

/* Define once, in the file that holds main(): runs every test. */
#define UNIT_MAIN                                                                      \
	struct unit_test *unit_tests;                                                  \
	const char *unit_cur;                                                          \
	bool unit_failed;                                                              \
	int main(void)                                                                 \
	{                                                                              \
		int passed = 0, failed = 0;                                            \
                                                                                       \
		setvbuf(stdout, NULL, _IOLBF, 0);                                      \
		for (struct unit_test *t = unit_tests; t; t = t->next) {               \
			unit_cur = t->name;                                            \
			unit_failed = false;                                           \
			t->fn();                                                       \
			if (unit_failed) {                                             \
				failed++;                                              \
			} else {                                                       \
				passed++;                                              \
				printf("PASS %s\n", t->name);                          \
			}                                                              \
		}                                                                      \
		printf("%d passed, %d failed\n", passed, failed);                      \
		return failed ? 1 : 0;                                                 \
	}

#endif /* SYNFIN_TEST_HARNESS_H */
