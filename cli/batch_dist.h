/* batch_dist.h — `medsam segment --batch` over MPI ranks: a shared counter from
 * which ranks take the next case, and the gathering of every rank's results on
 * rank 0. Implemented in cli/mpi/batch_mpi.c, compiled only by `make MPI=1`. */
#ifndef MS_CLI_BATCH_DIST_H
#define MS_CLI_BATCH_DIST_H
#ifdef MEDSAM_MPI
#include <stddef.h>

#include "medsam.h"

typedef struct cli_mpi_counter cli_mpi_counter;

/* A counter starting at 0 held by rank 0 (an MPI window); collective. NULL + err on failure. */
cli_mpi_counter *cli_mpi_counter_new(medsam_error *err);
/* Atomically fetches the counter and adds 1: each value is handed to exactly one rank. -1 on failure. */
long cli_mpi_counter_next(cli_mpi_counter *c);
void cli_mpi_counter_free(cli_mpi_counter *c); /* collective */

/* Collective: rank 0 gets every rank's text concatenated in rank order in *all
 * (malloc'd, NUL-terminated; NULL elsewhere). 0, or an MPI failure in err. */
medsam_status cli_mpi_gather_text(const char *mine, size_t n, char **all, medsam_error *err);
/* Collective: rank 0's value on every rank. */
int cli_mpi_bcast_int(int v);

#endif
#endif
