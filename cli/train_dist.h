/* train_dist.h — `medsam train` as one of several processes (data parallel over
 * MPI, trainer.h): joins the group when asked (--mpi) or when started by an MPI
 * launcher, checks that every process has the same weights, data and options,
 * and hands the trainer its rank, the number of processes and the allreduce hook.
 * Without MPI in the build (the default) a single process runs, and a run that
 * asks for MPI, or was started by mpirun as one of several, is refused with a
 * message saying the build has no MPI. */
#ifndef MS_CLI_TRAIN_DIST_H
#define MS_CLI_TRAIN_DIST_H
#include <stddef.h>

#include "medsam.h"
#include "train/dataset.h"
#include "train/trainer.h"

typedef struct {
    int rank, world; /* 0, 1 for a single process */
    void *mpi;       /* cli_mpi * (MPI builds, world > 1 or --mpi) */
} cli_dist;

/* Joins the MPI group when mpi_flag is set or a launcher's variables say there are
 * several processes. Returns 0, or a CLI exit code after printing the reason. */
int cli_dist_start(int mpi_flag, cli_dist *d);

/* Every process has the same weights (params, n floats), data and options (the
 * trainer's and the data's: intensities, dust thresholds), else all fail with the
 * same message; then o gets rank/world, h the allreduce hook, and only rank 0
 * keeps h->progress. Returns 0 or a CLI exit code (message printed). */
int cli_dist_setup(cli_dist *d, ms_train_options *o, ms_train_hooks *h, const float *params, size_t n,
                   const ms_dataset *ds, const ms_dataset_opts *dopt);

/* Prints err (with the rank when several) and returns the exit code; with several
 * processes a failure on one stops the whole job (the others would wait forever). */
int cli_dist_fail(cli_dist *d, const medsam_error *err);

/* Leaves the group (MPI_Finalize); d may hold no group. */
void cli_dist_end(cli_dist *d);

#endif
