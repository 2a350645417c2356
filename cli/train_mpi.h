/* train_mpi.h — data-parallel `medsam train` over MPI: the process group and the
 * trainer's allreduce hook (trainer.h). Implemented in cli/mpi/train_mpi.c, which
 * only `make MPI=1` compiles (with mpicc and -DMEDSAM_MPI); the default build
 * needs no MPI and declares nothing here.
 *
 * Reduction order: each gradient element is summed by exactly one process (the
 * owner of its slice: an all-to-all exchange), over ranks 0, 1, ..., world-1 in
 * that order, in double, rounded once to float, then sent back to every process
 * (all-gather). The result is the same on every rank and from run to run whatever
 * algorithms the MPI library picks; it differs from a single process's gradient
 * of the same global batch only by fp32 summation order. */
#ifndef MS_CLI_TRAIN_MPI_H
#define MS_CLI_TRAIN_MPI_H
#ifdef MEDSAM_MPI
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

typedef struct cli_mpi cli_mpi;

/* MPI_Init + the group's size and this process's rank. NULL with err on failure. */
cli_mpi *cli_mpi_init(medsam_error *err);
int cli_mpi_rank(const cli_mpi *m);
int cli_mpi_world(const cli_mpi *m);

/* The trainer's allreduce hook (ctx = cli_mpi *): grads and loss summed over the
 * processes in rank order (see above), stop flags ORed. */
medsam_status cli_mpi_allreduce(void *ctx, float *grads, size_t n, double loss[3], int *stop, medsam_error *err);

/* Fails on every process, naming `what` and the first rank that differs, unless
 * all processes pass the same value (a hash of the weights, the data, the options). */
medsam_status cli_mpi_same(cli_mpi *m, const char *what, uint64_t value, medsam_error *err);

/* A failure on one process: stop the whole job (the others would wait forever). */
void cli_mpi_abort(cli_mpi *m, int code);
/* MPI_Finalize and free (m may be NULL). */
void cli_mpi_finalize(cli_mpi *m);

#endif
#endif
