#!/bin/sh
# The sam pipeline on a full-size random ViT-B against the official SamPredictor, one image.
#
#   SAM_REF_DIR=/path/to/segment-anything sh tools/ref/check_sam_vit_b.sh [WORKDIR] [IMAGE_NAME]
#
# (needs Debian's python3-torch and python3-torchvision; SAM_REF_DIR holds
# facebookresearch/segment-anything). Takes a few minutes on 2 cores:
# 1. `medsam init --arch vit_b --seed 0` writes a random ViT-B in the official format (375 MB);
# 2. tools/ref/make_sam_pipeline_fixtures.py loads it into the official modules and runs
#    SamPredictor.set_image + predict (box, point, points, points + box, mask input, multimask)
#    on tests/fixtures/images/IMAGE_NAME.png (default chelsea);
# 3. build/tests/test_sam_pipeline compares (MS_SAM_FIX / MS_SAM_MODEL / MS_SAM_IMAGE): encoder
#    input bit for bit, embedding, logits and IoU relative L2, masks pixel for pixel.
set -eu
cd "$(dirname "$0")/../.."
W=${1:-/tmp/sam_vit_b}
NAME=${2:-chelsea}
mkdir -p "$W"
make -s build/medsam build/tests/test_sam_pipeline
[ -f "$W/model.pth" ] || build/medsam init --arch vit_b --seed 0 -o "$W/model.pth"
nice -n 5 /usr/bin/python3 tools/ref/make_sam_pipeline_fixtures.py --model "$W/model.pth" --arch vit_b \
    --image "tests/fixtures/images/$NAME.png" --out "$W"
MS_SAM_FIX="$W" MS_SAM_MODEL="$W/model.pth" MS_SAM_IMAGE="$NAME" nice -n 5 build/tests/test_sam_pipeline
