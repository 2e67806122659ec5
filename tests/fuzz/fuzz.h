/* Shared checks of the libFuzzer harnesses: a failed property aborts, so
 * libFuzzer saves the input; UTF-8 and JSON string decoding written here,
 * independently of escape.c, to judge the escapers' output. */
#ifndef PEERLOG_FUZZ_H
#define PEERLOG_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each harness's entry point: libFuzzer calls it once per input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the failed condition; unlike assert, NDEBUG cannot drop it. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fuzz_fail(__FILE__, __LINE__, #cond);                  \
	} while (0)

/* Report a failed property on stderr and abort. */
void fuzz_fail(const char *file, int line, const char *cond)
    __attribute__((noreturn));

/*
 * Length (1 to 4) of the valid UTF-8 sequence at p, n bytes available, with
 * its code point in *cp; 0 when p does not start one (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF).
 */
size_t fuzz_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp);

/* Whether the n bytes at p are all valid UTF-8. */
bool fuzz_utf8_valid(const void *p, size_t n);

/* Whether the n bytes at p hold a C0 control byte, DEL, or the UTF-8 form
 * (c2 80..c2 9f) of a C1 control: what a terminal could act upon. */
bool fuzz_has_control(const void *p, size_t n);

/*
 * Decode the body of a JSON string (no quotes), n bytes at s, into dst
 * (room for n bytes). Returns the decoded length, or (size_t)-1 when it is
 * not a valid RFC 8259 string body (raw '"' or control byte, bad escape,
 * lone surrogate, invalid UTF-8).
 */
size_t fuzz_json_unescape(char *dst, const char *s, size_t n);

/* Write the n bytes at s into dst (room for 3 * n) as a JSON reader should
 * see them escaped: each byte that is not valid UTF-8 as U+FFFD. */
size_t fuzz_replace_invalid(char *dst, const void *s, size_t n);

/* Allocate exactly n bytes and copy src there, so that ASan catches a read
 * one past the end. */
void *fuzz_dup(const void *src, size_t n);

/* Allocate n bytes, aborting on failure. */
void *fuzz_alloc(size_t n);

/* A small deterministic generator (xorshift32), seeded from the input. */
struct rng {
	uint32_t s;
};

/* Next 32 random bits. */
static inline uint32_t
rng_next(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 17;
	r->s ^= r->s << 5;
	return r->s;
}

/* A seed for the generator from every byte of the input (FNV-1a). */
static inline uint32_t
rng_seed(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h != 0 ? h : 1;
}

/* A number below n (n >= 1). */
static inline uint32_t
rng_below(struct rng *r, uint32_t n)
{
	return rng_next(r) % n;
}

#endif
