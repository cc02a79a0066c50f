"""GPT-NeoX (the Pythia architecture) from `transformers`, built from a scale's ModelConfig.

Attention is eager by default (the CPU results were computed so); SDPA may run the forward
passes that read no pattern, and `eager_attention` switches back wherever one is read.
Dropout is off (as in Pythia);
rotary on 25% of head dims, parallel residual, untied embeddings, `<|endoftext|>` = 0.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .scales import ModelConfig


class StableLayerNorm(nn.LayerNorm):
    """LayerNorm whose result does not depend on the CPU thread count.

    torch's fused CPU kernel sums the weight and bias gradients in per-thread partial sums,
    so 1 and 2 threads give gradients ~1e-9 apart and, after training, different weights.
    Normalising without the affine and applying it as plain elementwise ops moves those two
    reductions into autograd's ordinary (thread-count independent) sum. Same parameters,
    same state_dict keys, same forward values up to rounding: official checkpoints load as is.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        return y * self.weight + self.bias if self.elementwise_affine else y


def stabilise_layer_norms(model: nn.Module) -> nn.Module:
    """Swap every nn.LayerNorm of `model` for StableLayerNorm in place (parameters kept)."""
    for m in model.modules():
        if type(m) is nn.LayerNorm:
            m.__class__ = StableLayerNorm
    return model


def neox_config(cfg: ModelConfig):
    from transformers import GPTNeoXConfig

    config = GPTNeoXConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        intermediate_size=cfg.mlp_ratio * cfg.d_model,
        hidden_act="gelu",
        max_position_embeddings=cfg.ctx,
        rotary_pct=cfg.rotary_pct,
        rotary_emb_base=10000,
        layer_norm_eps=1e-5,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        initializer_range=0.02,
        bos_token_id=0,
        eos_token_id=0,
        use_cache=False,
    )
    config._attn_implementation = "eager"
    return config


def build_model(cfg: ModelConfig, init_seed: int, attention: str = "eager"):
    """A freshly initialised GPTNeoXForCausalLM; the same seed gives the same weights (on the
    CPU: the caller moves it to its device, so the init does not depend on the device)."""
    from transformers import GPTNeoXForCausalLM

    torch.manual_seed(init_seed)
    model = GPTNeoXForCausalLM(neox_config(cfg))
    model.config._attn_implementation = attention
    return stabilise_layer_norms(model)


@contextlib.contextmanager
def eager_attention(model):
    """Eager attention inside the block: patterns can only be read from the eager kernel.
    transformers looks the kernel up in the shared config on every forward pass."""
    before = model.config._attn_implementation
    model.config._attn_implementation = "eager"
    try:
        yield model
    finally:
        model.config._attn_implementation = before


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
