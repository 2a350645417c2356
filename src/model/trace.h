/* trace.h — optional hook through which a forward pass reports intermediate
 * tensors (for stage-by-stage tests against PyTorch dumps). Library code calls
 * it only when the caller passes a non-NULL function; it never stores it. */
#ifndef MS_TRACE_H
#define MS_TRACE_H

/* `stage` names the tensor (e.g. "dec.layer0.queries"); `data` holds `n` floats
 * in the layout the emitting function documents; valid only during the call. */
typedef void (*ms_trace_fn)(void *ctx, const char *stage, const float *data, long n);

/* Calls trace(ctx, stage, data, n) when trace is not NULL. */
static inline void ms_trace(ms_trace_fn trace, void *ctx, const char *stage, const float *data, long n) {
    if (trace) trace(ctx, stage, data, n);
}

#endif
