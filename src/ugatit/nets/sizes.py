"""Input sizes the generators accept, kept in one place for the networks, the config checks and
translate: a generator added later with other limits changes them here."""

SIZE_MULTIPLE = 4  # every generator here downsamples twice with stride 2 (U-GAT-IT, CycleGAN)
MIN_SIZE = 8  # U-GAT-IT's smallest input side
