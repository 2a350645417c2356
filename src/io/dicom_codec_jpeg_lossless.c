/* dicom_codec_jpeg_lossless.c — JPEG lossless, process 14 (ITU T.81 H), the
 * syntaxes 1.2.840.10008.1.2.4.57 (any predictor) and .70 (selection value 1),
 * written here because Debian's libjpeg-turbo 2.1 has no lossless decoder.
 *
 * Supported: SOF3 (Huffman, non-hierarchical), 2..16-bit precision, 1..4
 * components without sub-sampling, interleaved or one scan per component,
 * predictors 1..7, point transform Pt, restart markers (DRI) at whole lines,
 * SSSS 16 (difference 32768). Reconstruction is modulo 2^16 (H.1.2.1), the
 * output is the reconstructed value << Pt. Every read is bounded by the
 * segment and the frame; a stream that ends early is refused (a few missing
 * bits at the very end are read as zeros, as libjpeg does). Refused: other
 * SOF types (arithmetic, hierarchical, DCT) with their name, sub-sampling.
 * ref: ITU-T T.81 Annex H (H.1.2 prediction, F.2.2.1 difference coding);
 * pydicom 2.3 gdcm_handler.py decodes these with GDCM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/dicom_codec.h"

#define LL_MAX_COMP 4

typedef struct {
    int defined;
    int maxcode[18], valptr[17], mincode[17];
    uint8_t vals[256];
    int nvals;
} ll_huff;

typedef struct {
    const uint8_t *p;
    size_t n, at;
    uint32_t bits; /* bit buffer, `nbits` valid low bits */
    int nbits;
    int marker;    /* a marker was met in the entropy-coded data: zeros follow */
    int missing;   /* bytes read as zeros past the data */
} ll_bits;

typedef struct {
    int id, table, h, v, pt;
} ll_comp;

static int ll_byte(ll_bits *b) {
    if (b->marker || b->at >= b->n) {
        b->missing++;
        return 0;
    }
    uint8_t c = b->p[b->at];
    if (c == 0xFF) {
        uint8_t next = b->at + 1 < b->n ? b->p[b->at + 1] : 0xD9;
        if (next == 0x00) {
            b->at += 2;
            return 0xFF;
        }
        b->marker = 1; /* not consumed: the caller handles RSTn / EOI */
        b->missing++;
        return 0;
    }
    b->at++;
    return c;
}

static inline int ll_bit(ll_bits *b) {
    if (!b->nbits) b->bits = (uint32_t)ll_byte(b), b->nbits = 8;
    return (int)(b->bits >> --b->nbits) & 1;
}

static int ll_getbits(ll_bits *b, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) v = v << 1 | ll_bit(b);
    return v;
}

/* Canonical codes (T.81 C.2) into per-length ranges; -1 on an overfull table. */
static int ll_build(ll_huff *h, const uint8_t counts[16]) {
    int code = 0, k = 0;
    for (int l = 1; l <= 16; l++) {
        h->valptr[l] = k, h->mincode[l] = code;
        code += counts[l - 1], k += counts[l - 1];
        if (code > (1 << l)) return -1;
        h->maxcode[l] = counts[l - 1] ? code - 1 : -1;
        code <<= 1;
    }
    h->defined = 1;
    return 0;
}

static int ll_decode(ll_bits *b, const ll_huff *h) {
    int code = 0;
    for (int l = 1; l <= 16; l++) {
        code = code << 1 | ll_bit(b);
        if (h->maxcode[l] >= 0 && code <= h->maxcode[l] && code >= h->mincode[l])
            return h->vals[h->valptr[l] + code - h->mincode[l]];
    }
    return -1;
}

static inline int floor_half(int x) { return x >= 0 ? x / 2 : -((1 - x) / 2); }

static uint16_t predict(int sel, int ra, int rb, int rc) {
    switch (sel) {
    case 1: return (uint16_t)ra;
    case 2: return (uint16_t)rb;
    case 3: return (uint16_t)rc;
    case 4: return (uint16_t)(ra + rb - rc);
    case 5: return (uint16_t)(ra + floor_half(rb - rc));
    case 6: return (uint16_t)(rb + floor_half(ra - rc));
    default: return (uint16_t)((ra + rb) / 2);
    }
}

static const char *sof_name(int m) {
    switch (m) {
    case 0xC0: return "baseline DCT";
    case 0xC1: return "extended DCT";
    case 0xC2: return "progressive DCT";
    case 0xC5: case 0xC6: case 0xC7: return "hierarchical";
    case 0xC9: case 0xCA: case 0xCB: return "arithmetic-coded";
    case 0xCD: case 0xCE: case 0xCF: return "hierarchical arithmetic-coded";
    }
    return "unknown";
}

typedef struct {
    const dcm_frame_spec *spec;
    int prec, ncomp, ri;
    ll_comp comp[LL_MAX_COMP];
    ll_huff huff[4];
    uint16_t *plane[LL_MAX_COMP]; /* (rows, columns) reconstructed values before << Pt */
    int done[LL_MAX_COMP];
} ll_state;

/* One scan starting at src[*at] (the entropy-coded data); *at moves past it. */
static medsam_status ll_scan(ll_state *s, const uint8_t *src, size_t n, size_t *at, const int *ci, int ns, int sel,
                             int pt, medsam_error *err) {
    const int X = s->spec->columns, Y = s->spec->rows;
    ll_bits b = {src, n, *at, 0, 0, 0, 0};
    const int P = s->prec - pt;
    const int ri = s->ri;
    if (ri && ri % X)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "restart interval %d is not a whole number of lines (%d)", ri, X);
    int first_row = 0; /* row where the current restart interval began */
    int mcus = 0, rst_expect = 0;
    for (int y = 0; y < Y; y++) {
        if (ri && y > 0 && mcus == ri) { /* restart marker: byte aligned, predictors reset */
            b.nbits = 0;
            if (b.at + 1 >= b.n || b.p[b.at] != 0xFF || b.p[b.at + 1] != (uint8_t)(0xD0 + rst_expect))
                return ms_error(err, MEDSAM_ERR_FORMAT, "restart marker RST%d missing before line %d", rst_expect, y);
            b.at += 2, b.marker = 0, mcus = 0, rst_expect = (rst_expect + 1) & 7, first_row = y;
        }
        for (int x = 0; x < X; x++) {
            for (int k = 0; k < ns; k++) {
                uint16_t *pl = s->plane[ci[k]];
                const ll_huff *h = &s->huff[s->comp[ci[k]].table];
                int t = ll_decode(&b, h);
                if (t < 0 || t > 16)
                    return ms_error(err, MEDSAM_ERR_FORMAT, "bad Huffman code at line %d column %d", y, x);
                int diff;
                if (t == 0) diff = 0;
                else if (t == 16) diff = 32768;
                else {
                    diff = ll_getbits(&b, t);
                    if (diff < (1 << (t - 1))) diff -= (1 << t) - 1;
                }
                uint16_t pred;
                size_t i = (size_t)y * (size_t)X + (size_t)x;
                if (y == first_row) pred = x == 0 ? (uint16_t)(1u << (P - 1)) : pl[i - 1];
                else if (x == 0) pred = pl[i - (size_t)X];
                else pred = predict(sel, pl[i - 1], pl[i - (size_t)X], pl[i - (size_t)X - 1]);
                pl[i] = (uint16_t)(pred + diff);
            }
            if (b.missing > 4)
                return ms_error(err, MEDSAM_ERR_FORMAT, "entropy-coded data ends early (line %d of %d)", y + 1, Y);
            if (ri) mcus++;
        }
    }
    /* step to the marker that ends the scan */
    while (b.at < b.n && !(b.p[b.at] == 0xFF && b.at + 1 < b.n && b.p[b.at + 1] != 0 && b.p[b.at + 1] != 0xFF)) b.at++;
    *at = b.at;
    for (int k = 0; k < ns; k++) s->done[ci[k]] = 1;
    return MEDSAM_OK;
}

static medsam_status ll_run(ll_state *s, const uint8_t *src, size_t n, medsam_error *err) {
    const dcm_frame_spec *spec = s->spec;
    if (n < 4 || src[0] != 0xFF || src[1] != 0xD8) return ms_error(err, MEDSAM_ERR_FORMAT, "no SOI marker");
    size_t at = 2;
    int have_sof = 0;
    for (;;) {
        while (at < n && src[at] != 0xFF) at++; /* tolerate fill bytes */
        while (at < n && src[at] == 0xFF) at++;
        if (at >= n) break;
        int m = src[at++];
        if (m == 0xD9) break;                             /* EOI */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue; /* no length */
        if (n - at < 2) return ms_error(err, MEDSAM_ERR_FORMAT, "truncated marker segment");
        size_t len = (size_t)src[at] << 8 | src[at + 1];
        if (len < 2 || len > n - at) return ms_error(err, MEDSAM_ERR_FORMAT, "marker FF%02X: length %zu past the end", m, len);
        const uint8_t *q = src + at + 2;
        size_t ql = len - 2;
        at += len;
        if (m == 0xC3) {
            if (have_sof) return ms_error(err, MEDSAM_ERR_FORMAT, "two SOF markers");
            if (ql < 6) return ms_error(err, MEDSAM_ERR_FORMAT, "short SOF3");
            s->prec = q[0];
            int Y = q[1] << 8 | q[2], X = q[3] << 8 | q[4], nf = q[5];
            if (ql < 6 + 3 * (size_t)nf) return ms_error(err, MEDSAM_ERR_FORMAT, "short SOF3");
            if (X != spec->columns || Y != spec->rows || nf != spec->samples || s->prec < 2 || s->prec > 16 ||
                (s->prec > 8) != (spec->bits_allocated > 8) || spec->bits_allocated > 16)
                return ms_error(err, MEDSAM_ERR_FORMAT,
                                "frame header says %dx%d, %d component(s) of %d bits; the data set %dx%d x %d, %d bits allocated",
                                X, Y, nf, s->prec, spec->columns, spec->rows, spec->samples, spec->bits_allocated);
            if (nf > LL_MAX_COMP) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%d components", nf);
            s->ncomp = nf;
            for (int c = 0; c < nf; c++) {
                s->comp[c].id = q[6 + 3 * c], s->comp[c].h = q[7 + 3 * c] >> 4, s->comp[c].v = q[7 + 3 * c] & 15;
                if (s->comp[c].h != 1 || s->comp[c].v != 1)
                    return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "sub-sampled lossless JPEG (component %d %dx%d)", c + 1,
                                    s->comp[c].h, s->comp[c].v);
                s->plane[c] = calloc((size_t)X * (size_t)Y, sizeof(uint16_t));
                if (!s->plane[c]) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
            }
            have_sof = 1;
        } else if ((m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                            "%s JPEG (SOF FF%02X) in a JPEG lossless syntax: only process 14 (SOF3, Huffman) is decoded",
                            sof_name(m), m);
        } else if (m == 0xC4) {
            size_t k = 0;
            while (k < ql) {
                if (ql - k < 17) return ms_error(err, MEDSAM_ERR_FORMAT, "short DHT");
                int tc = q[k] >> 4, th = q[k] & 15;
                if (tc != 0 || th > 3) return ms_error(err, MEDSAM_ERR_FORMAT, "DHT class %d table %d", tc, th);
                int total = 0;
                for (int l = 0; l < 16; l++) total += q[k + 1 + l];
                if (total > 256 || ql - k - 17 < (size_t)total) return ms_error(err, MEDSAM_ERR_FORMAT, "DHT values past its end");
                ll_huff *h = &s->huff[th];
                memcpy(h->vals, q + k + 17, (size_t)total), h->nvals = total;
                if (ll_build(h, q + k + 1)) return ms_error(err, MEDSAM_ERR_FORMAT, "overfull Huffman table %d", th);
                k += 17 + (size_t)total;
            }
        } else if (m == 0xDD) {
            if (ql < 2) return ms_error(err, MEDSAM_ERR_FORMAT, "short DRI");
            s->ri = q[0] << 8 | q[1];
        } else if (m == 0xDA) {
            if (!have_sof) return ms_error(err, MEDSAM_ERR_FORMAT, "SOS before SOF3");
            if (ql < 1) return ms_error(err, MEDSAM_ERR_FORMAT, "short SOS");
            int ns = q[0];
            if (ns < 1 || ns > s->ncomp || ql < 4 + 2 * (size_t)ns) return ms_error(err, MEDSAM_ERR_FORMAT, "bad SOS");
            int ci[LL_MAX_COMP];
            for (int k = 0; k < ns; k++) {
                int id = q[1 + 2 * k], td = q[2 + 2 * k] >> 4, c;
                for (c = 0; c < s->ncomp && s->comp[c].id != id; c++) {}
                if (c == s->ncomp || td > 3 || !s->huff[td].defined)
                    return ms_error(err, MEDSAM_ERR_FORMAT, "scan component %d: unknown component or Huffman table", id);
                for (int j = 0; j < k; j++)
                    if (ci[j] == c) return ms_error(err, MEDSAM_ERR_FORMAT, "component %d twice in a scan", id);
                s->comp[c].table = td, ci[k] = c;
            }
            int sel = q[1 + 2 * ns], pt = q[3 + 2 * ns] & 15;
            if (sel < 1 || sel > 7) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "predictor %d (1..7)", sel);
            if (pt >= s->prec) return ms_error(err, MEDSAM_ERR_FORMAT, "point transform %d with precision %d", pt, s->prec);
            medsam_status st = ll_scan(s, src, n, &at, ci, ns, sel, pt, err);
            if (st != MEDSAM_OK) return st;
            for (int k = 0; k < ns; k++) s->comp[ci[k]].pt = pt;
        }
    }
    if (!have_sof) return ms_error(err, MEDSAM_ERR_FORMAT, "no SOF3 frame header");
    for (int c = 0; c < s->ncomp; c++)
        if (!s->done[c]) return ms_error(err, MEDSAM_ERR_FORMAT, "component %d has no scan", c + 1);
    return MEDSAM_OK;
}

medsam_status dcm_decode_jpeg_lossless(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst,
                                       medsam_error *err) {
    ll_state s;
    memset(&s, 0, sizeof s);
    s.spec = spec;
    medsam_status st = ll_run(&s, src, n, err);
    if (st == MEDSAM_OK) {
        const size_t npix = (size_t)spec->rows * (size_t)spec->columns, spp = (size_t)spec->samples;
        for (size_t c = 0; c < spp; c++) {
            const uint16_t *pl = s.plane[c];
            const int pt = s.comp[c].pt;
            if (spec->bits_allocated <= 8)
                for (size_t i = 0; i < npix; i++) ((uint8_t *)dst)[i * spp + c] = (uint8_t)(pl[i] << pt);
            else
                for (size_t i = 0; i < npix; i++) ((uint16_t *)dst)[i * spp + c] = (uint16_t)(pl[i] << pt);
        }
    }
    for (int c = 0; c < LL_MAX_COMP; c++) free(s.plane[c]);
    return st;
}
