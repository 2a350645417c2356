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

/* --pipeline NAME: 0 when NAME is a pipeline, else prints a usage error and returns 2. */
int cli_pipeline_arg(const char *name);
/* Loads a model and applies --pipeline (NULL or "auto": the model's own);
 * prints the error and returns 1 on failure (cli_model.c). */
int cli_load_model(const char *path, const char *pipeline, medsam_model **out);
/* -m absent (*model NULL): points *model at the bundled default model (buf holds the
 * path: $MEDSAM_DEFAULT_MODEL, else models/medsam-small.safetensors next to the binary
 * or in ../share/medsam/) after checking its SHA-256; prints one line naming the file
 * and how to rebuild it and returns 1 when it is missing or corrupt (default_model.c). */
int cli_default_model(const char **model, char *buf, size_t n);
/* Checks a model file against the SHA-256 in the .sha256 file beside it (same rules). */
int cli_default_model_verify(const char *model);
/* Models kept loaded across the cases of `medsam segment --batch` (cmd_batch.c): one slot,
 * keyed by path, --pipeline and --precision. */
typedef struct cli_models cli_models;
cli_models *cli_models_new(void);
void cli_models_free(cli_models *keep); /* frees the kept model too */
/* Loads `path` with --pipeline and --precision applied (cli_load_model, cli_set_precision);
 * with `keep` (not NULL) a model already kept under the same key is returned as it is.
 * Returns 0, or prints the error and returns 1. */
int cli_model_open(cli_models *keep, const char *path, const char *pipeline, const char *precision, int verbose,
                   medsam_model **out);
/* The counterpart of cli_model_open: frees m unless `keep` holds it. */
void cli_model_close(cli_models *keep, medsam_model *m);

/* --box-zoom K: 0 and *out set when K is a number in [0, 100] (0: off), else prints the usage error and returns 2. */
int cli_box_zoom_arg(const char *s, double *out);
/* Applies --box-zoom (k < 0: not given, the model file's own) to a loaded model. */
void cli_set_box_zoom(medsam_model *m, double k);

/* --precision NAME: 0 when valid, else prints the usage error and returns 2. */
int cli_precision_arg(const char *name);
/* Applies --precision (NULL: fp32) to a loaded model; -v says which bf16 kernel runs. 0 or 1 (message printed). */
int cli_set_precision(medsam_model *m, const char *path, const char *precision, int verbose);

int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_segment(int argc, char **argv);
/* `medsam segment` with a model cache (NULL: none); cmd_segment and the batch rows run it. */
int cli_segment(int argc, char **argv, cli_models *keep);
/* `medsam segment --batch LIST.csv | DIR` (cmd_batch.c). */
int cmd_segment_batch(int argc, char **argv);
/* 1 when argv holds --batch. */
int cli_segment_is_batch(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_baseline(int argc, char **argv);

#endif
