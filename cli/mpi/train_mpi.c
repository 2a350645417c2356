/* train_mpi.c — see train_mpi.h. Compiled only by `make MPI=1`. */
#include "../train_mpi.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#ifndef MPI_CHUNK /* (a small value tests the chunking) */
#define MPI_CHUNK (1 << 24) /* floats exchanged per round: bounds the receive buffer to 64 MB */
#endif

struct cli_mpi {
    int rank, world;
    float *recv;  // (MPI_CHUNK + world) the slices of every rank for the elements this rank sums
    int *counts;  // (world) slice length of each rank in the current chunk
    int *displs;  // (world) slice start of each rank in the current chunk
    int *rcounts; // (world) = counts[rank] for every sender
    int *rdispls; // (world) i * counts[rank]
};

static medsam_status mpi_fail(medsam_error *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return ms_error(err, MEDSAM_ERR_IO, "MPI %s failed: %s", what, msg);
}

cli_mpi *cli_mpi_init(medsam_error *err) {
    int rc = MPI_Init(NULL, NULL);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, rc, "MPI_Init");
        return NULL;
    }
    /* errors come back as codes (and one-line messages) instead of aborting inside MPI */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    cli_mpi *m = calloc(1, sizeof *m);
    if (!m) {
        ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->world);
    size_t w = (size_t)m->world;
    m->recv = malloc((MPI_CHUNK + w) * sizeof *m->recv);
    m->counts = malloc(4 * w * sizeof(int));
    if (!m->recv || !m->counts) {
        free(m->recv);
        free(m->counts);
        free(m);
        ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for the gradient exchange buffer");
        return NULL;
    }
    m->displs = m->counts + w, m->rcounts = m->counts + 2 * w, m->rdispls = m->counts + 3 * w;
    return m;
}

int cli_mpi_rank(const cli_mpi *m) { return m->rank; }
int cli_mpi_world(const cli_mpi *m) { return m->world; }

medsam_status cli_mpi_allreduce(void *ctx, float *grads, size_t n, double loss[3], int *stop, medsam_error *err) {
    cli_mpi *m = ctx;
    const int W = m->world, r = m->rank;
    for (size_t off = 0; off < n; off += MPI_CHUNK) {
        const size_t len = n - off < MPI_CHUNK ? n - off : MPI_CHUNK;
        for (int i = 0; i < W; i++) { /* rank i owns (sums) elements [displs[i], displs[i] + counts[i]) of the chunk */
            m->displs[i] = (int)(len * (size_t)i / (size_t)W);
            m->counts[i] = (int)(len * (size_t)(i + 1) / (size_t)W) - m->displs[i];
        }
        const int mine = m->counts[r];
        for (int i = 0; i < W; i++) m->rcounts[i] = mine, m->rdispls[i] = i * mine;
        float *chunk = grads + off; // (len)
        int rc = MPI_Alltoallv(chunk, m->counts, m->displs, MPI_FLOAT, m->recv, m->rcounts, m->rdispls, MPI_FLOAT,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "gradient exchange (MPI_Alltoallv)");
        /* this rank's slice: ranks 0..W-1 in order, in double, rounded once */
        float *dst = chunk + m->displs[r];
        for (int k = 0; k < mine; k++) {
            double s = 0;
            for (int i = 0; i < W; i++) s += m->recv[(size_t)i * mine + k];
            dst[k] = (float)s;
        }
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, chunk, m->counts, m->displs, MPI_FLOAT, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "gradient exchange (MPI_Allgatherv)");
    }
    /* loss and stop flag: gathered, summed in rank order */
    double mine[4] = {loss[0], loss[1], loss[2], *stop ? 1.0 : 0.0};
    double *all = malloc((size_t)W * sizeof mine);
    if (!all) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    int rc = MPI_Allgather(mine, 4, MPI_DOUBLE, all, 4, MPI_DOUBLE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(err, rc, "loss exchange (MPI_Allgather)");
    }
    double sum[3] = {0, 0, 0};
    int any = 0;
    for (int i = 0; i < W; i++) {
        for (int k = 0; k < 3; k++) sum[k] += all[4 * i + k];
        any |= all[4 * i + 3] != 0;
    }
    free(all);
    memcpy(loss, sum, sizeof sum);
    *stop = any;
    return MEDSAM_OK;
}

medsam_status cli_mpi_same(cli_mpi *m, const char *what, uint64_t value, medsam_error *err) {
    unsigned long long v = value, *all = malloc((size_t)m->world * sizeof *all);
    if (!all) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    int rc = MPI_Allgather(&v, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(err, rc, "consistency check (MPI_Allgather)");
    }
    int differs = -1;
    for (int i = 1; i < m->world && differs < 0; i++)
        if (all[i] != all[0]) differs = i;
    free(all);
    if (differs >= 0)
        return ms_error(err, MEDSAM_ERR_ARG, "process %d of %d has other %s than process 0 (every process needs the "
                        "same files and options)", differs, m->world, what);
    return MEDSAM_OK;
}

void cli_mpi_abort(cli_mpi *m, int code) {
    (void)m;
    MPI_Abort(MPI_COMM_WORLD, code);
}

void cli_mpi_finalize(cli_mpi *m) {
    if (!m) return;
    free(m->recv);
    free(m->counts);
    free(m);
    MPI_Finalize();
}
