# medsam.c build. `make` builds build/libmedsam.a and build/medsam;
# `make test` builds and runs every tests/test_*.c; `make asan-test` does the
# same under AddressSanitizer + UBSan (leak checking in the unit tests; the CLI
# scripts run without it, because LeakSanitizer's tracer crashes under this
# sandbox's ptrace restrictions; they were checked with valgrind by hand); `make bench`
# runs the benchmarks.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -Iinclude -Isrc
LDLIBS  += -lpng -ljpeg -lopenjp2 -lcharls -lz -lm -fopenmp
CFLAGS  += -I/usr/include/openjpeg-2.5  # DICOM JPEG 2000 (libopenjp2-7-dev)
# `medsam serve` (src/serve/, linked into the command, not into libmedsam)
SERVE_LIBS ?= -lpthread  # libmicrohttpd is loaded by `medsam serve` at run time (src/serve/mhd.h)

# Optional: `make MPI=1` builds everything into build-mpi/ with mpicc and
# -DMEDSAM_MPI, adding cli/mpi/*.c (data-parallel `medsam train`, see
# cli/train_dist.h). Debian: libopenmpi-dev openmpi-bin. The default build needs no MPI.
ifeq ($(MPI),1)
CC      = mpicc
BUILD   = build-mpi
CFLAGS  += -DMEDSAM_MPI
MPI_SRC := $(sort $(wildcard cli/mpi/*.c))
endif

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/serve/*'))
SERVE_SRC := $(sort $(wildcard src/serve/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c)) $(MPI_SRC)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SERVE_OBJ := $(SERVE_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
DEPS     := $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SERVE_OBJ:.o=.d)
# The web page (web/) compiled into the server's archive as byte arrays for `medsam serve`.
WEB_SRC  := $(sort $(wildcard web/*.html web/*.js web/*.css))
SERVE_OBJ += $(BUILD)/obj/gen/web_assets.o

.PHONY: all test asan-test test-noavx2 test-mpi bench bench-train bench-serve bench-lite bench-memory bench-bf16 bench-batch clean
all: $(BUILD)/libmedsam.a $(BUILD)/medsam

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/web_assets.c: $(WEB_SRC) tools/embed_assets.sh
	@mkdir -p $(dir $@)
	sh tools/embed_assets.sh $(WEB_SRC) >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmedsam.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmedsam_serve.a: $(SERVE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/medsam: $(CLI_OBJ) $(BUILD)/libmedsam_serve.a $(BUILD)/libmedsam.a
	$(CC) $(CFLAGS) $^ -o $@ $(SERVE_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libmedsam_serve.a $(BUILD)/libmedsam.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< $(BUILD)/libmedsam_serve.a $(BUILD)/libmedsam.a -o $@ $(SERVE_LIBS) $(LDLIBS)

test: $(TEST_BIN) $(BUILD)/medsam
	@BUILD=$(BUILD) sh tests/run_tests.sh $(TEST_BIN)

asan-test:
	$(MAKE) BUILD=build-asan CC=clang OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDLIBS="-lpng -ljpeg -lopenjp2 -lcharls -lz -lm -fopenmp -fsanitize=address,undefined" \
	    CLI_ASAN_OPTIONS=detect_leaks=0 test

# The portable (non-AVX2) code paths: the same tests on an emulated CPU without
# AVX/AVX2/FMA (qemu-user's Nehalem), where run-time dispatch picks the plain C kernels.
# test_lite_e2e (LiteMedSAM end to end, dozens of 256x256 TinyViT encodes) takes more than ten minutes under
# emulation; its portable kernels are covered by test_tinyvit, test_resize_area and test_lite_pipeline here.
NOAVX2_SKIP := $(BUILD)/tests/test_lite_e2e
test-noavx2: $(filter-out $(NOAVX2_SKIP),$(TEST_BIN)) $(BUILD)/medsam
	@BUILD=$(BUILD) TEST_WRAPPER="qemu-x86_64 -cpu Nehalem" sh tests/run_tests.sh $(filter-out $(NOAVX2_SKIP),$(TEST_BIN))

# Data parallelism over MPI (needs Debian's libopenmpi-dev and openmpi-bin):
# builds build-mpi/ with `make MPI=1` and checks 2 processes x batch 1 = 1 x batch 2.
test-mpi:
	sh tests/mpi_train.sh && sh tests/mpi_batch.sh

bench: all
	sh bench/run.sh

# ViT-B training step (forward + backward + AdamW, batch 1 at 1024) beside PyTorch's.
bench-train: all
	sh bench/train.sh

# `medsam serve` under load: 32 clients, box requests on a cached embedding (p50 / p99, RSS).
bench-serve: all
	sh bench/serve_load.sh

# LiteMedSAM's TinyViT encoder at 256x256 (random full-size weights in memory; no PyTorch, no checkpoint).
bench-lite: all
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_lite.c $(BUILD)/libmedsam.a \
	    -lpng -ljpeg -lz -lm -o $(BUILD)/bench/bench_lite
	$(BUILD)/bench/bench_lite --threads $${BENCH_THREADS:-1,2} --reps $${BENCH_REPS:-5}

# Peak RSS of `medsam segment` on a 16000^2 PNG, a 512x512x600 CT and a 1024^3 NIfTI of zeros
# (issue 16; heavy: minutes and GBs, see bench/memory.sh and README "Memory").
bench-memory: all
	sh bench/memory.sh

# The bundled default model, trained from scratch on `medsam synth` data (tools/default_model/build.sh,
# docs/default-model.md): hours on 2 cores, resumable after a kill, STAGES=N epochs per call.
.PHONY: default-model
default-model: $(BUILD)/medsam
	MEDSAM=$(BUILD)/medsam W=$(BUILD)/default-model sh tools/default_model/build.sh
# --precision bf16 beside fp32 in one process: dot-product peaks, one GEMM per bf16 path, the encoder
# alternated rep by rep (BF16_MODEL: a ViT checkpoint, default a random ViT-B from `medsam init`).
# `medsam segment --batch` cases/min on 1 process x 1 and 2 threads and 2 MPI processes.
bench-batch: all
	BUILD=$(BUILD) sh bench/batch.sh

bench-bf16: all
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_bf16.c $(BUILD)/libmedsam.a \
	    $(LDLIBS) -o $(BUILD)/bench/bench_bf16
	@[ -n "$(BF16_MODEL)" ] || [ -f $(BUILD)/bench/vit_b_seed0.pth ] || \
	    $(BUILD)/medsam init --arch vit_b --seed 0 -o $(BUILD)/bench/vit_b_seed0.pth
	$(BUILD)/bench/bench_bf16 -m $${BF16_MODEL:-$(BUILD)/bench/vit_b_seed0.pth} -i tests/fixtures/images/medsam_demo.png \
	    --threads $${BENCH_THREADS:-2} --reps $${BENCH_REPS:-3}

clean:
	rm -rf build build-asan build-mpi

# shared library, make install / uninstall / install-python
include mk/install.mk

-include $(DEPS)
