/* label_dust.c — see label_dust.h. */
#include "train/label_dust.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

medsam_status ms_label_dust(int32_t *labels, int nx, int ny, int nz, int64_t threshold, int connectivity,
                            medsam_error *err) {
    if (connectivity != 26 && connectivity != 8)
        return ms_error(err, MEDSAM_ERR_ARG, "dust: connectivity %d (26 or 8)", connectivity);
    if (nx < 1 || ny < 1 || nz < 1 || (int64_t)nx * ny * nz > INT32_MAX)
        return ms_error(err, MEDSAM_ERR_ARG, "dust: bad size %dx%dx%d", nx, ny, nz);
    if (threshold <= 1) return MEDSAM_OK;
    const int64_t n = (int64_t)nx * ny * nz, plane = (int64_t)nx * ny;
    uint8_t *seen = calloc((size_t)n, 1);
    int32_t *comp = malloc((size_t)n * sizeof *comp); // (n) voxel indices of the component being grown
    if (!seen || !comp) {
        free(seen);
        free(comp);
        return ms_error(err, MEDSAM_ERR_NOMEM, "dust: out of memory for %lld voxels", (long long)n);
    }
    const int dz_lo = connectivity == 26 ? -1 : 0, dz_hi = connectivity == 26 ? 1 : 0;
    // ref: cc3d.dust — connected_components, then voxels of components with count < threshold set to 0
    for (int64_t start = 0; start < n; start++) {
        if (seen[start] || labels[start] == 0) continue;
        const int32_t value = labels[start];
        int64_t len = 0, head = 0;
        comp[len++] = (int32_t)start;
        seen[start] = 1;
        while (head < len) { /* breadth-first: comp[0..len) is both the queue and the component */
            const int64_t i = comp[head++];
            const int z = (int)(i / plane), y = (int)(i % plane / nx), x = (int)(i % nx);
            for (int dz = dz_lo; dz <= dz_hi; dz++) {
                const int zz = z + dz;
                if (zz < 0 || zz >= nz) continue;
                for (int dy = -1; dy <= 1; dy++) {
                    const int yy = y + dy;
                    if (yy < 0 || yy >= ny) continue;
                    for (int dx = -1; dx <= 1; dx++) {
                        const int xx = x + dx;
                        if (xx < 0 || xx >= nx) continue;
                        const int64_t j = (int64_t)zz * plane + (int64_t)yy * nx + xx;
                        if (seen[j] || labels[j] != value) continue;
                        seen[j] = 1;
                        comp[len++] = (int32_t)j;
                    }
                }
            }
        }
        if (len < threshold)
            for (int64_t k = 0; k < len; k++) labels[comp[k]] = 0;
    }
    free(seen);
    free(comp);
    return MEDSAM_OK;
}
