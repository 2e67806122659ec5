/*
 * fmtbench: the per-message path of peerlogd alone, with no socket and no
 * kernel: frame 100-byte lines out of a 64 KiB read and format each as a
 * text (or JSON) record into a 1 MiB batch, as peer.c and server.c do.
 * Prints nanoseconds per message. Usage: fmtbench [-j] [-s SIZE] [-n MSGS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "record.h"
#include "ts.h"

#define READ (64 * 1024)
#define BATCH (1024 * 1024)

int
main(int argc, char **argv)
{
	enum record_fmt fmt = RECORD_TEXT;
	size_t size = 100, msgs = 20000000, max_line = 8192;
	int c;

	while ((c = getopt(argc, argv, "js:n:")) != -1) {
		if (c == 'j')
			fmt = RECORD_JSON;
		else if (c == 's')
			size = strtoul(optarg, NULL, 10);
		else if (c == 'n')
			msgs = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (size < 16 || size > READ)
		return 2;
	char *in = malloc(READ), *out = malloc(BATCH + record_msg_max(READ));
	size_t lines = READ / size, inlen = lines * size;
	for (size_t i = 0; i < lines; i++) {
		char *l = in + i * size;
		int n = snprintf(l, size, "c=3 s=%zu ", i);
		memset(l + n, 'x', size - 1 - (size_t)n);
		l[size - 1] = '\n';
	}
	struct ts_cache ts;
	struct record_head head;
	ts_init(&ts);
	record_head_init(&head, fmt, "tcp", "127.0.0.1:40849");

	struct timespec a, b;
	size_t done = 0, olen = 0, bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (done < msgs) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		ts_format(&ts, now.tv_sec, now.tv_nsec / 1000);
		for (size_t off = 0; off < inlen;) {
			struct frame f;
			size_t r = 0;
			if (olen >= BATCH) {
				bytes += olen;
				olen = 0;
			}
			/* As peer.c: one pass for text, frame then format for
			 * JSON (and for what the one pass leaves). */
			if (fmt == RECORD_TEXT)
				r = record_msg_line(out + olen, &head, ts.text,
				    in + off, inlen - off, max_line, &f);
			if (r == 0) {
				f = frame_next(in + off, inlen - off, max_line);
				if (f.kind == FRAME_NEED)
					break;
				r = record_msg(out + olen, &head, ts.text,
				    f.kind == FRAME_PART, in + off, f.len);
			}
			olen += r;
			off += f.used;
			done++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	bytes += olen;
	double s = (double)(b.tv_sec - a.tv_sec) +
	           (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%s %zu-byte lines: %.1f ns per message, %.2f bytes out per "
	       "byte in (%zu messages)\n",
	    fmt == RECORD_JSON ? "json" : "text", size, s * 1e9 / (double)done,
	    (double)bytes / (double)(done * size), done);
	free(in);
	free(out);
	return 0;
}
