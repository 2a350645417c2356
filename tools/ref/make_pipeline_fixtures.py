"""End-to-end fixtures: the official MedSAM_Inference.py pipeline (through
tools/ref/medsam_reference.py) on real images with the tiny fixture model.

    /usr/bin/python3 tools/ref/make_pipeline_fixtures.py

Writes tests/fixtures/pipeline/<case>/{embedding,logits}.npy, mask.png and
boxes.txt (one "x0,y0,x1,y1" per line); tests/test_pipeline.c checks them.
"""
import os
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, "../.."))
imgs = os.path.join(root, "tests/fixtures/images")
out_root = os.path.join(root, "tests/fixtures/pipeline")
model = os.path.join(root, "tests/fixtures/tiny/model.pth")

# case name, image, boxes (pixel coordinates of the original image)
CASES = [
    ("camera", "camera.png", ["100,80,400,420"]),                 # grey 512x512, smaller than 1024 target? (tiny: 128)
    ("cell", "cell.png", ["50,60,500,600"]),                      # grey 550x660, non-square
    ("chelsea", "chelsea.png", ["120,40,330,280"]),               # RGB 451x300, non-square
    ("retina", "retina.jpg", ["300,300,1100,1100"]),              # RGB JPEG 1411x1411, larger than 1024
    ("horse", "horse.png", ["20,30,380,300"]),                    # RGBA 400x328: alpha dropped
    ("demo", "medsam_demo.png", ["95,255,190,350", "250,200,400,330", "0,0,512,512"]),  # MedSAM's demo, 3 boxes
]

for name, img, boxes in CASES:
    out = os.path.join(out_root, name)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, os.path.join(here, "medsam_reference.py"), "--checkpoint", model, "--arch", "tiny",
           "--image", os.path.join(imgs, img), "--out", tmp]
    for b in boxes:
        cmd += ["--box", b]
    subprocess.run(cmd, check=True)
    os.remove(os.path.join(tmp, "input.npy"))
    with open(os.path.join(tmp, "boxes.txt"), "w") as f:
        f.write(img + "\n" + "\n".join(boxes) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
