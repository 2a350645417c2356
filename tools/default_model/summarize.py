#!/usr/bin/python3
"""tools/default_model/summarize.py MANIFEST MODEL_CSV BASELINE_CSV TITLE >> results.md

Markdown tables of mean Dice (DSC) and NSD (2 px) for the model and the classical baseline on
the same cases (the `medsam eval --csv` files, one object per case), per modality, per contrast
band (faint < 0.15 <= medium <= 0.6 < strong, from `medsam synth`'s cases.csv), per kind of
object, and overall, with the number of objects and how often the model beats the baseline."""
import csv
import sys
from collections import defaultdict


def read_eval(path):
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["label"] != "mean":
                out[row["case"].removesuffix(".npz")] = (float(row["dsc"]), float(row["nsd"]))
    return out


def band(c):
    if c == "":
        return "unknown"
    c = float(c)
    return "faint (< 0.15)" if c < 0.15 else "strong (> 0.6)" if c > 0.6 else "medium"


def table(title, groups, model, base):
    print(f"\n**{title}**\n")
    print("| group | objects | model DSC | baseline DSC | model NSD | baseline NSD | model better (DSC) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for g in sorted(groups):
        cases = [c for c in groups[g] if c in model and c in base]
        if not cases:
            continue
        n = len(cases)
        md = sum(model[c][0] for c in cases) / n
        bd = sum(base[c][0] for c in cases) / n
        mn = sum(model[c][1] for c in cases) / n
        bn = sum(base[c][1] for c in cases) / n
        wins = sum(model[c][0] > base[c][0] for c in cases)
        print(f"| {g} | {n} | {md:.4f} | {bd:.4f} | {mn:.4f} | {bn:.4f} | {wins}/{n} |")


def main():
    manifest, model_csv, base_csv, title = sys.argv[1:5]
    model, base = read_eval(model_csv), read_eval(base_csv)
    by_mod, by_band, by_kind, allc = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    with open(manifest) as f:
        for row in csv.DictReader(f):
            c = row["case"]
            by_mod[row["modality"] or "-"].append(c)
            by_band[band(row["contrast"])].append(c)
            by_kind[row["kind"] or "-"].append(c)
            allc["all"].append(c)
    print(f"\n### {title}")
    table("per modality", by_mod, model, base)
    table("per contrast band", by_band, model, base)
    table("per kind of object", by_kind, model, base)
    table("overall", allc, model, base)


main()
