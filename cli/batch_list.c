/* batch_list.c — see batch_list.h. CSV as RFC 4180: comma-separated fields,
 * optionally in double quotes ("" inside for a quote), CR LF or LF line ends. */
#include "batch_list.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define MAX_ROWS 1000000
#define MAX_LIST_BYTES (256L << 20)
#define MAX_ROW_BOXES 255

static char *read_all(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 1 << 16;
            if (cap > MAX_LIST_BYTES + 65536 + 1) break;
            char *nb = realloc(buf, (size_t)cap);
            if (!nb) break;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += (long)got;
        if (got < 65536) {
            int bad = ferror(f);
            fclose(f);
            if (bad) return free(buf), NULL;
            buf[n] = 0;
            *len = n;
            return buf;
        }
    }
    fclose(f);
    free(buf);
    *len = -1; /* too big or out of memory */
    return NULL;
}

/* One CSV record starting at *p: fields into f[0..max-1] (NUL-terminated in place,
 * quotes removed); returns the number of fields (fields past max are counted, not
 * kept), 0 at the end of the text, -1 for an unterminated quote. */
static int csv_record(char **p, char *end, char **f, int max) {
    char *s = *p;
    if (s >= end) return 0;
    int nf = 0;
    for (;;) {
        char *w = s, *start = s;
        if (*s == '"') {
            s++;
            for (;;) {
                if (s >= end) return -1;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') { *w++ = '"'; s += 2; continue; }
                    s++;
                    break;
                }
                *w++ = *s++;
            }
            while (s < end && *s != ',' && *s != '\n' && *s != '\r') s++; /* junk after the quote: ignored */
        } else {
            while (s < end && *s != ',' && *s != '\n' && *s != '\r') *w++ = *s++;
        }
        char sep = s < end ? *s : '\n';
        *w = 0;
        if (nf < max) f[nf] = start;
        nf++;
        if (sep == ',') { s++; continue; }
        if (sep == '\r' && s + 1 < end && s[1] == '\n') s++;
        if (s < end) s++;
        break;
    }
    *p = s;
    return nf;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

/* dir/path unless path is absolute or dir is empty */
static char *resolve(const char *dir, const char *path) {
    if (path[0] == '/' || !dir[0]) return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *r = malloc(n);
    if (r) snprintf(r, n, "%s/%s", dir, path);
    return r;
}

/* The boxes field: boxes separated by ';', each 4 or 6 comma-separated finite numbers
 * (optionally in [ ]), all of one kind; 6-number boxes hold integer slice indices at 3
 * and 6. Fills c->boxes / nboxes / dims or c->bad. */
static void parse_boxes(batch_case *c, char *field) {
    char *s = trim(field);
    if (!*s) return;
    for (char *piece = s; piece;) {
        char *semi = strchr(piece, ';');
        if (semi) *semi = 0;
        char *b = trim(piece);
        if (*b == '[') b++;
        size_t bl = strlen(b);
        if (bl && b[bl - 1] == ']') b[bl - 1] = 0;
        b = trim(b);
        if (!*b && semi) { piece = semi + 1; continue; } /* "a;;b" or a trailing ';' */
        double v[7];
        int nv = 0;
        const char *q = b;
        while (nv < 7) {
            char *e;
            v[nv] = strtod(q, &e);
            if (e == q || !isfinite(v[nv])) { nv = -1; break; }
            nv++;
            while (isspace((unsigned char)*e)) e++;
            if (!*e) break;
            if (*e != ',') { nv = -1; break; }
            q = e + 1;
        }
        if (nv != 4 && nv != 6) {
            snprintf(c->bad, sizeof c->bad, "box %d '%.60s' is not 4 numbers (x0,y0,x1,y1) or 6 (x0,y0,z0,x1,y1,z1)",
                     c->nboxes + 1, b);
            return;
        }
        if (c->dims && nv != c->dims) {
            snprintf(c->bad, sizeof c->bad, "box %d has %d numbers, box 1 has %d: one kind of box per row", c->nboxes + 1,
                     nv, c->dims);
            return;
        }
        if (nv == 6 && (v[2] != floor(v[2]) || v[5] != floor(v[5]))) {
            snprintf(c->bad, sizeof c->bad, "box %d: z0 and z1 must be slice indices, got %g and %g", c->nboxes + 1, v[2],
                     v[5]);
            return;
        }
        if (c->nboxes >= MAX_ROW_BOXES) {
            snprintf(c->bad, sizeof c->bad, "more than %d boxes", MAX_ROW_BOXES);
            return;
        }
        c->dims = nv;
        char **nb = realloc(c->boxes, (size_t)(c->nboxes + 1) * sizeof *nb);
        if (!nb || !(nb[c->nboxes] = strdup(b))) {
            if (nb) c->boxes = nb;
            snprintf(c->bad, sizeof c->bad, "out of memory");
            return;
        }
        c->boxes = nb;
        c->nboxes++;
        piece = semi ? semi + 1 : NULL;
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

int batch_list_read_csv(const char *path, batch_list *out) {
    memset(out, 0, sizeof *out);
    long len = 0;
    char *text = read_all(path, &len);
    if (!text) {
        return cli_failf("--batch %s: %s", path, len < 0 ? "larger than 256 MB" : "cannot read the list"), 2;
    }
    char dir[4096] = "";
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (slash == path) snprintf(dir, sizeof dir, "/");
    char *p = text, *end = text + len;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3; /* a UTF-8 byte order mark (spreadsheets write one) */
    char *f[64];
    int nf = csv_record(&p, end, f, 64);
    int col_in = -1, col_box = -1, col_out = -1;
    for (int i = 0; i < nf && i < 64; i++) {
        char *h = trim(f[i]);
        if (!strcasecmp(h, "input")) col_in = i;
        else if (!strcasecmp(h, "boxes")) col_box = i;
        else if (!strcasecmp(h, "output")) col_out = i;
    }
    if (nf <= 0 || col_in < 0 || col_box < 0 || col_out < 0) {
        free(text);
        return cli_failf("--batch %s: the first line must be a header naming the columns input, boxes and output", path), 2;
    }
    int maxcol = col_in > col_box ? col_in : col_box;
    if (col_out > maxcol) maxcol = col_out;
    int line = 1, rc = 0;
    for (;;) {
        nf = csv_record(&p, end, f, 64);
        if (nf == 0) break;
        line++;
        if (nf < 0) {
            rc = 2, cli_failf("--batch %s: line %d: a quoted field is not closed", path, line);
            break;
        }
        if (nf == 1 && !*trim(f[0])) continue; /* an empty line */
        if (out->n >= MAX_ROWS) {
            rc = 2, cli_failf("--batch %s: more than %d rows", path, MAX_ROWS);
            break;
        }
        batch_case *nc = realloc(out->cases, (size_t)(out->n + 1) * sizeof *nc);
        if (!nc) {
            rc = 2, cli_failf("--batch %s: out of memory", path);
            break;
        }
        out->cases = nc;
        batch_case *c = &out->cases[out->n++];
        memset(c, 0, sizeof *c);
        c->row = line - 1;
        c->seconds = -1;
        if (nf <= maxcol) {
            snprintf(c->bad, sizeof c->bad, "%d field(s), the header has %d columns", nf, maxcol + 1);
            c->input = strdup(nf > col_in ? trim(f[col_in]) : "");
            c->output = strdup("");
            continue;
        }
        const char *in = trim(f[col_in]), *o = trim(f[col_out]);
        c->input = *in ? resolve(dir, in) : strdup("");
        c->output = *o ? resolve(dir, o) : strdup("");
        if (!c->input || !c->output) snprintf(c->bad, sizeof c->bad, "out of memory");
        else if (!*in) snprintf(c->bad, sizeof c->bad, "empty input");
        else if (!*o) snprintf(c->bad, sizeof c->bad, "empty output");
        else if (!strcmp(c->input, c->output)) snprintf(c->bad, sizeof c->bad, "output is the input");
        else parse_boxes(c, f[col_box]);
        if (!c->bad[0] && !c->nboxes && !ends_with(c->input, ".npz"))
            snprintf(c->bad, sizeof c->bad, "no boxes (only a CVPR24 .npz case carries its own)");
    }
    free(text);
    if (!rc && out->n == 0) rc = 2, cli_failf("--batch %s: no cases after the header", path);
    if (rc) batch_list_free(out);
    return rc;
}

static int is_npz(const struct dirent *e) { return e->d_name[0] != '.' && ends_with(e->d_name, ".npz"); }

int batch_list_read_dir(const char *dir, const char *outdir, batch_list *out) {
    memset(out, 0, sizeof *out);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_npz, alphasort);
    if (n < 0) return cli_failf("--batch %s: cannot read the folder", dir), 2;
    int rc = 0;
    if (n == 0) rc = 2, cli_failf("--batch %s: no .npz cases in the folder", dir);
    if (!rc && !(out->cases = calloc((size_t)n, sizeof *out->cases))) rc = 2, cli_failf("out of memory");
    for (int i = 0; i < n && !rc; i++) {
        batch_case *c = &out->cases[out->n++];
        c->row = i + 1;
        c->seconds = -1;
        c->input = resolve(dir, names[i]->d_name);
        c->output = resolve(outdir, names[i]->d_name);
        if (!c->input || !c->output) rc = 2, cli_failf("out of memory");
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc) batch_list_free(out);
    return rc;
}

void batch_list_free(batch_list *l) {
    for (int i = 0; i < l->n; i++) {
        batch_case *c = &l->cases[i];
        for (int b = 0; b < c->nboxes; b++) free(c->boxes[b]);
        free(c->boxes);
        free(c->input);
        free(c->output);
    }
    free(l->cases);
    l->cases = NULL;
    l->n = 0;
}

static unsigned long long fnv(unsigned long long h, const char *s) {
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

unsigned long long batch_list_hash(const batch_list *l) {
    unsigned long long h = 1469598103934665603ULL;
    for (int i = 0; i < l->n; i++) {
        const batch_case *c = &l->cases[i];
        h = fnv(fnv(fnv(h, c->input), c->output), c->bad);
        for (int b = 0; b < c->nboxes; b++) h = fnv(h, c->boxes[b]);
    }
    return h;
}
