"""Training on several processes under ``torchrun``: DistributedDataParallel (gloo on CPU, NCCL on GPUs).

``torchrun --nproc_per_node N -m core.train …`` starts N copies of the CLI; each reads its place from the
environment torchrun sets (WORLD_SIZE, RANK, LOCAL_RANK). ``--batch-size`` stays the global batch: every
global batch of the single-process order is cut into N equal slices, one per process, and the loss is scaled
so that DDP's averaged gradient equals the single-process one. A plain ``python -m core.train`` runs alone
(``SOLO``) and touches nothing here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from core.errors import ConfigError
from core.models.autoencoders import Autoencoder


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes; world 1 is the single-process run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The one process that saves, prints and writes the progress file."""
        return self.rank == 0

    @classmethod
    def current(cls) -> Group:
        """The group ``launched`` joined, or SOLO outside torchrun."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return SOLO
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def device(self, device: torch.device) -> torch.device:
        """Each process on a machine takes its own GPU."""
        return torch.device("cuda", self.local_rank) if device.type == "cuda" and self.world > 1 else device

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise ConfigError(f"--batch-size {batch_size} must divide evenly among the {self.world} processes")

    def part(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's slice of one global batch of indices (all of it when alone)."""
        n = len(batch)
        return batch if self.world == 1 else batch[self.rank * n // self.world : (self.rank + 1) * n // self.world]

    def wrap(self, model: Autoencoder) -> Callable:
        """``model.loss`` as the loop calls it; under torchrun through DDP, which averages the gradients."""
        if self.world == 1:
            return model.loss
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if next(model.parameters()).device.type == "cuda" else None
        if ids:  # a GPU draws its noise from the global CUDA generator: one stream per process, not N copies
            torch.cuda.manual_seed(torch.initial_seed() * 997 + self.rank)
        ddp = DistributedDataParallel(_Loss(model), device_ids=ids)
        return lambda x, generator=None: ddp(x, generator)

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the processes (the epoch's loss sums for the progress line)."""
        if self.world == 1:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return t.tolist()

    def share(self, values: tuple[float, float, float]) -> tuple[float, float, float]:
        """The main process's values on every process (the validation loss decides "auto" everywhere alike)."""
        if self.world == 1:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        dist.broadcast(t, src=0)
        a, b, c = t.tolist()
        return a, b, c

    def _comm_device(self) -> torch.device:
        import torch.distributed as dist

        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


SOLO = Group()


class _Loss(torch.nn.Module):
    """The model's loss as a forward pass: DDP synchronises gradients only through ``forward``."""

    def __init__(self, model: Autoencoder):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        return self.model.loss(x, generator)


def under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """False on every torchrun process but rank 0 (they print nothing)."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def launched(cuda: bool) -> Iterator[Group]:
    """Join torchrun's process group for the block (NCCL on GPUs, gloo on the CPU); SOLO without torchrun."""
    if not under_torchrun():
        yield SOLO
        return
    import torch.distributed as dist

    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield Group.current()
        dist.barrier()  # rank 0 saves last: the others wait for it before the group goes
    finally:
        dist.destroy_process_group()
