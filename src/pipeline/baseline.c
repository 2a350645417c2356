/* baseline.c — Otsu inside the box, largest component, holes filled (see baseline.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/baseline.h"

// ref: skimage.filters.threshold_otsu (histogram form, 256 unit bins)
int ms_otsu_threshold(const long hist[256]) {
    double total = 0, sum = 0;
    int distinct = 0;
    for (int v = 0; v < 256; v++) {
        total += (double)hist[v];
        sum += (double)v * hist[v];
        distinct += hist[v] > 0;
    }
    if (distinct < 2) return -1;
    double w0 = 0, s0 = 0, best = -1;
    int t_best = -1;
    for (int t = 0; t < 255; t++) {
        w0 += (double)hist[t];
        s0 += (double)t * hist[t];
        double w1 = total - w0;
        if (w0 == 0 || w1 == 0) continue;
        double m0 = s0 / w0, m1 = (sum - s0) / w1;
        double between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (between > best) best = between, t_best = t;
    }
    return t_best;
}

/* Flood fill over pixels of `lab` == from (box-local, bw x bh), 4-connected, from seed, writing `to`;
 * returns the number of pixels reached. queue holds bw*bh ints. */
static long flood(uint8_t *lab, int bw, int bh, int seed, uint8_t from, uint8_t to, int *queue) {
    long head = 0, tail = 0;
    lab[seed] = to;
    queue[tail++] = seed;
    while (head < tail) {
        int p = queue[head++], x = p % bw, y = p / bw;
        int nb[4] = {x > 0 ? p - 1 : -1, x + 1 < bw ? p + 1 : -1, y > 0 ? p - bw : -1, y + 1 < bh ? p + bw : -1};
        for (int k = 0; k < 4; k++)
            if (nb[k] >= 0 && lab[nb[k]] == from) {
                lab[nb[k]] = to;
                queue[tail++] = nb[k];
            }
    }
    return tail;
}

enum { BG = 0, FG = 1, COMP = 2, SEEN = 3, OUTSIDE = 4 };

medsam_status ms_baseline_box(const uint8_t *grey, int W, int H, int x0, int y0, int x1, int y1, uint8_t label,
                              uint8_t *mask, medsam_error *err) {
    if (!(0 <= x0 && x0 < x1 && x1 <= W && 0 <= y0 && y0 < y1 && y1 <= H))
        return ms_error(err, MEDSAM_ERR_ARG, "box (%d,%d,%d,%d) is empty or outside the %dx%d image", x0, y0, x1, y1,
                        W, H);
    const int bw = x1 - x0, bh = y1 - y0;
    const long n = (long)bw * bh;
    long hist[256] = {0};
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) hist[grey[(long)y * W + x]]++;
    int t = ms_otsu_threshold(hist);
    if (t < 0) return MEDSAM_OK;
    /* the object is the class nearer the box centre: the smaller mean of
       ((x - cx) / (bw / 2))^2 + ((y - cy) / (bh / 2))^2 over its pixels (a box is drawn around the object) */
    const double cx = x0 + (bw - 1) / 2.0, cy = y0 + (bh - 1) / 2.0, hx = bw / 2.0, hy = bh / 2.0;
    double d_above = 0, d_below = 0;
    long n_above = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double d = ((x - cx) / hx) * ((x - cx) / hx) + ((y - cy) / hy) * ((y - cy) / hy);
            if (grey[(long)y * W + x] > t) d_above += d, n_above++;
            else d_below += d;
        }
    const int object_above = d_above / (double)n_above <= d_below / (double)(n - n_above);
    uint8_t *lab = malloc((size_t)n);        /* (bh, bw) BG / FG, then COMP / SEEN / OUTSIDE */
    int *queue = malloc((size_t)n * sizeof *queue);
    if (!lab || !queue) {
        free(lab);
        free(queue);
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory (box of %ld pixels)", n);
    }
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++)
            lab[(long)y * bw + x] = (grey[(long)(y + y0) * W + x + x0] > t) == object_above ? FG : BG;
    /* largest 4-connected object component (the first in raster order on ties) */
    long best = 0;
    int best_seed = -1;
    for (long p = 0; p < n; p++)
        if (lab[p] == FG) {
            long size = flood(lab, bw, bh, (int)p, FG, SEEN, queue);
            if (size > best) best = size, best_seed = (int)p;
        }
    if (best_seed >= 0) flood(lab, bw, bh, best_seed, SEEN, COMP, queue);
    /* everything else is background; background reachable from the border is outside */
    for (long p = 0; p < n; p++)
        if (lab[p] != COMP) lab[p] = BG;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++)
            if ((y == 0 || y == bh - 1 || x == 0 || x == bw - 1) && lab[(long)y * bw + x] == BG)
                flood(lab, bw, bh, y * bw + x, BG, OUTSIDE, queue);
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++)
            if (lab[(long)y * bw + x] != OUTSIDE) mask[(long)(y + y0) * W + x + x0] = label;
    free(lab);
    free(queue);
    return MEDSAM_OK;
}
