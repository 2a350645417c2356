/* dicom_write.h — a small DICOM writer: a data set is built as a tree of
 * elements (any order; sorted by tag when written), sequences of items, and
 * written as a Part 10 file in explicit VR little endian (1.2.840.10008.1.2.1)
 * with defined lengths everywhere, through an atomic temp file + rename.
 * Text values are padded to even length (UI with NUL, others with a space).
 * Allocation failures are sticky: the first one is reported by dw_write_file.
 * New UIDs: dw_new_uid gives "2.25." + the decimal value of a random
 * (version 4) UUID, the root ITU-T X.667 / PS3.5 B.2 reserve for UUID-derived
 * UIDs, so no registered root is needed. */
#ifndef MS_IO_DICOM_WRITE_H
#define MS_IO_DICOM_WRITE_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

typedef struct dw_ds dw_ds;

dw_ds *dw_new(void);
void dw_free(dw_ds *ds);

/* Text value (AE AS CS DA DS DT IS LO LT PN SH ST TM UI UT ...): `s` as given. */
void dw_text(dw_ds *ds, uint32_t tag, const char *vr, const char *s);
/* Decimal strings (DS, backslash-separated) of n numbers, each within 16 characters. */
void dw_ds_values(dw_ds *ds, uint32_t tag, const double *v, int n);
void dw_is(dw_ds *ds, uint32_t tag, long v);
void dw_us(dw_ds *ds, uint32_t tag, uint16_t v);
void dw_ul(dw_ds *ds, uint32_t tag, const uint32_t *v, int n);
void dw_at(dw_ds *ds, uint32_t tag, uint32_t value_tag);
/* Binary value (OB, OW, ...); the bytes are copied, padded with a 0 to even length. */
void dw_bytes(dw_ds *ds, uint32_t tag, const char *vr, const void *p, size_t n);
/* Appends a new (empty) item to sequence `tag` of ds (created when absent); NULL after an allocation failure. */
dw_ds *dw_item(dw_ds *ds, uint32_t tag);
/* A code sequence item: Code Value, Coding Scheme Designator, Code Meaning. */
void dw_code(dw_ds *ds, uint32_t tag, const char *value, const char *scheme, const char *meaning);

/* Writes preamble, file meta information (group length, version, SOP class and
 * instance from the data set, transfer syntax, implementation UID/version)
 * and the data set. Nothing is left at `path` on failure. */
medsam_status dw_write_file(const dw_ds *ds, const char *sop_class, const char *sop_instance, const char *path,
                            medsam_error *err);

/* "2.25.<decimal UUID>" into out (at least 64 bytes). */
medsam_status dw_new_uid(char out[65], medsam_error *err);

#define DW_IMPLEMENTATION_UID "2.25.217625695624728010534103764719713316226" /* medsam.c, fixed (UUID-derived) */
#define DW_IMPLEMENTATION_VERSION "MEDSAM_C_1"

#endif
