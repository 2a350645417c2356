/* precision.c — the encoder's precision (fp32 | bf16) on a loaded model (see medsam.h). */
#include <string.h>

#include "api/model_internal.h"
#include "core/error.h"
#include "model/image_encoder.h"
#include "ops/gemm_bf16.h"

medsam_status medsam_model_set_precision(medsam_model *m, medsam_precision p, medsam_error *err) {
    if (p != MEDSAM_PRECISION_FP32 && p != MEDSAM_PRECISION_BF16)
        return ms_error(err, MEDSAM_ERR_ARG, "unknown precision %d", (int)p);
    if (p == m->precision) return MEDSAM_OK;
    if (p == MEDSAM_PRECISION_FP32) {
        ms_vit_bf16_free(m->bf16);
        m->bf16 = NULL;
        if (m->enc_ops->set_bf16) {
            medsam_status st = m->enc_ops->set_bf16(&m->cfg, m->enc_state, 0, err);
            if (st) return st;
        }
        m->precision = p;
        return MEDSAM_OK;
    }
    if (m->enc_ops->set_bf16) {  // the kind converts inside its own state (TinyViT)
        medsam_status st = m->enc_ops->set_bf16(&m->cfg, m->enc_state, 1, err);
        if (st) return st;
        m->precision = p;
        return MEDSAM_OK;
    }
    if (m->cfg.encoder != MS_ENC_VIT)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "--precision bf16: not supported for the %s encoder",
                        m->enc_ops->family);
    ms_vit_bf16 *lp = ms_vit_bf16_make(&m->cfg, &m->w.enc, GEMM_BF16_AUTO, err);
    if (!lp) return err ? err->code : MEDSAM_ERR_NOMEM;
    m->bf16 = lp;
    m->precision = p;
    return MEDSAM_OK;
}

medsam_precision medsam_model_get_precision(const medsam_model *m) { return m->precision; }

medsam_status medsam_precision_parse(const char *name, medsam_precision *out, medsam_error *err) {
    if (name && !strcmp(name, "fp32")) *out = MEDSAM_PRECISION_FP32;
    else if (name && !strcmp(name, "bf16")) *out = MEDSAM_PRECISION_BF16;
    else return ms_error(err, MEDSAM_ERR_ARG, "precision must be fp32 or bf16, got '%s'", name ? name : "(null)");
    return MEDSAM_OK;
}

const char *medsam_precision_name(medsam_precision p) {
    return p == MEDSAM_PRECISION_FP32 ? "fp32" : p == MEDSAM_PRECISION_BF16 ? "bf16" : "?";
}

const char *medsam_bf16_kernel(void) { return gemm_bf16_path_name(GEMM_BF16_AUTO); }
