"""Where and how tensors are computed: device, precision, micro-batching, attention kernels.

One code path serves CPU and CUDA. A `Runtime` travels inside the `Scale` (so process-pool
workers and store keys see it) and is resolved once, by the CLI, from `--device auto|cpu|cuda`
and `--precision fp32|bf16`. Training keeps fp32 master weights and AdamW state at either
precision; bf16 is autocast around the forward pass only (early Pythia checkpoints underflow
in fp16, so fp16 is not offered).

What changes results goes into store keys, and only when it differs from the CPU default, so
every run stored before this module existed keeps its key: device, precision, micro-batch
size (exact up to float rounding, not to the bit), attention kernel, cross-entropy chunk, and
the CPU thread count of a training run or attribution (a weight gradient over a `tiny` step's
4,096 tokens is summed in per-thread parts, so 1 and 2 threads differ in the last bits;
docs/determinism.md). Threads are pinned to `threads` (default 1) whatever `--jobs` is, so the
same command gives the same bits on a 2-core laptop and a 64-core server.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace

import torch

from .errors import MdaError
from .store import KEY_OMITS_DEFAULT

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
ATTENTION = ("eager", "sdpa")


@dataclass(frozen=True)
class Runtime:
    """How a run computes; the default is the CPU setting every committed report used."""

    device: str = "cpu"  # "cpu" or "cuda" once resolved
    precision: str = "fp32"
    micro_batch: int = 0  # rows per forward/backward pass; 0 = the whole step at once
    attention: str = "eager"  # kernel of heads whose pattern is not read ("sdpa" on CUDA)
    ce_chunk: int = 0  # positions per cross-entropy chunk (recomputed in backward); 0 = whole row
    # CPU threads of one training run or attribution (1 on CUDA); out of keys and config
    # hashes at 1, so those made before the field existed stay as they were
    threads: int = field(default=1, metadata=KEY_OMITS_DEFAULT)

    def validate(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise MdaError(f"device must be cpu or cuda after resolution, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise MdaError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.attention not in ATTENTION:
            raise MdaError(f"attention must be one of {', '.join(ATTENTION)}, got {self.attention!r}")
        if self.micro_batch < 0 or self.ce_chunk < 0:
            raise MdaError("--micro-batch and the cross-entropy chunk must be >= 0 (0 = off)")
        if self.threads < 1:
            raise MdaError(f"--threads must be >= 1, got {self.threads}")

    @property
    def is_default(self) -> bool:
        """The CPU default computation, with which every committed report was computed (at
        any thread count: threads change the last bits, not what is computed)."""
        return replace(self, threads=1) == Runtime()

    def key_part(self) -> dict:
        """What a stage's store key gets from the runtime: nothing at the CPU default (so runs
        stored before the device layer keep their keys), else every field (`threads` only off
        its default: the store's canonical form drops a KEY_OMITS_DEFAULT field at its default)."""
        return {} if self == Runtime() else {"runtime": self}

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def autocast(self):
        """bf16 autocast around a forward pass, or nothing at fp32."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=torch.bfloat16)


def resolve(
    device: str = "auto",
    precision: str = "fp32",
    micro_batch: int = 0,
    attention: str | None = None,
    threads: int = 1,
) -> Runtime:
    """A concrete Runtime from the CLI's choices: `auto` is CUDA where one is visible; the
    attention kernel defaults to SDPA on CUDA and eager on CPU (the committed CPU results).
    On CUDA the CPU thread count changes no result, so it stays at its default there."""
    if device not in DEVICES:
        raise MdaError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise MdaError("--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False)")
    dev = "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu"
    rt = Runtime(
        dev,
        precision,
        micro_batch,
        attention or ("sdpa" if dev == "cuda" else "eager"),
        threads=threads if dev == "cpu" else 1,
    )
    rt.validate()
    return rt


def deterministic(rt: Runtime) -> None:
    """Bit-reproducible kernels on either device. cuBLAS needs its workspace pinned before the
    first matrix product; TF32 is off so fp32 on CUDA is fp32 (and comparable with the CPU)."""
    if rt.device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)


@contextlib.contextmanager
def pinned_threads(rt: Runtime):
    """Run the body on `rt.threads` CPU threads, then restore the caller's count. On CUDA the
    count is left alone: the GPU does the sums, the CPU only feeds it."""
    if rt.device != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(rt.threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_threads(rt: Runtime, manifest: dict, what: str) -> None:
    """Refuse a stored CPU run whose recorded thread count is not the one its key stands for:
    a store written before threads were pinned (`--jobs 1` trained on every core) holds such
    runs under today's keys, and reusing them would mix bits of two computations."""
    got = manifest.get("torch_threads")
    if rt.device == "cpu" and got is not None and got != rt.threads:
        raise MdaError(
            f"{what} was computed on {got} CPU threads but its key means {rt.threads} "
            f"(stored before threads were pinned): remove it from the store, or pass --threads {got}"
        )


def facts(rt: Runtime) -> dict:
    """What a manifest records besides seeds: the runtime and the library build."""
    out = {"device": rt.device, "precision": rt.precision, "torch": torch.__version__}
    if rt.micro_batch:
        out["micro_batch"] = rt.micro_batch
    if rt.device == "cuda":
        out["device_name"] = torch.cuda.get_device_name()
        out["cuda"] = torch.version.cuda
    return out
