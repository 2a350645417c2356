/* batch_list.h — the cases of `medsam segment --batch`: a CSV list (header with
 * the columns input, boxes, output; other columns ignored) or a folder of CVPR24
 * npz cases (batch_list.c). cmd_batch.c runs them. */
#ifndef MS_CLI_BATCH_LIST_H
#define MS_CLI_BATCH_LIST_H

typedef enum { CASE_PENDING = 0, CASE_OK, CASE_SKIPPED, CASE_ERROR, CASE_BAD_ROW } batch_status;

typedef struct {
    int row;        /* 1-based data row of the list (the file's line number - 1) or folder entry */
    char *input;    /* resolved: relative paths are taken from the list's folder */
    char *output;   /* resolved likewise */
    char **boxes;   /* nboxes strings "x0,y0,x1,y1" or "x0,y0,z0,x1,y1,z1" (checked) */
    int nboxes, dims; /* dims 4 or 6; 0 without boxes (an npz case carrying its own) */
    char bad[256];  /* why the row cannot run ("" when it can) */
    /* results */
    batch_status status;
    double seconds;    /* wall time of the case; < 0: unknown (skipped without an earlier record) */
    char message[512]; /* the error's one line */
} batch_case;

typedef struct {
    batch_case *cases;
    int n;
} batch_list;

/* Reads a CSV list. Relative input/output paths are resolved against the list's
 * folder. Rows with a problem are kept with `bad` set (they are reported, not run).
 * Returns 0, or prints one line naming the file and returns 2 (unreadable, no
 * header with input, boxes and output, over 1,000,000 rows). */
int batch_list_read_csv(const char *path, batch_list *out);

/* Every *.npz in dir (sorted by name) as a case writing outdir/NAME.npz.
 * Returns 0, or prints one line and returns 2 (unreadable folder, no npz). */
int batch_list_read_dir(const char *dir, const char *outdir, batch_list *out);

void batch_list_free(batch_list *l);

/* 64-bit hash of the cases (paths and boxes): every MPI rank must read the same list. */
unsigned long long batch_list_hash(const batch_list *l);

#endif
