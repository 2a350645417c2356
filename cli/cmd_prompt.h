/* cmd_prompt.h — `medsam segment` with SAM's prompts: points (-p), one box, a mask
 * input (--mask-input), three masks (--multimask) and their scores (--scores), all in
 * one prompt set decoded by medsam_decode_prompt. */
#ifndef MS_CMD_PROMPT_H
#define MS_CMD_PROMPT_H
#include <stdint.h>

#include "medsam.h"

typedef struct {
    float points[2 * MEDSAM_MAX_POINTS]; // (npoints, 2) x, y
    int labels[MEDSAM_MAX_POINTS];       // (npoints) 1 foreground, 0 background
    int npoints;
    int multimask;
    const char *scores;     // --scores FILE.json
    const char *mask_input; // --mask-input LOGITS.npy
} cli_prompt_opts;

/* -p x,y[,label]: appends a point; on a usage error prints one line and returns 2. */
int cli_prompt_add_point(cli_prompt_opts *p, const char *arg);

/* Whether the command line asks for a prompt set (points, --multimask, --scores or --mask-input). */
int cli_prompt_wanted(const cli_prompt_opts *p);

/* The checks that need the image size (W x H) and the model's mask side L, before the
 * encoder runs: points inside the image, the mask input file's dtype, shape and values.
 * *mask_in gets the (L, L) mask input (or NULL). Prints one line and returns 1 on failure. */
int cli_prompt_check(const cli_prompt_opts *p, const char *input, int W, int H, int L, float **mask_in);

/* Decodes the prompt set (box may be NULL) and writes OUTPUT (0 / 255 PNG of the best mask),
 * LOGITS ((1, nm, L, L) float32), --scores and --overlay: all of them or none. */
int cli_prompt_run(const medsam_model *m, const medsam_embedding *emb, const cli_prompt_opts *p, const medsam_box *box,
                   const float *mask_in, const char *input, int W, int H, const char *output, const char *logits,
                   const char *overlay, int threads, int verbose);

#endif
