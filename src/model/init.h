/* init.h — random initialisation of a whole SAM/MedSAM model exactly as the
 * official modules initialise themselves when built without a checkpoint
 * (what `sam_model_registry["vit_b"]()` holds after torch.manual_seed(seed)),
 * and `medsam init`'s checkpoint writer.
 *
 * PyTorch's default init per layer type, as the parameter table names them:
 *   nn.Linear / nn.Conv2d / nn.ConvTranspose2d weight: kaiming_uniform_(a=sqrt(5)),
 *       i.e. U(-b, b) with b = sqrt(3) * sqrt(2 / (1 + 5)) / sqrt(fan_in) = 1/sqrt(fan_in),
 *       fan_in = shape[1] * kernel area (for ConvTranspose2d shape[1] is out/groups);
 *   their bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in;
 *   nn.Embedding weight, PositionEmbeddingRandom's gaussian matrix: N(0, 1);
 *   nn.LayerNorm / LayerNorm2d: weight 1, bias 0;
 *   pos_embed and rel_pos_{h,w}: 0.
 * Random draws are consumed in the order the official constructors run, which
 * is the parameter table's (state_dict) order; the values then match
 * torch.manual_seed(seed) + building the model bit for bit (core/rng.h says on
 * which CPUs PyTorch itself gives those bits). */
#ifndef MS_MODEL_INIT_H
#define MS_MODEL_INIT_H
#include <stdint.h>

#include "medsam.h"
#include "model/config.h"
#include "model/params.h"

typedef enum {
    MS_INIT_ZEROS,   /* pos_embed, rel_pos, LayerNorm bias */
    MS_INIT_ONES,    /* LayerNorm weight */
    MS_INIT_NORMAL,  /* Embedding weight, PE gaussian matrix: N(0, 1) */
    MS_INIT_KAIMING, /* Linear/Conv/ConvTranspose weight: U(-bound, bound) */
    MS_INIT_BIAS,    /* Linear/Conv/ConvTranspose bias: U(-bound, bound) */
} ms_init_kind;

/* How parameter i of the table is initialised; *bound receives the uniform bound
 * (0 for the other kinds). Returns -1 for a name this module does not know. */
int ms_init_kind_of(const ms_param_table *table, int i, ms_init_kind *kind, double *bound);

/* Fills params (table->total floats, table order) as the official modules do
 * after torch.manual_seed(seed). */
medsam_status ms_init_params(const ms_param_table *table, uint64_t seed, float *params, medsam_error *err);

/* `medsam init`: writes a random-initialised checkpoint of architecture `arch`
 * ("vit_b", "vit_l", "vit_h", "tiny") to path: a torch.save zip holding an
 * OrderedDict with the official key names, shapes and order, written atomically. */
medsam_status ms_init_save(const char *arch, uint64_t seed, const char *path, medsam_error *err);

#endif
