/* cli.h — shared helpers of the medsam command's subcommands. */
#ifndef MS_CLI_H
#define MS_CLI_H
#include "medsam.h"

/* Prints "medsam: <message>" on one line to stderr and returns 1. */
int cli_fail(const medsam_error *err);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a positive thread count; 0 on error. */
int cli_threads(const char *s);
/* Default thread count: the number of online CPUs. */
int cli_default_threads(void);
/* 0 for a model whose pipeline the CLI implements (MedSAM_Inference.py's: the SAM ViT
 * family); otherwise prints one line naming the checkpoint, its family and `what`
 * (LiteMedSAM's own pre/postprocessing is not implemented yet) and returns 1. */
int cli_sam_pipeline_only(const medsam_model *m, const char *model_path, const char *what);

int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_segment(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
