/* train_dist.c — see train_dist.h. The MPI calls live in cli/mpi/train_mpi.c
 * (compiled only by `make MPI=1`, which defines MEDSAM_MPI). */
#include "train_dist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_mpi.h"

/* Number of processes announced by an MPI launcher (OpenMPI's mpirun, MPICH's
 * hydra / Slurm's PMI), 0 when none; *var: the variable that said so. */
static long launcher_size(const char **var) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            *var = vars[i];
            return strtol(v, NULL, 10);
        }
    }
    *var = NULL;
    return 0;
}

#ifdef MEDSAM_MPI
/* FNV-1a over bytes */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* a hash of the weights: 64-bit words folded with a multiply-xor (fast on 100M floats) */
static uint64_t hash_floats(const float *x, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ n;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint64_t w;
        memcpy(&w, x + i, sizeof w);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    return fnv(h, x + i, (n - i) * sizeof *x);
}
#endif

int cli_dist_start(int mpi_flag, cli_dist *d) {
    memset(d, 0, sizeof *d);
    d->world = 1;
    const char *var;
    long n = launcher_size(&var);
#ifndef MEDSAM_MPI
    if (mpi_flag) return cli_failf("--mpi: this medsam was built without MPI (rebuild with `make MPI=1`)");
    if (n > 1)
        return cli_failf("started by an MPI launcher as one of %ld processes (%s) but this medsam was built without "
                         "MPI, so each would work alone: rebuild with `make MPI=1`", n, var);
    return 0;
#else
    if (!mpi_flag && n <= 1) return 0; /* a plain process */
    medsam_error err;
    cli_mpi *m = cli_mpi_init(&err);
    if (!m) return cli_fail(&err);
    d->mpi = m;
    d->rank = cli_mpi_rank(m);
    d->world = cli_mpi_world(m);
    return 0;
#endif
}

int cli_dist_setup(cli_dist *d, ms_train_options *o, ms_train_hooks *h, const float *params, size_t n,
                   const ms_dataset *ds, const ms_dataset_opts *dopt) {
    o->rank = d->rank, o->world = d->world;
    if (d->rank != 0) h->progress = NULL;
    if (d->world <= 1) return 0;
#ifdef MEDSAM_MPI
    cli_mpi *m = d->mpi;
    medsam_error err;
    uint64_t hd = fnv(1469598103934665603ULL, &ds->count, sizeof ds->count);
    for (int i = 0; i < ds->count; i++) hd = fnv(hd, ds->names[i], strlen(ds->names[i]) + 1);
    double real[7] = {o->lr, o->weight_decay, o->val_fraction, 0, dopt->intensity.level, dopt->intensity.width,
                      dopt->box_zoom};
    int64_t ints[10] = {o->epochs, o->batch, o->bbox_shift, o->seed, o->save_every, o->resume != NULL, ds->size,
                        (int64_t)dopt->intensity.mode, dopt->min_voxels_3d, dopt->min_pixels_2d};
    uint64_t ho = fnv(fnv(1469598103934665603ULL, real, sizeof real), ints, sizeof ints);
    if (o->resume) ho = fnv(ho, o->resume, strlen(o->resume));
    if (cli_mpi_same(m, "weights", hash_floats(params, n), &err) ||
        cli_mpi_same(m, "data (names in --data)", hd, &err) || cli_mpi_same(m, "options", ho, &err)) {
        if (d->rank == 0) cli_fail(&err);
        cli_dist_end(d);
        return 1;
    }
    h->allreduce = cli_mpi_allreduce;
    h->allreduce_ctx = m;
    return 0;
#else
    (void)h, (void)params, (void)n, (void)ds, (void)dopt;
    return cli_failf("several processes without MPI in the build");
#endif
}

int cli_dist_fail(cli_dist *d, const medsam_error *err) {
    if (d->world <= 1) {
        int rc = cli_fail(err);
        cli_dist_end(d);
        return rc;
    }
    fprintf(stderr, "medsam (process %d of %d): %s\n", d->rank, d->world, err->message);
    fflush(stderr);
#ifdef MEDSAM_MPI
    cli_mpi_abort(d->mpi, 1);
#endif
    return 1;
}

void cli_dist_end(cli_dist *d) {
#ifdef MEDSAM_MPI
    cli_mpi_finalize(d->mpi);
#endif
    d->mpi = NULL;
}
