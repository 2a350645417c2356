/* gen_memory_inputs.c — the inputs of bench/memory.sh, made with the library's own writers:
 *   gen_memory_inputs png  OUT.png  SIDE         grey SIDE x SIDE PNG: smooth background and
 *                                                 textured discs (compresses to a few MB, like large crops)
 *   gen_memory_inputs ct   OUT.nii.gz NX NY NZ   int16 CT phantom (air -1000, body ~40 HU with
 *                                                 organs and bone, noise), 1 mm voxels
 *   gen_memory_inputs zeros OUT.nii.gz N         int16 N^3 volume of zeros, gzip streamed in 1 MiB
 *                                                 pieces (2 GiB decoded for N = 1024, a few MB on disk)
 * Deterministic (a fixed xorshift generator). Not a test; nothing it writes is committed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/image.h"
#include "io/nifti.h"
#include "io/volume.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}

static int make_png(const char *path, long side) {
    uint8_t *p = malloc((size_t)side * side);
    if (!p) return fprintf(stderr, "out of memory\n"), 1;
    for (long y = 0; y < side; y++)
        for (long x = 0; x < side; x++) {
            long v = 200 - (x + y) * 60 / (2 * side);                // background gradient
            long cx = (x / 500) * 500 + 250, cy = (y / 500) * 500 + 250; // a disc per 500 px cell
            long dx = x - cx, dy = y - cy;
            if (dx * dx + dy * dy < 150 * 150) v -= 90 + (long)((x * 7 + y * 13) % 23);
            p[y * side + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    medsam_error err;
    int rc = ms_png_write_gray8(path, p, (int)side, (int)side, &err) ? fprintf(stderr, "%s\n", err.message), 1 : 0;
    free(p);
    return rc;
}

static int make_ct(const char *path, int nx, int ny, int nz) {
    ms_volume v;
    medsam_error err;
    ms_volume_init(&v);
    if (ms_volume_alloc(&v, nx, ny, nz, 1, MS_VOX_INT16, &err)) return fprintf(stderr, "%s\n", err.message), 1;
    v.ndim = 3;
    v.pixdim[1] = v.pixdim[2] = v.pixdim[3] = 1.0;
    int16_t *d = v.data;
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                double ex = (x - nx / 2.0) / (nx * 0.42), ey = (y - ny / 2.0) / (ny * 0.33);
                int hu = -1000;
                if (ex * ex + ey * ey < 1) {
                    hu = 40;
                    double ox = (x - nx * 0.62) / (nx * 0.1), oy = (y - ny * 0.45) / (ny * 0.08);
                    if (ox * ox + oy * oy < 1 && z > nz / 4 && z < 3 * nz / 4) hu = 60;   // an organ
                    double bx = (x - nx / 2.0) / (nx * 0.04), by = (y - ny * 0.72) / (ny * 0.04);
                    if (bx * bx + by * by < 1) hu = 700;                                   // spine
                    hu += (int)(rnd() % 41) - 20;
                }
                d[((size_t)z * ny + y) * nx + x] = (int16_t)hu;
            }
    if (ms_volume_update_affine(&v, &err) || ms_nifti_write(path, &v, &err)) {
        fprintf(stderr, "%s\n", err.message);
        ms_volume_free(&v);
        return 1;
    }
    ms_volume_free(&v);
    return 0;
}

static void put16(uint8_t *h, int off, int v) { h[off] = (uint8_t)v, h[off + 1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *h, int off, uint32_t v) {
    for (int i = 0; i < 4; i++) h[off + i] = (uint8_t)(v >> (8 * i));
}

static int make_zeros(const char *path, int n) {
    uint8_t h[352] = {0};
    float one = 1.0f, off = 352.0f;
    uint32_t u;
    put32(h, 0, 348);
    put16(h, 40, 3);
    for (int i = 1; i <= 3; i++) put16(h, 40 + 2 * i, n);
    for (int i = 4; i <= 7; i++) put16(h, 40 + 2 * i, 1);
    put16(h, 70, 4), put16(h, 72, 16);  // datatype int16, bitpix
    for (int i = 0; i < 4; i++) memcpy(&u, &one, 4), put32(h, 76 + 4 * i, u);
    memcpy(&u, &off, 4), put32(h, 108, u);
    memcpy(h + 344, "n+1", 4);
    gzFile g = gzopen(path, "wb1");
    if (!g) return fprintf(stderr, "%s: cannot write\n", path), 1;
    gzwrite(g, h, sizeof h);
    static uint8_t zero[1 << 20];
    uint64_t left = (uint64_t)n * n * n * 2;
    while (left) {
        unsigned k = left > sizeof zero ? (unsigned)sizeof zero : (unsigned)left;
        if (gzwrite(g, zero, k) != (int)k) return gzclose(g), fprintf(stderr, "%s: write failed\n", path), 1;
        left -= k;
    }
    return gzclose(g) == Z_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "png")) return make_png(argv[2], atol(argv[3]));
    if (argc == 6 && !strcmp(argv[1], "ct")) return make_ct(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc == 4 && !strcmp(argv[1], "zeros")) return make_zeros(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: gen_memory_inputs png OUT SIDE | ct OUT NX NY NZ | zeros OUT N\n");
    return 2;
}
