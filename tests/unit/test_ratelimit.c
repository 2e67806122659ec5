/* Unit tests of ratelimit.c: a burst a window, the rest counted, a window
 * that ends starts a new one, and what was held back is handed out once. */
#include "ratelimit.h"
#include "tap.h"

/* What the server uses: 5 records a reason a second. */
#define BURST 5
#define WINDOW 1000

/* The burst of a window passes, every event after it is only counted. */
static void
test_burst(void)
{
	struct ratelimit rl = {0};
	int passed = 0;

	for (int i = 0; i < BURST; i++)
		passed += ratelimit_pass(&rl, 1000 + i, BURST, WINDOW);
	is_int(passed, BURST, "burst: the first %d events of a window pass",
	    BURST);
	is_int((long long)rl.suppressed, 0, "burst: none held back yet");
	is_int(rl.start, 1000, "burst: the window began at the first event");
	for (int i = 0; i < 7; i++)
		ok(!ratelimit_pass(&rl, 1100 + i, BURST, WINDOW),
		    "burst: event %d after the burst is held back", i + 1);
	is_int((long long)rl.suppressed, 7,
	    "burst: the events after the burst are counted");
	is_int(rl.passed, BURST, "burst: passed stays at the burst");
	is_int(rl.start, 1000, "burst: held-back events move no window");
}

/* Events at the same millisecond as the window's first. */
static void
test_same_ms(void)
{
	struct ratelimit rl = {0};
	int passed = 0;

	for (int i = 0; i < 100; i++)
		passed += ratelimit_pass(&rl, 42, BURST, WINDOW);
	is_int(passed, BURST, "same ms: 100 events at once, %d pass", BURST);
	is_int((long long)rl.suppressed, 100 - BURST,
	    "same ms: the other %d are counted", 100 - BURST);
}

/* The window's last millisecond is in it; window_ms after its start a new
 * one opens with a fresh burst. */
static void
test_window_end(void)
{
	struct ratelimit rl = {0};
	int passed = 0;

	for (int i = 0; i < BURST; i++)
		ratelimit_pass(&rl, 5000, BURST, WINDOW);
	ok(!ratelimit_pass(&rl, 5000 + WINDOW - 1, BURST, WINDOW),
	    "window end: the last ms of the window is still in it");
	is_int((long long)rl.suppressed, 1, "window end: that one is counted");
	ok(ratelimit_pass(&rl, 5000 + WINDOW, BURST, WINDOW),
	    "window end: now - start == window opens a new window");
	is_int(rl.start, 5000 + WINDOW,
	    "window end: the new window begins at that event");
	is_int(rl.passed, 1, "window end: the new window has passed one");
	/* Not closed first: the old count is dropped (the caller closes
	 * first, as the header says). */
	is_int((long long)rl.suppressed, 0,
	    "window end: the new window starts with nothing held back");
	for (int i = 1; i < BURST + 3; i++)
		passed += ratelimit_pass(&rl, 6500, BURST, WINDOW);
	is_int(passed, BURST - 1, "window end: the new window has its burst");
	is_int((long long)rl.suppressed, 3,
	    "window end: and counts past it again");
}

/* A window is measured from its first event, not from the last one: a
 * steady trickle still gets a new window every window_ms. */
static void
test_window_from_first(void)
{
	struct ratelimit rl = {0};

	ratelimit_pass(&rl, 10000, 1, WINDOW);
	ok(!ratelimit_pass(&rl, 10900, 1, WINDOW),
	    "from first: 900 ms later is the same window");
	ok(ratelimit_pass(&rl, 11000, 1, WINDOW),
	    "from first: 1000 ms after the first event a new window opens");
	ok(!ratelimit_pass(&rl, 11999, 1, WINDOW),
	    "from first: the second window ends 1000 ms after its first");
	ok(ratelimit_pass(&rl, 50000, 1, WINDOW),
	    "from first: after a long silence the next event passes");
	is_int(rl.start, 50000, "from first: and opens the window");
}

/* Real clocks: milliseconds since 1970 (about 1.7e12) must not overflow. */
static void
test_large_clock(void)
{
	struct ratelimit rl = {0};
	long long t = 1700000000000LL;

	for (int i = 0; i < BURST; i++)
		ratelimit_pass(&rl, t, BURST, WINDOW);
	ok(!ratelimit_pass(&rl, t + WINDOW - 1, BURST, WINDOW),
	    "large clock: held back inside the window");
	is_int((long long)ratelimit_close(&rl, t + WINDOW - 1, WINDOW, false),
	    0, "large clock: not closed before its end");
	is_int((long long)ratelimit_close(&rl, t + WINDOW, WINDOW, false), 1,
	    "large clock: closed at its end with its count");
}

/* Closing: nothing before the window ends (the count is kept), the count
 * once at or after its end, nothing a second time. */
static void
test_close(void)
{
	struct ratelimit rl = {0};

	is_int((long long)ratelimit_close(&rl, 1000, WINDOW, false), 0,
	    "close: no window open gives 0");
	is_int((long long)ratelimit_close(&rl, 1000, WINDOW, true), 0,
	    "close: no window open gives 0 even with force");
	is_int(rl.start, 0, "close: no window is opened by a close");

	for (int i = 0; i < BURST + 4; i++)
		ratelimit_pass(&rl, 2000, BURST, WINDOW);
	is_int((long long)ratelimit_close(&rl, 2000, WINDOW, false), 0,
	    "close: at the window's first ms, not closed");
	is_int(
	    (long long)ratelimit_close(&rl, 2000 + WINDOW - 1, WINDOW, false),
	    0, "close: at the window's last ms, not closed");
	is_int((long long)rl.suppressed, 4,
	    "close: a close too early keeps the count");
	is_int(rl.start, 2000, "close: a close too early keeps the window");
	ok(!ratelimit_pass(&rl, 2500, BURST, WINDOW),
	    "close: the window is still full after an early close");
	is_int((long long)ratelimit_close(&rl, 2000 + WINDOW, WINDOW, false), 5,
	    "close: at the window's end, the count held back");
	is_int(rl.start, 0, "close: the window is closed");
	is_int((long long)rl.suppressed, 0, "close: its count is cleared");
	is_int((long long)ratelimit_close(&rl, 2000 + WINDOW, WINDOW, false), 0,
	    "close: a second close gives 0 (the count is given once)");
	is_int((long long)ratelimit_close(&rl, 9000, WINDOW, true), 0,
	    "close: and so does a forced one after it");
	ok(ratelimit_pass(&rl, 2000 + WINDOW, BURST, WINDOW),
	    "close: the next event opens a new window and passes");
	is_int(rl.start, 2000 + WINDOW, "close: the new window's start");
	is_int(rl.passed, 1, "close: the new window counts from 1");
}

/* Closed long after its end: the count is still there. */
static void
test_close_late(void)
{
	struct ratelimit rl = {0};

	for (int i = 0; i < BURST + 2; i++)
		ratelimit_pass(&rl, 3000, BURST, WINDOW);
	is_int(
	    (long long)ratelimit_close(&rl, 3000 + 60 * WINDOW, WINDOW, false),
	    2, "close late: a minute after the end, the count");
}

/* A window that held nothing back closes with 0 but does close. */
static void
test_close_quiet(void)
{
	struct ratelimit rl = {0};

	ratelimit_pass(&rl, 4000, BURST, WINDOW);
	is_int((long long)ratelimit_close(&rl, 4000 + WINDOW, WINDOW, false), 0,
	    "close quiet: nothing held back gives 0");
	is_int(rl.start, 0, "close quiet: the ended window is closed");
	is_int(rl.passed, 0, "close quiet: its passed count is cleared");
}

/* Forced (shutdown): the count at once, window open or not. */
static void
test_close_force(void)
{
	struct ratelimit rl = {0};

	for (int i = 0; i < BURST + 3; i++)
		ratelimit_pass(&rl, 7000, BURST, WINDOW);
	is_int((long long)ratelimit_close(&rl, 7001, WINDOW, true), 3,
	    "force: an open window gives its count");
	is_int(rl.start, 0, "force: and is closed");
	is_int((long long)ratelimit_close(&rl, 7001, WINDOW, true), 0,
	    "force: a second forced close gives 0");
	is_int((long long)ratelimit_close(&rl, 7000 + WINDOW, WINDOW, false), 0,
	    "force: nor does the window's end give it again");
	ok(ratelimit_pass(&rl, 7002, BURST, WINDOW),
	    "force: the next event opens a new window");
	is_int((long long)rl.suppressed, 0,
	    "force: the new window has nothing held back");

	/* An ended window, forced: the same count as unforced. */
	for (int i = 0; i < BURST + 1; i++)
		ratelimit_pass(&rl, 7002, BURST, WINDOW);
	is_int((long long)ratelimit_close(&rl, 7002 + 5 * WINDOW, WINDOW, true),
	    2, "force: an ended window gives its count too");
}

/* A burst of 0 lets nothing through; a burst of 1 one a window. */
static void
test_small_burst(void)
{
	struct ratelimit rl = {0};

	ok(!ratelimit_pass(&rl, 100, 0, WINDOW), "burst 0: nothing passes");
	ok(!ratelimit_pass(&rl, 200, 0, WINDOW), "burst 0: still nothing");
	is_int((long long)rl.suppressed, 2, "burst 0: both are counted");
	memset(&rl, 0, sizeof(rl));
	ok(ratelimit_pass(&rl, 100, 1, WINDOW), "burst 1: the first passes");
	ok(!ratelimit_pass(&rl, 100, 1, WINDOW), "burst 1: the second not");
}

/*
 * The server's use, replayed over random event times: close what ended
 * before each event, force at the end. Every event is either let through
 * or part of exactly one count, and no window lets more than the burst
 * through.
 */
static void
test_accounting(void)
{
	unsigned long long state = 0x5eed1234abcdULL;
	bool good = true, burst_ok = true;

	for (int round = 0; round < 200; round++) {
		struct ratelimit rl = {0};
		long long now = 1 + (long long)(tap_rand(&state) % 100000);
		unsigned long long events = 0, passed = 0, summed = 0;
		unsigned burst = 1 + (unsigned)(tap_rand(&state) % 8);
		long long win_start = 0;
		unsigned in_win = 0;

		for (int i = 0; i < 2000; i++) {
			/* Mostly floods, now and then a pause. */
			unsigned long long r = tap_rand(&state) % 100;
			now += r < 90 ? (long long)(r % 3)
			              : (long long)(tap_rand(&state) % 3000);
			summed += ratelimit_close(&rl, now, WINDOW, false);
			events++;
			if (ratelimit_pass(&rl, now, burst, WINDOW)) {
				passed++;
				if (rl.start != win_start) {
					win_start = rl.start;
					in_win = 0;
				}
				if (++in_win > burst)
					burst_ok = false;
			}
		}
		summed += ratelimit_close(&rl, now, WINDOW, true);
		summed += ratelimit_close(&rl, now + 10 * WINDOW, WINDOW, true);
		if (passed + summed != events) {
			good = false;
			diag("round %d: %llu passed + %llu summed != %llu",
			    round, passed, summed, events);
		}
	}
	ok(good, "accounting: every event passes or is counted exactly once");
	ok(burst_ok, "accounting: no window passes more than the burst");
}

/* Run every rate-limit test. */
int
main(void)
{
	test_burst();
	test_same_ms();
	test_window_end();
	test_window_from_first();
	test_large_clock();
	test_close();
	test_close_late();
	test_close_quiet();
	test_close_force();
	test_small_burst();
	test_accounting();
	return done_testing();
}
