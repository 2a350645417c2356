/* mpi_weights_diff.c — helper of tests/mpi_train.sh (not a unit test): compares
 * the weights of two checkpoints of the same architecture.
 *   mpi_weights_diff A.pth B.pth MAX_REL [MAX_REL_L2]
 * Prints, over the trained tensors (image_encoder.*, mask_decoder.*): the largest
 * per-tensor relative difference max|a - b| / max|b| (and its tensor), the
 * largest absolute difference, the relative L2 difference of all of them and how
 * many differ at all. Exit 0 when the largest relative difference is <= MAX_REL (and
 * the relative L2 difference <= MAX_REL_L2 when given). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: mpi_weights_diff A.pth B.pth MAX_REL [MAX_REL_L2]\n");
        return 2;
    }
    medsam_error err;
    medsam_model *a = NULL, *b = NULL;
    if (medsam_model_load(argv[1], &a, &err) || medsam_model_load(argv[2], &b, &err)) {
        fprintf(stderr, "mpi_weights_diff: %s\n", err.message);
        return 2;
    }
    if (a->table.total != b->table.total || a->table.count != b->table.count) {
        fprintf(stderr, "mpi_weights_diff: different architectures\n");
        return 2;
    }
    double worst_rel = 0, worst_abs = 0, num = 0, den = 0;
    const char *worst_name = "-";
    size_t ndiff = 0, n = 0;
    for (int t = 0; t < a->table.count; t++) {
        const ms_param *p = &a->table.items[t];
        if (strncmp(p->name, "image_encoder.", 14) && strncmp(p->name, "mask_decoder.", 13)) continue;
        const float *x = a->params + p->offset, *y = b->params + p->offset; // (numel)
        double dmax = 0, ymax = 0;
        for (size_t i = 0; i < p->numel; i++) {
            double d = fabs((double)x[i] - y[i]);
            if (d > dmax) dmax = d;
            if (fabs(y[i]) > ymax) ymax = fabs(y[i]);
            num += d * d;
            den += (double)y[i] * y[i];
            ndiff += x[i] != y[i];
        }
        n += p->numel;
        double rel = ymax > 0 ? dmax / ymax : dmax;
        if (rel > worst_rel) worst_rel = rel, worst_name = p->name;
        if (dmax > worst_abs) worst_abs = dmax;
    }
    double max_rel = atof(argv[3]), max_l2 = argc == 5 ? atof(argv[4]) : INFINITY;
    double rel_l2 = den > 0 ? sqrt(num / den) : sqrt(num);
    printf("max relative difference %.3e (per tensor max|a-b|/max|b|, worst: %s), max abs %.3e, rel L2 %.3e, "
           "%zu of %zu weights differ\n", worst_rel, worst_name, worst_abs, rel_l2,
           ndiff, n);
    medsam_model_free(a);
    medsam_model_free(b);
    return worst_rel <= max_rel && rel_l2 <= max_l2 ? 0 : 1;
}
