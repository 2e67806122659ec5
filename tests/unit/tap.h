/* A tiny TAP producer for the unit tests: one "ok N - name" line per check,
 * "# got ... expected ..." diagnostics on failure, the plan at the end. */
#ifndef PEERLOG_TAP_H
#define PEERLOG_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Counters of the running program; one test program per module. */
static struct {
	int run;
	int failed;
} tap_state;

/* Print the result line of one check; the name comes from a format. */
static inline TAP_PRINTF(2, 0) bool tap_vresult(
    bool pass, const char *fmt, va_list ap)
{
	tap_state.run++;
	if (!pass)
		tap_state.failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_state.run);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	return pass;
}

/* One check: pass when cond is true. */
static inline TAP_PRINTF(2, 3) bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	bool pass;

	va_start(ap, fmt);
	pass = tap_vresult(cond, fmt, ap);
	va_end(ap);
	return pass;
}

/* A diagnostic line; TAP consumers show it, never parse it as a result. */
static inline TAP_PRINTF(1, 2) void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Write bytes as a C string literal, so that any byte shows unambiguously. */
static inline void
tap_put_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	if (p == NULL) {
		fputs("NULL", stdout);
		return;
	}
	putchar('"');
	for (i = 0; i < n; i++) {
		if (b[i] == '"' || b[i] == '\\')
			printf("\\%c", b[i]);
		else if (b[i] >= 0x20 && b[i] < 0x7f)
			putchar(b[i]);
		else
			printf("\\x%02x", b[i]);
	}
	printf("\" (%zu bytes)", n);
}

/* The got/expected diagnostic of a failed byte comparison. */
static inline void
tap_diag_mem(const void *got, size_t gotlen, const void *exp, size_t explen)
{
	size_t i = 0;

	fputs("# got ", stdout);
	tap_put_bytes(got, gotlen);
	fputs(" expected ", stdout);
	tap_put_bytes(exp, explen);
	putchar('\n');
	if (got != NULL && exp != NULL) {
		while (i < gotlen && i < explen &&
		       ((const unsigned char *)got)[i] ==
		           ((const unsigned char *)exp)[i])
			i++;
		printf("# first difference at byte %zu\n", i);
	}
	fflush(stdout);
}

/* Whether two byte strings are equal (NULL equals only NULL). */
static inline bool
tap_same_mem(const void *got, size_t gotlen, const void *exp, size_t explen)
{
	if (got == NULL || exp == NULL)
		return got == exp;
	return gotlen == explen && memcmp(got, exp, gotlen) == 0;
}

/* Check that got (gotlen bytes) equals exp (explen bytes). */
static inline TAP_PRINTF(5, 6) bool is_mem(const void *got, size_t gotlen,
    const void *exp, size_t explen, const char *fmt, ...)
{
	va_list ap;
	bool pass = tap_same_mem(got, gotlen, exp, explen);

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		tap_diag_mem(got, gotlen, exp, explen);
	return pass;
}

/* Check that two NUL-terminated strings are equal. */
static inline TAP_PRINTF(3, 4) bool is_str(
    const char *got, const char *exp, const char *fmt, ...)
{
	va_list ap;
	size_t gotlen = got != NULL ? strlen(got) : 0;
	size_t explen = exp != NULL ? strlen(exp) : 0;
	bool pass = tap_same_mem(got, gotlen, exp, explen);

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		tap_diag_mem(got, gotlen, exp, explen);
	return pass;
}

/* Check that two sizes are equal. */
static inline TAP_PRINTF(3, 4) bool is_size(
    size_t got, size_t exp, const char *fmt, ...)
{
	va_list ap;
	bool pass = got == exp;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("got %zu expected %zu", got, exp);
	return pass;
}

/* Check that two integers (enums, flags, counts) are equal. */
static inline TAP_PRINTF(3, 4) bool is_int(
    long long got, long long exp, const char *fmt, ...)
{
	va_list ap;
	bool pass = got == exp;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("got %lld expected %lld", got, exp);
	return pass;
}

/* Print the plan; the result is main's exit status (1 if any check failed). */
static inline int
done_testing(void)
{
	printf("1..%d\n", tap_state.run);
	if (tap_state.failed > 0)
		diag("%d of %d checks failed", tap_state.failed, tap_state.run);
	fflush(stdout);
	return tap_state.failed > 0 ? 1 : 0;
}

/* A deterministic generator (xorshift64*), so random tests replay exactly. */
static inline unsigned long long
tap_rand(unsigned long long *state)
{
	unsigned long long x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

#endif
