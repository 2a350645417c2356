/* cmd_batch.c — `medsam segment --batch LIST.csv | DIR`: many cases in one
 * process, the model loaded once (cli_models), each case run exactly as the
 * single-case command with the same options (cli_segment on a built argv), so
 * its output is the file `medsam segment` writes for it alone.
 *
 *  - a case whose output exists is skipped (outputs are written atomically, so a
 *    killed run resumes where it stopped); Ctrl-C stops after the running case;
 *  - a progress line per case with cases/min and ETA on stderr;
 *  - a per-case timing CSV (the CVPR24 challenge's efficiency.csv, plus status and
 *    message): row order of the list whatever the order of execution; a journal
 *    (EFFICIENCY.part[.rN]) keeps finished times across a kill;
 *  - a bad row is reported with its row number and the others go on; exit 1 at the end;
 *  - over MPI (`make MPI=1`, started by mpirun or --mpi) ranks take the next case from
 *    a counter on rank 0 (batch_dist.h) and rank 0 writes the merged CSV. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch_dist.h"
#include "batch_list.h"
#include "cli.h"
#include "cmd_volume.h"
#include "core/atomic_file.h"
#include "train_dist.h"

#define MAX_ARGS 600
#define MAX_RANK_JOURNALS 256 /* journals of earlier runs looked at: EFFICIENCY.part, .part.r1 .. r255 */

static const char *const STATUS[] = {"pending", "ok", "skipped", "error", "bad-row"};

/* options of `medsam segment` that take no value (everything else starting with '-' takes one) */
static int is_switch(const char *a) {
    static const char *const S[] = {"-v", "--verbose", "--mr", "--progress", "--multimask", "--mpi", "-h", "--help", NULL};
    for (int i = 0; S[i]; i++)
        if (!strcmp(a, S[i])) return 1;
    return 0;
}

/* per-case options: they come from the list, not from the command line */
static int is_per_case(const char *a) {
    static const char *const S[] = {"-i",        "--input",  "-b",     "--box",      "-B",         "--box3d",
                                    "--npz",     "--slice",  "--overlay", "--logits", "--embedding", "--scores",
                                    "--mask-input", "-p",    "--point", "--dicom-seg", "--multimask", NULL};
    for (int i = 0; S[i]; i++)
        if (!strcmp(a, S[i])) return 1;
    return 0;
}

int cli_segment_is_batch(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch")) return 1;
        if (!is_switch(argv[i]) && argv[i][0] == '-') i++; /* skip the value */
    }
    return 0;
}

typedef struct {
    const char *list, *outdir, *efficiency, *model;
    int mpi, help;
    const char *common[MAX_ARGS]; /* the options every case gets */
    int ncommon;
} batch_opts;

static int parse(int argc, char **argv, batch_opts *o) {
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { o->help = 1; return 0; }
        if (!strcmp(a, "--mpi")) { o->mpi = 1; continue; }
        if (is_per_case(a))
            return cli_failf("%s is per case: with --batch it comes from the list (see -h)", a), 2;
        if (is_switch(a) || a[0] != '-') {
            if (a[0] != '-') return cli_failf("unexpected argument '%s' (see -h)", a), 2;
            if (o->ncommon >= MAX_ARGS - 1) return cli_failf("too many options"), 2;
            o->common[o->ncommon++] = a;
            continue;
        }
        if (!val) return cli_failf("option '%s' needs a value", a), 2;
        i++;
        if (!strcmp(a, "--batch")) o->list = val;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->outdir = val;
        else if (!strcmp(a, "--efficiency")) o->efficiency = val;
        else {
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = val;
            if (o->ncommon >= MAX_ARGS - 2) return cli_failf("too many options"), 2;
            o->common[o->ncommon++] = a;
            o->common[o->ncommon++] = val;
        }
    }
    return 0;
}

static void help(void) {
    puts("usage: medsam segment --batch LIST.csv [--efficiency TIMES.csv] [options of segment]\n"
         "       medsam segment --batch DIR -o OUTDIR [--efficiency TIMES.csv] [options of segment]\n\n"
         "Runs many cases in one process, the model loaded once; each case gives exactly the\n"
         "file `medsam segment` writes for it alone. The other options (-m, --window, --mr,\n"
         "--pipeline, --precision, --threads, --max-memory, -v, ...) apply to every case.\n"
         "LIST.csv: a header naming the columns input, boxes and output (in any order; other\n"
         "columns are ignored), then one case per row; boxes is a quoted list of boxes\n"
         "separated by ';', each x0,y0,x1,y1 (2-D: -b) or x0,y0,z0,x1,y1,z1 (3-D: -B), e.g.\n"
         "  input,boxes,output\n"
         "  ct/a.nii.gz,\"120,90,14,200,170,40\",out/a_seg.nii.gz\n"
         "  xray/b.png,\"10,10,90,80;100,20,180,90\",out/b_mask.png\n"
         "  cvpr/c.npz,,out/c.npz            (empty boxes: a CVPR24 npz case, as --npz)\n"
         "Relative paths are taken from the list's folder; missing output folders are made.\n"
         "DIR: every *.npz in it is a CVPR24 case (--npz), written to OUTDIR/NAME.npz.\n\n"
         "A case whose output exists is skipped, so a killed run resumes where it stopped\n"
         "(Ctrl-C stops after the running case). Progress, cases/min and ETA go to stderr.\n"
         "--efficiency TIMES.csv: the per-case timing CSV (default OUTDIR/efficiency.csv, or\n"
         "LIST-efficiency.csv beside the list): row,case,status,seconds,message in the list's\n"
         "order; status ok, skipped (output existed; seconds from the run that wrote it when\n"
         "known), error (message: the case's one-line error) or bad-row. A bad row or a failed\n"
         "case is reported and the others go on; the exit code is then 1 (130 if interrupted).\n"
         "MPI (`make MPI=1`): under mpirun (or with --mpi) the ranks take cases from one\n"
         "shared counter and rank 0 writes the merged CSV, the same rows as one process.");
}

/* ---- timing CSV and its journal ------------------------------------------ */

/* the row number (1..n) as a case index, or -1 */
static int row_index(const batch_list *l, long row) {
    if (row >= 1 && row <= l->n && l->cases[row - 1].row == row) return (int)row - 1;
    for (int i = 0; i < l->n; i++)
        if (l->cases[i].row == row) return i;
    return -1;
}

/* Earlier times of finished cases: the rows "row,case,ok,seconds,..." of an existing
 * timing CSV and the journal lines "row,seconds" of an interrupted run; kept only
 * where the output still exists. */
static void load_times(const char *path, batch_list *l, double *times) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        long row;
        double s;
        char status[16];
        if (sscanf(line, "%ld,%*[^,],%15[^,],%lf", &row, status, &s) == 3) {
            if (strcmp(status, "ok")) continue;
        } else if (sscanf(line, "%ld,%lf", &row, &s) != 2) continue;
        int i = row_index(l, row);
        if (i >= 0 && s >= 0) times[i] = s;
    }
    fclose(f);
}

static void journal_path(char *buf, size_t n, const char *eff, int rank) {
    if (rank == 0) snprintf(buf, n, "%s.part", eff);
    else snprintf(buf, n, "%s.part.r%d", eff, rank);
}

static void csv_text(FILE *f, const char *s) { /* a CSV field, quoted when it must be */
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('"', f);
}

static int write_times(const char *path, const batch_list *l) {
    ms_atomic_file af;
    medsam_error err;
    if (ms_atomic_open(&af, path, &err)) return cli_fail(&err);
    fputs("row,case,status,seconds,message\n", af.fp);
    for (int i = 0; i < l->n; i++) {
        const batch_case *c = &l->cases[i];
        const char *base = strrchr(c->input, '/');
        fprintf(af.fp, "%d,", c->row);
        csv_text(af.fp, base ? base + 1 : c->input);
        fprintf(af.fp, ",%s,", STATUS[c->status]);
        if (c->seconds >= 0) fprintf(af.fp, "%.3f", c->seconds);
        fputc(',', af.fp);
        csv_text(af.fp, c->status == CASE_BAD_ROW ? c->bad : c->message);
        fputc('\n', af.fp);
    }
    if (ms_atomic_commit(&af, &err)) return cli_fail(&err);
    return 0;
}

/* ---- one case ------------------------------------------------------------- */

static void mkdir_parents(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        mkdir(buf, 0777); /* an existing folder is fine; a real failure shows when the case writes */
        *s = '/';
    }
}

/* Runs one case with stderr captured: the case's lines are passed on, and its last
 * line (the one-line error) is kept as the message. Returns the case's exit code. */
static int run_case(const batch_opts *o, batch_case *c, cli_models *keep) {
    const char *av[MAX_ARGS + 2 * 256 + 8];
    int ac = 0;
    av[ac++] = "segment";
    for (int i = 0; i < o->ncommon; i++) av[ac++] = o->common[i];
    av[ac++] = c->nboxes ? "-i" : "--npz";
    av[ac++] = c->input;
    av[ac++] = "-o";
    av[ac++] = c->output;
    for (int b = 0; b < c->nboxes; b++) {
        av[ac++] = c->dims == 6 ? "-B" : "-b";
        av[ac++] = c->boxes[b];
    }
    av[ac] = NULL;
    mkdir_parents(c->output);
    fflush(stderr);
    FILE *cap = tmpfile();
    int saved = cap ? dup(STDERR_FILENO) : -1;
    if (saved >= 0) dup2(fileno(cap), STDERR_FILENO);
    int rc = cli_segment(ac, (char **)av, keep);
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, STDERR_FILENO);
        close(saved);
        rewind(cap);
        char line[1024], last[1024] = "";
        while (fgets(line, sizeof line, cap)) {
            fputs(line, stderr);
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            if (line[0]) snprintf(last, sizeof last, "%s", line);
        }
        const char *msg = !strncmp(last, "medsam: ", 8) ? last + 8 : last;
        if (rc) snprintf(c->message, sizeof c->message, "%.500s", msg[0] ? msg : "failed");
    } else if (rc) {
        snprintf(c->message, sizeof c->message, "failed (exit code %d)", rc);
    }
    if (cap) fclose(cap);
    return rc;
}

static void fmt_time(char *buf, size_t n, double s) {
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* ---- the batch ------------------------------------------------------------ */

int cmd_segment_batch(int argc, char **argv) {
    batch_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    if (o.help) return help(), 0;
    if (!o.list) return cli_failf("missing --batch LIST.csv or DIR"), 2;
    struct stat sb;
    if (stat(o.list, &sb)) return cli_failf("--batch %s: %s", o.list, strerror(errno)), 2;
    const int folder = S_ISDIR(sb.st_mode);
    if (folder && !o.outdir) return cli_failf("--batch %s is a folder of npz cases: give -o OUTDIR", o.list), 2;
    if (!folder && o.outdir)
        return cli_failf("--batch %s: the outputs come from the list's output column: no -o", o.list), 2;
    char effbuf[4096];
    if (!o.efficiency) {
        if (folder) snprintf(effbuf, sizeof effbuf, "%s/efficiency.csv", o.outdir);
        else {
            size_t n = strlen(o.list);
            int csv = n > 4 && !strcmp(o.list + n - 4, ".csv");
            snprintf(effbuf, sizeof effbuf, "%.*s-efficiency.csv", (int)(csv ? n - 4 : n), o.list);
        }
        o.efficiency = effbuf;
    }
    /* the bundled default model is found and checked once, not per case */
    char defbuf[4096];
    if (!o.model) {
        if (cli_default_model(&o.model, defbuf, sizeof defbuf)) return 1;
        o.common[o.ncommon++] = "-m";
        o.common[o.ncommon++] = o.model;
    }
    if (folder && mkdir(o.outdir, 0777) && errno != EEXIST)
        return cli_failf("-o %s: cannot make the folder: %s", o.outdir, strerror(errno)), 1;

    cli_dist d;
    if ((rc = cli_dist_start(o.mpi, &d))) return rc;
    batch_list l;
    rc = folder ? batch_list_read_dir(o.list, o.outdir, &l) : batch_list_read_csv(o.list, &l);
    if (rc) {
        cli_dist_end(&d);
        return rc;
    }
#ifdef MEDSAM_MPI
    cli_mpi_counter *counter = NULL;
    if (d.world > 1) {
        medsam_error err;
        if (cli_mpi_same(d.mpi, "batch list", batch_list_hash(&l), &err) ||
            !(counter = cli_mpi_counter_new(&err))) {
            if (d.rank == 0) cli_fail(&err);
            batch_list_free(&l);
            cli_dist_end(&d);
            return 1;
        }
    }
#endif
    double *times = malloc((size_t)l.n * sizeof *times);
    if (!times) return cli_failf("out of memory"), 1;
    for (int i = 0; i < l.n; i++) times[i] = -1;
    load_times(o.efficiency, &l, times);
    char jpath[4200];
    for (int r = 0; r < MAX_RANK_JOURNALS; r++) { /* the journals of every rank of an earlier run */
        journal_path(jpath, sizeof jpath, o.efficiency, r);
        load_times(jpath, &l, times);
    }
    journal_path(jpath, sizeof jpath, o.efficiency, d.rank);
    FILE *journal = fopen(jpath, "a");
    if (!journal) fprintf(stderr, "medsam: %s: cannot write the journal (resumed runs lose earlier times)\n", jpath);

    cli_models *keep = cli_models_new();
    cli_progress prog; /* here only for Ctrl-C: the running case finishes, then the batch stops */
    cli_progress_begin(&prog, 0);
    const double t0 = cli_now();
    int ran = 0, interrupted = 0;
    char who[48] = "";
    if (d.world > 1) snprintf(who, sizeof who, " (rank %d of %d)", d.rank, d.world);
    for (long next = 0;;) {
#ifdef MEDSAM_MPI
        long i = counter ? cli_mpi_counter_next(counter) : next++;
#else
        long i = next++;
#endif
        if (i < 0 || i >= l.n) break;
        if (cli_interrupted()) { interrupted = 1; break; }
        batch_case *c = &l.cases[i];
        if (c->bad[0]) {
            c->status = CASE_BAD_ROW;
            fprintf(stderr, "medsam: --batch %s: row %d: %s (skipped)\n", o.list, c->row, c->bad);
            continue;
        }
        if (access(c->output, F_OK) == 0) {
            c->status = CASE_SKIPPED;
            c->seconds = times[i];
            fprintf(stderr, "medsam: [%ld/%d]%s %s: skipped, %s exists\n", i + 1, l.n, who, c->input, c->output);
            continue;
        }
        double t = cli_now();
        int crc = run_case(&o, c, keep);
        c->seconds = cli_now() - t;
        if (crc == 130 || cli_interrupted()) {
            c->status = crc ? CASE_PENDING : CASE_OK;
            interrupted = 1;
            if (crc) break;
        } else {
            c->status = crc ? CASE_ERROR : CASE_OK;
        }
        if (c->status == CASE_OK && journal) {
            fprintf(journal, "%d,%.3f\n", c->row, c->seconds);
            fflush(journal);
        }
        ran++;
        double per = (cli_now() - t0) / ran / d.world; /* seconds per case, all ranks together */
        char eta[32];
        fmt_time(eta, sizeof eta, per * (double)(l.n - i - 1));
        fprintf(stderr, "medsam: [%ld/%d]%s %s: %s %.2f s | %.1f cases/min, ETA %s\n", i + 1, l.n, who, c->input,
                c->status == CASE_OK ? "ok" : "FAILED", c->seconds, 60.0 / per, eta);
        if (interrupted) break;
        /* a usage error from the shared options fails every case alike: stop now */
        if (crc == 2) {
            fprintf(stderr, "medsam: --batch: stopped: the options given to every case were refused\n");
            interrupted = 2;
            break;
        }
    }
    cli_progress_end(&prog);
    if (journal) fclose(journal);
    cli_models_free(keep);
    free(times);

    /* rank 0 gathers "index\tstatus\tseconds\tmessage" of the cases each rank ran */
#ifdef MEDSAM_MPI
    if (d.world > 1) {
        size_t cap = 1024, len = 0;
        char *mine = malloc(cap), *all = NULL;
        for (int i = 0; i < l.n && mine; i++) {
            batch_case *c = &l.cases[i];
            if (c->status == CASE_PENDING) continue;
            for (char *s = c->message; *s; s++)
                if (*s == '\t' || *s == '\n') *s = ' ';
            char line[700];
            int k = snprintf(line, sizeof line, "%d\t%d\t%.6f\t%s\n", i, (int)c->status, c->seconds, c->message);
            if (len + (size_t)k + 1 > cap) {
                char *nm = realloc(mine, cap = 2 * cap + (size_t)k);
                if (!nm) { free(mine); mine = NULL; break; }
                mine = nm;
            }
            memcpy(mine + len, line, (size_t)k);
            len += (size_t)k;
        }
        medsam_error err;
        if (cli_mpi_gather_text(mine ? mine : "", mine ? len : 0, &all, &err)) cli_fail(&err);
        free(mine);
        for (char *s = all, *e; s && *s; s = e + 1) {
            e = strchr(s, '\n');
            if (!e) break;
            *e = 0;
            int idx, st;
            double sec;
            int off = 0;
            if (sscanf(s, "%d\t%d\t%lf\t%n", &idx, &st, &sec, &off) >= 3 && idx >= 0 && idx < l.n) {
                batch_case *c = &l.cases[idx];
                c->status = (batch_status)st, c->seconds = sec;
                snprintf(c->message, sizeof c->message, "%s", s + off);
            }
        }
        free(all);
        cli_mpi_counter_free(counter);
    }
#endif
    int nok = 0, nskip = 0, nerr = 0, nbad = 0, npend = 0;
    for (int i = 0; i < l.n; i++) {
        batch_status s = l.cases[i].status;
        nok += s == CASE_OK, nskip += s == CASE_SKIPPED, nerr += s == CASE_ERROR, nbad += s == CASE_BAD_ROW,
            npend += s == CASE_PENDING;
    }
    rc = 0;
    if (d.rank == 0) {
        if (write_times(o.efficiency, &l)) rc = 1;
        else if (!npend) /* complete: the CSV holds every time, the journals are done */
            for (int r = 0; r < MAX_RANK_JOURNALS; r++) journal_path(jpath, sizeof jpath, o.efficiency, r), remove(jpath);
        double wall = cli_now() - t0;
        fprintf(stderr,
                "medsam: batch: %d case(s): %d ok, %d skipped, %d failed, %d bad row(s)%s%s in %.1f s (%.1f cases/min "
                "run); times: %s\n",
                l.n, nok, nskip, nerr, nbad, npend ? ", not run: " : "", npend ? "interrupted" : "", wall,
                nok && wall > 0 ? 60.0 * nok / wall : 0.0, o.efficiency);
        if (!rc) rc = npend ? (interrupted == 2 ? 2 : 130) : (nerr || nbad) ? 1 : 0;
    }
#ifdef MEDSAM_MPI
    if (d.world > 1) rc = cli_mpi_bcast_int(rc);
#endif
    batch_list_free(&l);
    cli_dist_end(&d);
    return rc;
}
