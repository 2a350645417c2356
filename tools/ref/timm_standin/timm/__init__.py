"""Stand-in for the three `timm` helpers tiny_vit_sam.py imports (timm is not in
Debian). Our own code; behaviour as timm's for what LiteMedSAM uses at inference."""
