"""Per-head model surgery: cut one attention head out of GPT-NeoX's fused projections.

kronfluence tracks whole `nn.Linear` modules, and GPT-NeoX fuses every head's Q, K and V into
`query_key_value` and every head's output into `dense`. `split_head` swaps one layer's
attention for `SplitAttention`, where the target head owns three Linears (`qk`: Q and K as one
block as in the paper, `v`, and `o`, its slice of the output projection without bias) and the
other heads stay fused in `rest_qkv` / `rest_o`. The function is exact: logits match the
original model (tested to 1e-5), so influence on the split model is influence on the original.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _head_rows(h: int, hs: int) -> tuple[slice, slice]:
    """Rows of head h's [q; k] and v in `query_key_value` (packed as [q_h k_h v_h] per head)."""
    base = 3 * hs * h
    return slice(base, base + 2 * hs), slice(base + 2 * hs, base + 3 * hs)


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


class SplitAttention(nn.Module):
    """A GPT-NeoX attention layer with head `head` held in its own modules.

    The target head's attention pattern of the last forward pass is kept in `last_pattern`
    ([batch, q, k], part of the autograd graph) so a probe can differentiate through it.
    """

    def __init__(self, attn: nn.Module, head: int, n_heads: int):
        super().__init__()
        hs = attn.head_size
        self.head, self.n_heads, self.head_size = head, n_heads, hs
        self.rotary_ndims = attn.rotary_ndims
        self.scaling = attn.scaling
        self.config = attn.config
        self.layer_idx = attn.layer_idx
        w, b = attn.query_key_value.weight.detach(), attn.query_key_value.bias
        b = None if b is None else b.detach()
        qk, v = _head_rows(head, hs)
        self.qk = _linear(w[qk], None if b is None else b[qk])
        self.v = _linear(w[v], None if b is None else b[v])
        others = [g for g in range(n_heads) if g != head]
        rest_rows = (
            torch.cat([torch.arange(3 * hs * g, 3 * hs * (g + 1)) for g in others]) if others else None
        )
        self.rest_qkv = _linear(w[rest_rows], None if b is None else b[rest_rows]) if others else None
        dw, db = attn.dense.weight.detach(), attn.dense.bias
        cols = slice(hs * head, hs * (head + 1))
        self.o = _linear(dw[:, cols], None)
        if others:
            rest_cols = torch.cat([torch.arange(hs * g, hs * (g + 1)) for g in others])
            self.rest_o = _linear(dw[:, rest_cols], None if db is None else db.detach())
            self.o_bias = None
        else:
            self.rest_o = None
            self.o_bias = None if db is None else nn.Parameter(db.detach().clone())
        self.last_pattern: torch.Tensor | None = None

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v as [batch, heads, seq, head_size] in the original head order."""
        hs, bsz, seq = self.head_size, x.shape[0], x.shape[1]
        qk = self.qk(x).view(bsz, seq, 1, 2 * hs)
        target = torch.cat([qk, self.v(x).view(bsz, seq, 1, hs)], dim=-1)
        if self.rest_qkv is None:
            qkv = target
        else:
            rest = self.rest_qkv(x).view(bsz, seq, self.n_heads - 1, 3 * hs)
            qkv = torch.cat([rest[:, :, : self.head], target, rest[:, :, self.head :]], dim=2)
        qkv = qkv.transpose(1, 2)
        return qkv[..., :hs], qkv[..., hs : 2 * hs], qkv[..., 2 * hs :]

    def forward(self, hidden_states, attention_mask=None, position_embeddings=None, **kwargs):
        from transformers.models.gpt_neox.modeling_gpt_neox import apply_rotary_pos_emb

        bsz, seq = hidden_states.shape[:2]
        q, k, v = self._qkv(hidden_states)
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        if attention_mask is not None and attention_mask.dtype == torch.bool:  # SDPA's mask: True = keep
            scores = scores.masked_fill(~attention_mask[..., : k.shape[-2]], torch.finfo(scores.dtype).min)
        elif attention_mask is not None:  # eager's additive mask
            scores = scores + attention_mask[..., : k.shape[-2]]
        else:  # causal mask by hand when the model passes none
            causal = torch.ones(seq, seq, dtype=torch.bool, device=q.device).tril()
            scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
        pattern = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        self.last_pattern = pattern[:, self.head]
        out = torch.matmul(pattern, v).transpose(1, 2)  # [batch, seq, heads, hs]
        y = self.o(out[:, :, self.head])
        if self.rest_o is not None:
            rest = torch.cat([out[:, :, : self.head], out[:, :, self.head + 1 :]], dim=2)
            y = y + self.rest_o(rest.reshape(bsz, seq, -1))
        elif self.o_bias is not None:
            y = y + self.o_bias
        return y, pattern


def split_head(model: nn.Module, layer: int, head: int) -> nn.Module:
    """A deep copy of a GPTNeoXForCausalLM with head (layer, head) in its own modules.

    The copy uses eager attention (a caller may set SDPA for the other layers: the split layer
    computes its pattern itself either way). Module names of the head: `split_module_names`.
    """
    n_heads = model.config.num_attention_heads
    if not (0 <= layer < model.config.num_hidden_layers and 0 <= head < n_heads):
        raise ValueError(f"no head L{layer}H{head} in a {model.config.num_hidden_layers}x{n_heads} model")
    out = copy.deepcopy(model)
    out.config._attn_implementation = "eager"
    block = out.gpt_neox.layers[layer]
    device = block.attention.query_key_value.weight.device
    block.attention = SplitAttention(block.attention, head, n_heads).to(device)
    return out


def split_module_names(layer: int, modules: tuple[str, ...] = ("qk", "v", "o")) -> list[str]:
    """kronfluence names of the split head's modules in layer `layer`."""
    return [f"gpt_neox.layers.{layer}.attention.{m}" for m in modules]
