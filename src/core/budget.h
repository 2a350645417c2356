/* budget.h — the memory budget of the readers (medsam_budget in medsam.h).
 *
 * A reader computes the decoded size of its input (pixels or voxels) from the header and,
 * before allocating it, calls ms_budget_check: over the budget it fails with
 * MEDSAM_ERR_NOMEM and one line naming the decoded size and the budget (the reader's
 * caller prefixes the file name). Inflating readers never produce more than the header
 * promised. The budget is a plain value passed down (no global state); internal callers
 * pass 0 for "no limit". */
#ifndef MS_CORE_BUDGET_H
#define MS_CORE_BUDGET_H
#include <stdint.h>

#include "medsam.h"

/* max_bytes of a public budget: b NULL or b->max_bytes <= 0 gives medsam_memory_default(). */
uint64_t ms_budget_resolve(const medsam_budget *b);

/* MEDSAM_OK when `bytes` fits `max_bytes` (0: no limit), else the one-line refusal
 * "<what>: decoded size 2.00 GiB (2147483648 bytes) is over the memory budget of 512 MiB (--max-memory)". */
medsam_status ms_budget_check(uint64_t max_bytes, uint64_t bytes, const char *what, medsam_error *err);

/* "2.00 GiB", "512 MiB", "300 bytes" into buf. */
void ms_budget_format(char *buf, int len, uint64_t bytes);

#endif
