/* medsam.h — public C API of libmedsam: MedSAM / SAM box-prompted segmentation.
 *
 * Every function returns a medsam_status and, when `err` is not NULL, fills it
 * with a one-line message on failure. Nothing in the library calls exit() or
 * keeps global mutable state; one loaded model may be used from several
 * threads at once (the model is read-only after loading).
 */
#ifndef MEDSAM_H
#define MEDSAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MEDSAM_OK = 0,
    MEDSAM_ERR_IO,          /* file missing, unreadable, short read, write failed */
    MEDSAM_ERR_FORMAT,      /* malformed or truncated file */
    MEDSAM_ERR_UNSAFE,      /* pickle names a global outside the allow list */
    MEDSAM_ERR_SHAPE,       /* tensor or array has the wrong shape / dtype */
    MEDSAM_ERR_ARG,         /* bad argument (box outside image, x1 <= x0, ...) */
    MEDSAM_ERR_NOMEM,       /* allocation failed or size over a limit */
    MEDSAM_ERR_UNSUPPORTED, /* valid input that this build cannot handle */
    MEDSAM_ERR_NUMERIC,     /* NaN or Inf where finite values are required */
} medsam_status;

typedef struct {
    medsam_status code;
    char message[512];
} medsam_error;

const char *medsam_status_name(medsam_status s);

#ifdef __cplusplus
}
#endif
#endif
