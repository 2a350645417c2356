#!/usr/bin/python3
"""tools/default_model/plot_loss.py RUN/log.csv [RUN2/log.csv] OUT.png — the loss curve of a `medsam train`
run: training loss per step (thin) and its 50-step running mean, per-epoch validation loss (dots); a second
run (the box-zoom fine-tuning, started from the end of the first) continues it on the same step axis, its
validation losses in another colour (they are measured in the box-zoom view). matplotlib (Debian:
python3-matplotlib), Agg backend, fixed size and DPI so reruns match."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

logs, out = sys.argv[1:-1], sys.argv[-1]
steps, loss, val = [], [], []  # val: one (steps, losses) per run
offset = 0
for log in logs:
    vs, vl = [], []
    with open(log) as f:
        for row in csv.DictReader(f):
            if row["kind"] == "step":
                steps.append(offset + int(row["global_step"]))
                loss.append(float(row["loss"]))
            elif row["kind"] == "val":
                vs.append(offset + int(row["global_step"]))
                vl.append(float(row["loss"]))
    val.append((vs, vl))
    offset = steps[-1] if steps else offset
vsteps = [x for v in val for x in v[0]]
k = 50
mean = [sum(loss[max(0, i - k + 1):i + 1]) / (i + 1 - max(0, i - k + 1)) for i in range(len(loss))]
plt.rcParams["svg.hashsalt"] = "medsam"
fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
ax.plot(steps, loss, lw=0.4, color="#9ab", label="training loss (Dice + BCE), per step")
ax.plot(steps, mean, lw=1.5, color="#246", label=f"running mean over {k} steps")
ax.plot(val[0][0], val[0][1], "o-", color="#c42", label="validation loss (picks the checkpoint)")
if len(val) > 1:
    ax.plot(val[1][0], val[1][1], "s-", color="#d80", label="box-zoom fine-tuning: validation loss, box-zoom view")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_title("medsam-small on synthetic data (medsam train)")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(out, metadata={"Software": None})
print(f"{out}: {len(steps)} steps, {len(vsteps)} validations")
