"""The span model as a torch module: the packaged encoder with the shipped layers and span head laid over it.

What the PyTorch backend (:mod:`.torch`) runs and what the OpenVINO backend (:mod:`.openvino`) converts, once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelError

__all__ = ["span_model"]


def span_model(base: Path, tensors: dict[str, Any]) -> Any:
    """A torch module (input_ids, attention_mask) → (batch, tokens, 2) start and end logits."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    encoder = AutoModel.from_pretrained(str(base), local_files_only=True)
    layers = {name: tensor.float() for name, tensor in tensors.items() if name.startswith("encoder.")}
    expected = {name for name in encoder.state_dict() if name.startswith("encoder.")}
    if expected - set(layers):
        raise ModelError(f"the reader's weights lack {sorted(expected - set(layers))[:3]}")
    encoder.load_state_dict(layers, strict=False)
    head = torch.nn.Linear(encoder.config.hidden_size, 2)
    head.load_state_dict({"weight": tensors["head.weight"].float(), "bias": tensors["head.bias"].float()})

    class SpanModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.head = encoder, head

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.head(hidden)

    return SpanModel().eval()
