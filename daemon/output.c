// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include "output.h"

struct outputs {
	struct output *head;
};

int outputs__new(struct outputs **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void outputs__free(struct outputs *r)
{
	if (!r)
		return;
	while (r->head)
		outputs__remove(r, r->head);
	free(r);
}

void outputs__add(struct outputs *r, struct output *o)
{
	struct output **p = &r->head;

	/* at the end: records go out in the order outputs were added */
	while (*p)
		p = &(*p)->next;
	o->next = NULL;
	*p = o;
}

void outputs__remove(struct outputs *r, struct output *o)
{
	for (struct output **p = &r->head; *p; p = &(*p)->next) {
		if (*p == o) {
			*p = o->next;
			o->ops->close(o);
			return;
		}
	}
}

void outputs__emit(void *reg, const struct sf_record *rec)
{
	struct outputs *r = reg;

	for (struct output *o = r->head; o; o = o->next)
		o->ops->write(o, rec);
}

static void report(struct outputs *r, output_failed_fn fn, void *ctx)
{
	struct output *o = r->head, *next;

	/* fn may remove the output it is given */
	for (; o; o = next) {
		next = o->next;
		if (o->failed) {
			o->failed = false;
			if (fn)
				fn(ctx, o);
		}
	}
}

void outputs__flush(struct outputs *r, output_failed_fn fn, void *ctx)
{
	for (struct output *o = r->head; o; o = o->next)
		o->ops->flush(o);
	report(r, fn, ctx);
}

void outputs__check(struct outputs *r, output_failed_fn fn, void *ctx)
{
	report(r, fn, ctx);
}

void outputs__reopen(struct outputs *r, output_reopen_failed_fn fn, void *ctx)
{
	for (struct output *o = r->head; o; o = o->next) {
		int err = o->ops->reopen(o);

		if (err && fn)
			fn(ctx, o, err);
	}
}

void outputs__counters(const struct outputs *r, struct sf_output_counters *sum)
{
	*sum = (struct sf_output_counters){};
	for (const struct output *o = r->head; o; o = o->next) {
		sum->lines += o->cnt.lines;
		sum->bytes += o->cnt.bytes;
		sum->write_errors += o->cnt.write_errors;
		sum->dropped += o->cnt.dropped;
	}
}

struct output *outputs__first(const struct outputs *r)
{
	return r->head;
}
