#!/usr/bin/python3
"""tools/default_model/plot_loss.py RUN/log.csv OUT.png — the loss curve of a `medsam train` run:
training loss per step (thin) and its 50-step running mean, per-epoch validation loss (dots);
matplotlib (Debian: python3-matplotlib), Agg backend, fixed size and DPI so reruns match."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log, out = sys.argv[1:3]
steps, loss, vsteps, vloss = [], [], [], []
with open(log) as f:
    for row in csv.DictReader(f):
        if row["kind"] == "step":
            steps.append(int(row["global_step"]))
            loss.append(float(row["loss"]))
        elif row["kind"] == "val":
            vsteps.append(int(row["global_step"]))
            vloss.append(float(row["loss"]))
k = 50
mean = [sum(loss[max(0, i - k + 1):i + 1]) / (i + 1 - max(0, i - k + 1)) for i in range(len(loss))]
plt.rcParams["svg.hashsalt"] = "medsam"
fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
ax.plot(steps, loss, lw=0.4, color="#9ab", label="training loss (Dice + BCE), per step")
ax.plot(steps, mean, lw=1.5, color="#246", label=f"running mean over {k} steps")
ax.plot(vsteps, vloss, "o-", color="#c42", label="validation loss (picks the checkpoint)")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_title("medsam-small on synthetic data (medsam train)")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(out, metadata={"Software": None})
print(f"{out}: {len(steps)} steps, {len(vsteps)} validations")
