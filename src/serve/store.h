/* store.h — what the server holds between requests: uploaded images and
 * volumes (sessions, by id), the bounded LRU cache of embeddings, the
 * bounded encode queue with its single worker thread, and 3-D propagation
 * jobs. Every computation goes through the public API (medsam.h); nothing
 * numeric lives here. Thread-safe: one mutex guards the tables, the encoder
 * runs without it, decodes run in the callers' threads. */
#ifndef MS_SERVE_STORE_H
#define MS_SERVE_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"
#include "serve/request.h"

typedef struct ms_store ms_store;

typedef struct {
    int threads;          /* encoder threads */
    long long cache_bytes;/* embedding cache bound */
    int queue_max;        /* encodes + jobs waiting or running; 0 refuses every encode (429) */
    int max_sessions;
    int decode_slots;     /* decodes running at once (bounds their memory); others wait their turn */
    const char *tmpdir;   /* private (0700) folder for uploads and results */
    unsigned long long max_extract; /* bytes a zip upload may unpack to */
    long long max_memory;       /* per upload: decoded-size budget of the readers (medsam_budget; 0: default) */
    long long max_memory_total; /* all held volumes together (decoded + normalised bytes); 0: max_memory */
} ms_store_opts;

medsam_status ms_store_create(const medsam_model *model, const ms_store_opts *o, ms_store **out, medsam_error *err);
void ms_store_free(ms_store *s); /* stops the worker, frees everything */

typedef struct ms_session ms_session;

/* What the page needs to show an image (the JSON of POST /api/images). */
typedef struct {
    char id[MS_SERVE_ID_LEN + 1];
    int is_volume;
    int width, height, depth;
    double spacing[3];
    double level, width_w;  /* default display window, in the values' units */
    char format[16];        /* "png", "jpeg", "bmp", "npy", "nifti", "dicom", "npz" */
    char modality[17];
} ms_session_info;

/* Store outcome codes beyond medsam_status: the HTTP layer maps them. */
typedef enum { MS_STORE_OK = 0, MS_STORE_BAD = 400, MS_STORE_NOT_FOUND = 404, MS_STORE_CONFLICT = 409,
               MS_STORE_TOO_LARGE = 413, MS_STORE_UNREADABLE = 415, MS_STORE_QUEUE_FULL = 429, MS_STORE_BUSY = 503, MS_STORE_FAILED = 500 } ms_store_code;

/* Takes ownership of the uploaded file at `path` (removes it, or keeps it as
 * the image's file): reads it by content, normalises a volume's intensities
 * (`window`: NULL for automatic, else a medsam_intensity_parse spec), and
 * for a 2-D image queues its encode. 415 when it is no image medsam reads. */
ms_store_code ms_store_add(ms_store *s, const char *path, const char *window, ms_session_info *info, medsam_error *err);

/* Looks up a session and holds it (NULL when unknown); release with ms_session_put. */
ms_session *ms_session_get(ms_store *s, const char *id);
void ms_session_put(ms_store *s, ms_session *ss);
void ms_session_get_info(const ms_session *ss, ms_session_info *info);
ms_store_code ms_store_delete(ms_store *s, const char *id);

/* Display data of slice z: a 2-D image's file bytes (mime "image/png", ...) or
 * a volume slice's float32 values (ny, nx), little-endian; *out is malloc'ed. */
ms_store_code ms_session_slice(ms_session *ss, int z, void **out, size_t *len, const char **mime, medsam_error *err);

/* Segments 2-D boxes on slice z (0 for 2-D images) exactly as `medsam
 * segment` does for the same input (0 / 255 with one box, k for box k with
 * several) and returns the PNG file bytes. *encoded says whether an encode ran. */
ms_store_code ms_session_segment(ms_store *s, ms_session *ss, const ms_segment_req *req, void **png, size_t *len,
                                 int *encoded, medsam_error *err);

/* The label map a page sends back (w*h*d bytes) as a PNG (2-D) or a gzipped
 * NIfTI on the input's grid (volumes); *name is the suggested file name. */
ms_store_code ms_session_labels_file(ms_store *s, ms_session *ss, const uint8_t *labels, size_t n, void **out,
                                     size_t *len, const char **mime, medsam_error *err);

/* ---- 3-D propagation jobs ---- */
ms_store_code ms_store_job_start(ms_store *s, ms_session *ss, const ms_segment_req *req, char *job_id, medsam_error *err);

typedef struct {
    const char *state; /* "queued", "running", "done", "failed", "cancelled" */
    int done, total;
    char image[MS_SERVE_ID_LEN + 1];
    char error[512];
} ms_job_status;
ms_store_code ms_store_job_status(ms_store *s, const char *id, ms_job_status *st);
/* The finished labels: raw uint8 (nz, ny, nx) (as_nifti 0) or .nii.gz bytes (1). */
ms_store_code ms_store_job_result(ms_store *s, const char *id, int as_nifti, void **out, size_t *len, medsam_error *err);
ms_store_code ms_store_job_cancel(ms_store *s, const char *id);

/* Reads a whole small file (results written by the library) into memory. */
medsam_status ms_read_file(const char *path, size_t max, void **out, size_t *len, medsam_error *err);

#endif
