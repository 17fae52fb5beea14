"""Input sizes the generators accept, kept in one place for the networks, the config checks and
translate: a generator added later with other limits changes them here."""

SIZE_MULTIPLE = 4  # every generator here downsamples twice with stride 2 (U-GAT-IT, CycleGAN)
MIN_SIZE = 8  # U-GAT-IT's smallest input side
# U-GAT-IT's full generator at the paper's defaults (ngf 64, 4 blocks, 256 px), the largest
# network of the three papers: what a setting read from a file is measured against
PAPER_GENERATOR_PARAMETERS = 278_959_808
