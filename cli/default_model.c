/* default_model.c — the bundled default model used when -m is absent:
 * models/medsam-small.safetensors, found through $MEDSAM_DEFAULT_MODEL, next to
 * the binary (build/medsam -> ../models/, the source tree) or in the installed
 * share directory (bin/medsam -> ../share/medsam/), and checked against the
 * SHA-256 in the .sha256 file beside it before it is loaded. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/sha256.h"

#define DEFAULT_NAME "medsam-small"
#define REBUILD "rebuild it with `make default-model` (in the source tree) or pass -m MODEL"

static int exists(const char *path) { return access(path, R_OK) == 0; }

/* The directory of the running binary, "" when /proc/self/exe is unreadable. */
static void exe_dir(char *dir, size_t n) {
    ssize_t k = readlink("/proc/self/exe", dir, n - 1);
    dir[k > 0 ? k : 0] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else dir[0] = 0;
}

/* X.safetensors -> X.sha256 (any other name: NAME.sha256). */
static void checksum_path(const char *model, char *out, size_t n) {
    size_t len = strlen(model), k = strlen(".safetensors");
    if (len > k && !strcmp(model + len - k, ".safetensors")) len -= k;
    snprintf(out, n, "%.*s.sha256", (int)len, model);
}

/* Reads the first 64 hex digits of a sha256sum-style line; 0 when there are none. */
static int read_checksum(const char *path, char hex[65]) {
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    int n = 0, c;
    while (n < 64 && (c = fgetc(fp)) != EOF) {
        if (c >= 'A' && c <= 'F') c += 'a' - 'A';
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) break;
        hex[n++] = (char)c;
    }
    fclose(fp);
    hex[n] = 0;
    return n == 64;
}

int cli_default_model_verify(const char *model) {
    char sumfile[4200], want[65], got[65];
    medsam_error err;
    checksum_path(model, sumfile, sizeof sumfile);
    if (!exists(model)) return cli_failf("%s: the default model is missing: " REBUILD, model);
    if (!read_checksum(sumfile, want))
        return cli_failf("%s: its checksum file %s is missing or holds no SHA-256: " REBUILD, model, sumfile);
    if (ms_sha256_file(model, got, &err)) return cli_failf("%s: " REBUILD, err.message);
    if (strcmp(want, got))
        return cli_failf("%s: SHA-256 %.12s... does not match %s (%.12s...): truncated or corrupt; " REBUILD, model,
                         got, sumfile, want);
    return 0;
}

int cli_default_model(const char **model, char *buf, size_t n) {
    if (*model) return 0;
    const char *env = getenv("MEDSAM_DEFAULT_MODEL");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
    } else {
        char dir[4096], parent[4096];
        exe_dir(dir, sizeof dir);
        snprintf(parent, sizeof parent, "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash) *slash = 0; /* "/x/build" -> "/x"; "/usr/bin" -> "/usr" */
        const char *const base[] = {parent, dir, parent};
        const char *const rel[] = {"models/", "models/", "share/medsam/"};
        int found = 0;
        for (int i = 0; i < 3 && !found; i++) {
            snprintf(buf, n, "%s/%s" DEFAULT_NAME ".safetensors", base[i], rel[i]);
            found = exists(buf);
        }
        if (!found) /* name the source-tree location, where `make default-model` writes it */
            snprintf(buf, n, "%s/models/" DEFAULT_NAME ".safetensors", parent);
    }
    *model = buf;
    return cli_default_model_verify(buf);
}
