"""Import of official checkpoints into this project's Lightning checkpoint format.

Three sources:

- U-GAT-IT PyTorch port: the dict its ``save()`` writes (state dicts ``genA2B, genB2A, disGA,
  disGB, disLA, disLB``), or one holding only generators. Key names equal this project's (see
  :mod:`ugatit.nets.ugatit`); only the containers are renamed and spectral-norm layouts normalised.
- CUT / FastCUT: the official generator (``latest_net_G.pth``), one direction.
- CycleGAN: official generator state dicts (``latest_net_G_A.pth``, ``horse2zebra.pth``), whose
  ``model.N`` keys equal :class:`ugatit.nets.cyclegan.ResnetGenerator`'s.

The architecture is inferred from the weights' shapes, the module is built from those settings
(with the port's numerics for U-GAT-IT: unbiased variance, raw CAM weight in D, rho offset 0) and
the paper's training hparams, the weights are loaded strictly, and a checkpoint is written that
the method class's ``load_from_checkpoint`` loads and ``trainer.fit(ckpt_path=...)`` resumes from
(fresh Adam state, iteration 0). Files are read with ``weights_only=True`` only: a downloaded
pickle could otherwise run arbitrary code.

One module per job: reading (safe loading and checks), spectral_norm, one importer per source
(ugatit_port, cyclegan, cut), writing (building the module, the checkpoint file) and report.
"""

from ugatit.tools.convert.cut import convert_cut
from ugatit.tools.convert.cyclegan import convert_cyclegan
from ugatit.tools.convert.reading import Conversion, ConversionError
from ugatit.tools.convert.report import describe
from ugatit.tools.convert.spectral_norm import normalise_spectral_norm
from ugatit.tools.convert.ugatit_port import convert_ugatit

__all__ = [
    "Conversion",
    "ConversionError",
    "convert_cut",
    "convert_cyclegan",
    "convert_ugatit",
    "describe",
    "normalise_spectral_norm",
]
