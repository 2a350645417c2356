/* cmd_synth.c — `medsam synth`: write procedural training / evaluation cases
 * (src/synth/synth.h) as npz files that `medsam train --data` and `medsam
 * eval` read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/atomic_file.h"
#include "io/image.h"
#include "io/npz.h"
#include "pipeline/overlay.h"
#include "synth/synth.h"

static void synth_usage(FILE *fp) {
    fputs("usage: medsam synth --out DIR [--count N] [--start I] [--seed S] [--size PX]\n"
          "                    [--modality ct|mr|us|xray|endo|path|all] [--preview] [--threads N]\n"
          "\n"
          "Writes cases I .. I+N-1 of the synthetic data set S as DIR/synth_MOD_INDEX.npz with\n"
          "imgs (PX,PX) or (PX,PX,3) uint8 and gts (PX,PX) uint8 labels (MedSAM's npz layout, read by\n"
          "`medsam train --data DIR`), and DIR/cases.csv (name, modality, labels, kind and contrast of\n"
          "each label). A case depends only on (seed, index): files that exist are kept, so an\n"
          "interrupted run resumes. --preview also writes DIR/preview/NAME.png (image | overlay).\n"
          "Defaults: --count 120 --start 0 --seed 0 --size 256 --modality all.\n",
          fp);
}

static int parse_long(const char *s, long lo, long hi, long *v) {
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi) return 0;
    *v = x;
    return 1;
}

/* image | overlay side by side, as one RGB PNG. */
static medsam_status write_preview(const char *path, const ms_synth_case *c, medsam_error *err) {
    const int S = c->size;
    uint8_t *both = malloc((size_t)S * S * 6), *over = malloc((size_t)S * S * 3);
    if (!both || !over) {
        free(both), free(over);
        return MEDSAM_ERR_NOMEM;
    }
    ms_overlay_render(over, c->image, S, S, c->channels, NULL, 1, NULL, 0, 0);  // plain image as RGB
    for (int y = 0; y < S; y++) memcpy(both + (size_t)y * S * 6, over + (size_t)y * S * 3, (size_t)S * 3);
    ms_overlay_render(over, c->image, S, S, c->channels, c->labels, 1, NULL, 0, 0);
    for (int y = 0; y < S; y++) memcpy(both + (size_t)y * S * 6 + (size_t)S * 3, over + (size_t)y * S * 3, (size_t)S * 3);
    medsam_status st = ms_png_write_rgb8(path, both, 2 * S, S, err);
    free(both), free(over);
    return st;
}

int cmd_synth(int argc, char **argv) {
    const char *out = NULL;
    long count = 120, start = 0, seed = 0, size = 256, threads = cli_default_threads();
    int modality = -1, preview = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            synth_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--preview")) { preview = 1; continue; }
        if (!strcmp(a, "-v")) continue;
        if (!v) {
            fprintf(stderr, "medsam: option '%s' needs a value (see -h)\n", a);
            return 2;
        }
        i++;
        int good = 1;
        if (!strcmp(a, "--out") || !strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--count")) good = parse_long(v, 1, 100000000, &count);
        else if (!strcmp(a, "--start")) good = parse_long(v, 0, 1000000000000L, &start);
        else if (!strcmp(a, "--seed")) good = parse_long(v, 0, 0x7fffffffffffffffL, &seed);
        else if (!strcmp(a, "--size")) good = parse_long(v, 64, 2048, &size);
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) good = parse_long(v, 1, 1024, &threads);
        else if (!strcmp(a, "--modality")) good = !strcmp(v, "all") ? (modality = -1, 1) : (modality = ms_synth_modality_parse(v)) >= 0;
        else {
            fprintf(stderr, "medsam: unknown option '%s' (see -h)\n", a);
            return 2;
        }
        if (!good) {
            fprintf(stderr, "medsam: bad value '%s' for %s (see -h)\n", v, a);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "medsam: synth needs --out DIR (see -h)\n");
        return 2;
    }
    if (mkdir(out, 0777) && errno != EEXIST) return cli_failf("%s: cannot create the folder", out);
    char pdir[4200];
    snprintf(pdir, sizeof pdir, "%s/preview", out);
    if (preview && mkdir(pdir, 0777) && errno != EEXIST) return cli_failf("%s: cannot create the folder", pdir);

    char (*rows)[256] = calloc((size_t)count, sizeof *rows);
    if (!rows) return cli_failf("cannot allocate the case list");
    int failed = 0;
    const int tty = isatty(2);
    long done = 0;
    medsam_error first = {0};
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)threads)
    for (long k = 0; k < count; k++) {
        if (failed) continue;
        const uint64_t index = (uint64_t)(start + k);
        medsam_error e = {0};
        ms_synth_case c;
        medsam_status st = ms_synth_make((uint64_t)seed, index, (int)size, modality, &c, &e);
        char name[96], path[4300];
        if (!st) {
            snprintf(name, sizeof name, "synth_%s_%06llu", ms_synth_modality_name(c.modality), (unsigned long long)index);
            snprintf(path, sizeof path, "%s/%s.npz", out, name);
            struct stat sb;
            if (stat(path, &sb) != 0) {
                const char *names[2] = {"imgs", "gts"};
                ms_npy arr[2] = {{.dtype = MS_NPY_U8, .ndim = c.channels == 3 ? 3 : 2, .shape = {size, size, 3}, .data = c.image},
                                 {.dtype = MS_NPY_U8, .ndim = 2, .shape = {size, size}, .data = c.labels}};
                st = ms_npz_write(path, names, arr, 2, 1, &e);
            }
            if (!st && preview) {
                snprintf(path, sizeof path, "%s/%s.png", pdir, name);
                st = write_preview(path, &c, &e);
            }
            int n = snprintf(rows[k], sizeof rows[k], "%s,%s,%d,", name, ms_synth_modality_name(c.modality), c.nlabels);
            for (int l = 1; l <= c.nlabels && n < (int)sizeof rows[k]; l++)
                n += snprintf(rows[k] + n, sizeof rows[k] - n, "%s%s:%.3f", l > 1 ? ";" : "", ms_synth_kind_name(c.kind[l]),
                              c.contrast[l]);
            ms_synth_free(&c);
        }
#pragma omp critical(synth_progress)
        {
            if (st && !failed) failed = 1, first = e;
            done++;
            if (!failed && (done == count || (tty ? done % 50 == 0 : done % (count / 10 > 0 ? count / 10 : 1) == 0)))
                fprintf(stderr, tty ? "\rmedsam synth: %ld / %ld" : "medsam synth: %ld / %ld\n", done, count);
        }
    }
    if (!failed && tty) fputc('\n', stderr);
    if (failed) {
        free(rows);
        return cli_fail(&first);
    }
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/cases.csv", out);
    ms_atomic_file af;
    medsam_error e = {0};
    if (ms_atomic_open(&af, csv, &e)) {
        free(rows);
        return cli_fail(&e);
    }
    fputs("name,modality,labels,kind:contrast\n", af.fp);
    for (long k = 0; k < count; k++) fprintf(af.fp, "%s\n", rows[k]);
    free(rows);
    if (ms_atomic_commit(&af, &e)) return cli_fail(&e);
    return 0;
}
