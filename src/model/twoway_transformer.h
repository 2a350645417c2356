/* twoway_transformer.h — the mask decoder's TwoWayTransformer on token-major
 * data (internal to mask_decoder.c; see mask_decoder.h for the maths).
 * ref: segment_anything/modeling/transformer.py:TwoWayTransformer */
#ifndef MS_TWOWAY_TRANSFORMER_H
#define MS_TWOWAY_TRANSFORMER_H
#include <stddef.h>

#include "model/config.h"
#include "model/mask_decoder.h"
#include "model/params.h"
#include "model/trace.h"

/* Scratch of one transformer pass, carved from the caller's workspace. */
typedef struct {
    float *tok0;   // (Nt, D) input tokens = query_pe (point_embedding in PyTorch)
    float *q;      // (Nt, D) queries; the output after ms_twoway_forward
    float *qpe;    // (Nt, D) queries + query_pe
    float *tmp;    // (Nt, max(D, F)) attention output / MLP hidden
    float *mha;    // mha_scratch_floats(Nt, Nt, D, heads) for self-attention
    float *Qt;     // (Nt, I) token-side q or k projection
    float *Vt;     // (Nt, I) token-side v projection
    float *Ot;     // (Nt, I) token-side attention output before out_proj
    float *Xa;     // (heads*Nt, D) re-associated query/key rows
    float *Xb;     // (heads*Nt, D) re-associated value rows
    float *cvec;   // (heads*Nt) score offsets (image->token)
    float *S;      // (N, heads*Nt) attention scores, image-major
    float *keys;   // (N, D) keys (image tokens); the output after ms_twoway_forward
    float *kpe;    // (N, D) keys + key_pe
} ms_twoway_ws;

size_t ms_twoway_ws_floats(const ms_config *c, int Nt_max);
/* Points ws's fields into buf; returns the first float after them. */
float *ms_twoway_ws_carve(ms_twoway_ws *ws, const ms_config *c, int Nt_max, float *buf);

/* Runs all layers and the final token->image attention.
 * In: ws->tok0 (Nt, D) holds the tokens. Out: ws->q (Nt, D), ws->keys (N, D). */
void ms_twoway_forward(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_image *img, int Nt,
                       ms_twoway_ws *ws, int nthreads, ms_trace_fn trace, void *trace_ctx);

#endif
