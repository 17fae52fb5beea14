"""Run by tests/evaluation/test_per_image.py as `python gather_worker.py RANK WORLD PORT COUNT
OUT.json`: one gloo rank scores its share of COUNT made-up per-image values and writes the
gathered values and their reduction (which every rank must agree on)."""

import json
import sys

import torch
import torch.distributed as dist

from ugatit.evaluation.per_image import GatheredValues, reduce_values, share


def values(count: int) -> dict[str, torch.Tensor]:
    """Per-image values with a NaN (a key that does not apply to image 3) and uneven numbers."""
    x = torch.arange(count, dtype=torch.float32)
    ratio = x**2 / 7
    if count > 3:
        ratio[3] = float("nan")
    return {"success": (x % 3 == 0).float(), "size_ratio": ratio}


def main() -> None:
    rank, world, port, count = (int(a) for a in sys.argv[1:5])
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    mine = share(count, rank, world)
    gathered = GatheredValues(("success", "size_ratio"))
    part = {key: value[mine] for key, value in values(count).items()}
    gathered.update(part)
    result = gathered.gathered()
    report = {
        "rank": rank,
        "mine": len(part["success"]),
        "gathered": {k: v.tolist() for k, v in result.items()},
        "scores": reduce_values(result, medians=("size_ratio",)),
    }
    with open(sys.argv[5], "w") as f:
        json.dump(report, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
