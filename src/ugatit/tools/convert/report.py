"""What a conversion inferred and wrote, in words, for the command's output."""

from __future__ import annotations

from ugatit.tools.convert.cut import CUT_SOURCE
from ugatit.tools.convert.reading import Conversion
from ugatit.tools.convert.ugatit_port import UGATIT_SOURCE
from ugatit.tools.convert.writing import SEED


def describe(conversion: Conversion) -> str:
    """What was inferred and written, for the command's output."""
    c, h = conversion.converted, conversion.hparams
    g, d = h["generator"], h["discriminator"]
    lines: list[str] = []
    method = "ContrastiveTranslation" if c["source"] == CUT_SOURCE else "CycleTranslation"
    if c["source"] == UGATIT_SOURCE:
        size = (
            "light mode: any image size divisible by 4"
            if g["light"]
            else (f"full mode: image size {g['img_size']}x{g['img_size']} px")
        )
        lines += [
            f"Converted U-GAT-IT (PyTorch port) checkpoint {c['files']['input']}",
            f"  generators: ngf={g['ngf']}, {g['n_res']} residual blocks, {size}, "
            f"CAM {'on' if g['use_cam'] else 'off'}",
            f"  discriminators: ndf={d['ndf']}, global {d['global_layers']} layers, "
            f"local {d['local_layers']} layers",
            "  port numerics: unbiased variance in AdaLIN/LIN, raw CAM weight in D, rho offset 0",
        ]
        if c["spectral_norm_layouts"]:
            layouts = sorted(set(c["spectral_norm_layouts"].values()))
            lines.append(f"  spectral norm layout: {', '.join(layouts)} (written as modern)")
    elif c["source"] == CUT_SOURCE:
        lines += [
            f"Converted CUT generator {c['files']['a2b']} (one-sided: a2b only)",
            f"  generator: ngf={g['ngf']}, {g['n_blocks']} residual blocks, anti-aliased "
            "(fully convolutional: any image size divisible by 4)",
            f"  discriminator: anti-aliased 70x70 PatchGAN, ndf={d['ndf']}; patch sampler: "
            f"NCE layers {h['nce']['layers']} (both freshly initialised)",
        ]
    else:
        lines += [
            "Converted CycleGAN generator(s): "
            + ", ".join(f"{k}={v}" for k, v in c["files"].items()),
            f"  generators: ngf={g['ngf']}, {g['n_blocks']} residual blocks "
            "(fully convolutional: any image size divisible by 4)",
            f"  discriminators: 70x70 PatchGAN, ndf={d['ndf']} (freshly initialised)",
        ]
        dropped = sum(c["dropped_running_stats"].values())
        if dropped:
            lines.append(f"  dropped {dropped} InstanceNorm running-statistics entries")
    lines.append(f"  directions converted: {', '.join(c['directions'])}")
    if c["initialised"]:
        lines.append(f"  freshly initialised (seed {SEED}): {', '.join(c['initialised'])}")
    lines.append(f"Wrote {conversion.output}")
    lines.append(
        f"  load: {method}.load_from_checkpoint(path); fine-tune: "
        "trainer.fit(module, datamodule, ckpt_path=path)"
    )
    return "\n".join(lines)
