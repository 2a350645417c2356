/* upload_zip.c — the two zip uploads that no path-based reader takes as they
 * are: a zip of a DICOM series (members extracted, under numbered names of
 * our own, into a private folder that medsam_volume_read then reads) and a
 * CVPR24 2-D npz case (imgs (H, W, 3) uint8, rewritten as a lossless RGB PNG:
 * the same pixels `medsam segment --npz` preprocesses). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/npy.h"
#include "io/image.h"
#include "io/npz.h"
#include "serve/upload_zip.h"
#include "weights/zip.h"

#define MAX_MEMBERS 4096

int ms_upload_zip_kind(const char *path) {
    pth_zip *z;
    medsam_error err;
    if (pth_zip_open_file(path, &z, &err)) return MS_ZIP_OTHER;
    int npy = 0, n = pth_zip_count(z);
    for (int i = 0; i < n; i++) {
        const char *name = pth_zip_entry_at(z, i)->name;
        size_t len = strlen(name);
        if (len > 4 && !strcmp(name + len - 4, ".npy")) npy = 1;
    }
    pth_zip_close(z);
    if (!npy) return MS_ZIP_DICOM;
    ms_npz *npz;
    if (ms_npz_open(path, &npz, &err)) return MS_ZIP_NPZ;
    int kind = MS_ZIP_NPZ;
    ms_npy a;
    if (ms_npz_has(npz, "imgs") && !ms_npz_get(npz, "imgs", &a, &err)) {
        if (a.ndim == 3 && a.shape[2] == 3 && a.dtype == MS_NPY_U8) kind = MS_ZIP_NPZ_2D;
        ms_npy_free(&a);
    }
    ms_npz_close(npz);
    return kind;
}

medsam_status ms_upload_npz_to_png(const char *npz_path, const char *png_path, medsam_error *err) {
    ms_npz *npz;
    medsam_status st = ms_npz_open(npz_path, &npz, err);
    if (st) return st;
    ms_npy a = {0};
    st = ms_npz_get(npz, "imgs", &a, err);
    if (!st && !(a.ndim == 3 && a.shape[2] == 3 && a.dtype == MS_NPY_U8))
        st = ms_error(err, MEDSAM_ERR_SHAPE, "imgs is not (H, W, 3) uint8");
    if (!st && (a.shape[0] < 1 || a.shape[1] < 1 || a.shape[0] > MS_IMAGE_MAX_SIDE || a.shape[1] > MS_IMAGE_MAX_SIDE))
        st = ms_error(err, MEDSAM_ERR_SHAPE, "imgs is empty or too large");
    if (!st) st = ms_png_write_rgb8(png_path, a.data, (int)a.shape[1], (int)a.shape[0], err);
    ms_npy_free(&a);
    ms_npz_close(npz);
    return st;
}

medsam_status ms_upload_unzip(const char *zip_path, const char *dir, uint64_t max_total, medsam_error *err) {
    pth_zip *z;
    medsam_status st = pth_zip_open_file(zip_path, &z, err);
    if (st) return st;
    int n = pth_zip_count(z);
    if (n > MAX_MEMBERS) st = ms_error(err, MEDSAM_ERR_NOMEM, "zip: %d members, over the %d limit", n, MAX_MEMBERS);
    if (!st && mkdir(dir, 0700)) st = ms_error(err, MEDSAM_ERR_IO, "zip: cannot create a folder for the members");
    uint64_t total = 0;
    int files = 0;
    for (int i = 0; i < n && !st; i++) {
        const pth_zip_entry *e = pth_zip_entry_at(z, i);
        size_t len = strlen(e->name);
        if (len == 0 || e->name[len - 1] == '/') continue; /* folders */
        if (e->size > max_total - total) {
            st = ms_error(err, MEDSAM_ERR_NOMEM, "zip: members over the %llu-byte limit", (unsigned long long)max_total);
            break;
        }
        uint8_t *buf;
        size_t got;
        if ((st = pth_zip_read_all(z, e, max_total - total, &buf, &got, err))) break;
        total += got;
        char p[600];
        snprintf(p, sizeof p, "%s/m%05d", dir, i); /* never the member's own name: no path traversal */
        FILE *f = fopen(p, "wb");
        if (!f || fwrite(buf, 1, got, f) != got) st = ms_error(err, MEDSAM_ERR_IO, "zip: cannot write a member");
        if (f && fclose(f) && !st) st = ms_error(err, MEDSAM_ERR_IO, "zip: cannot write a member");
        free(buf);
        files++;
    }
    if (!st && !files) st = ms_error(err, MEDSAM_ERR_FORMAT, "zip: no files inside");
    pth_zip_close(z);
    return st;
}

void ms_upload_rmdir(const char *dir) {
    char p[600];
    for (int i = 0; i < MAX_MEMBERS; i++) {
        snprintf(p, sizeof p, "%s/m%05d", dir, i);
        unlink(p);
    }
    rmdir(dir);
}
