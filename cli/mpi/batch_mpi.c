/* batch_mpi.c — see batch_dist.h. Compiled only by `make MPI=1`. */
#include "../batch_dist.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct cli_mpi_counter {
    MPI_Win win;
    long *value; // (1) on rank 0, the next case; no memory elsewhere
};

cli_mpi_counter *cli_mpi_counter_new(medsam_error *err) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    cli_mpi_counter *c = calloc(1, sizeof *c);
    if (!c) {
        ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (MPI_Win_allocate(rank == 0 ? (MPI_Aint)sizeof(long) : 0, sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD,
                         &c->value, &c->win) != MPI_SUCCESS) {
        free(c);
        ms_error(err, MEDSAM_ERR_IO, "MPI_Win_allocate failed (the shared case counter)");
        return NULL;
    }
    if (rank == 0) {
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, c->win);
        *c->value = 0;
        MPI_Win_unlock(0, c->win);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return c;
}

long cli_mpi_counter_next(cli_mpi_counter *c) {
    long one = 1, got = -1;
    if (MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, c->win) != MPI_SUCCESS) return -1;
    int rc = MPI_Fetch_and_op(&one, &got, MPI_LONG, 0, 0, MPI_SUM, c->win);
    if (MPI_Win_unlock(0, c->win) != MPI_SUCCESS || rc != MPI_SUCCESS) return -1;
    return got;
}

void cli_mpi_counter_free(cli_mpi_counter *c) {
    if (!c) return;
    MPI_Win_free(&c->win);
    free(c);
}

medsam_status cli_mpi_gather_text(const char *mine, size_t n, char **all, medsam_error *err) {
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    *all = NULL;
    if (n > (size_t)1 << 30) return ms_error(err, MEDSAM_ERR_ARG, "batch results over 1 GB on one rank");
    int len = (int)n;
    int *lens = rank == 0 ? calloc((size_t)world * 2, sizeof(int)) : NULL;
    if (rank == 0 && !lens) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    if (MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(lens);
        return ms_error(err, MEDSAM_ERR_IO, "MPI_Gather of the batch results failed");
    }
    char *buf = NULL;
    int *displs = rank == 0 ? lens + world : NULL;
    if (rank == 0) {
        size_t total = 0;
        for (int i = 0; i < world; i++) displs[i] = (int)total, total += (size_t)lens[i];
        buf = total < (size_t)1 << 31 ? malloc(total + 1) : NULL;
        if (buf) buf[total] = 0;
    }
    int rc = MPI_Gatherv(mine, len, MPI_CHAR, buf, lens, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
    free(lens);
    if (rc != MPI_SUCCESS || (rank == 0 && !buf)) {
        free(buf);
        return ms_error(err, MEDSAM_ERR_IO, "MPI_Gatherv of the batch results failed");
    }
    *all = buf;
    return MEDSAM_OK;
}

int cli_mpi_bcast_int(int v) {
    MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return v;
}
