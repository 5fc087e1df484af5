"""ShareLoRA: low-rank adapters on attention projections with matrices shared across layers.

A LoRA adapter adds ``scaling * B @ A`` to a frozen weight ``W`` (``A``: rank x in,
``B``: out x rank). ShareLoRA shares one of them across every layer, per projection:

- ``sharea`` (default): one ``A`` per projection (query / key / value) for all layers,
  ``B`` per layer;
- ``shareb``: one ``B`` per projection, ``A`` per layer;
- ``shareab``: both shared, so every layer gets the same update per projection;
- ``lora``: plain per-layer LoRA through ``peft``, the baseline.

Shared matrices are single ``nn.Parameter`` objects held by the adapter; every wrapped layer
reads the very same tensor (same storage), so a gradient step updates all layers at once.
Adapters merge into the base weights for inference (``merge``) and come back out
(``unmerge``); their tensors are exported by ``state_dict`` for safetensors files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from perception.commonsense.errors import AdapterMismatchError

VARIANTS: tuple[str, ...] = ("sharea", "shareb", "shareab", "lora")
BERT_TARGETS: tuple[str, ...] = ("query", "key", "value")
DECODER_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj")


@dataclass(frozen=True)
class AdapterSpec:
    """What to adapt and how: variant, rank, ``alpha`` (scaling = alpha / rank), target names.

    ``scope`` is an optional regular expression a module's full name must match (e.g. only
    the language model of a vision-language checkpoint).
    """

    variant: str = "sharea"
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = BERT_TARGETS
    scope: str | None = None

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"adapter variant must be one of {list(VARIANTS)}, got {self.variant!r}")
        if self.rank < 1:
            raise ValueError(f"adapter rank must be >= 1, got {self.rank}")

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


def find_targets(model: nn.Module, spec: AdapterSpec) -> dict[str, list[tuple[int, str, nn.Linear]]]:
    """Target linears grouped by projection: ``{target: [(layer_index, full_name, module)]}``."""
    scope = re.compile(spec.scope) if spec.scope else None
    groups: dict[str, list[tuple[int, str, nn.Linear]]] = {t: [] for t in spec.targets}
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf not in groups or not isinstance(module, nn.Linear):
            continue
        if scope is not None and not scope.search(name):
            continue
        digits = [int(p) for p in name.split(".") if p.isdigit()]
        groups[leaf].append((digits[-1] if digits else 0, name, module))
    missing = [t for t, found in groups.items() if not found]
    if missing:
        raise AdapterMismatchError(f"the model has no linear layers named {missing} (scope={spec.scope!r})")
    return groups


class ShareLoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a low-rank update whose A and B live in a shared bank."""

    def __init__(self, base: nn.Linear, bank: nn.ParameterDict, a_key: str, b_key: str, scaling: float) -> None:
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        # The bank is shared by every wrapped layer; keep it out of this module's own
        # parameters so state dicts and optimisers see each shared tensor exactly once.
        object.__setattr__(self, "_bank", bank)
        self.a_key, self.b_key = a_key, b_key
        self.scaling = scaling
        self.merged = False

    @property
    def lora_A(self) -> nn.Parameter:
        return self._bank[self.a_key]

    @property
    def lora_B(self) -> nn.Parameter:
        return self._bank[self.b_key]

    @property
    def weight(self) -> torch.Tensor:  # some callers read the wrapped layer's weight
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def delta(self) -> torch.Tensor:
        """The weight update ``scaling * B @ A`` (out x in)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        a = self.lora_A.to(x.dtype)
        b = self.lora_B.to(x.dtype)
        return out + F.linear(F.linear(x, a), b) * self.scaling


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, module)


class TextAdapter:
    """Common face of the four variants: trainable tensors, counts, merge, state dict."""

    spec: AdapterSpec

    def parameters(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def merge(self) -> None:
        raise NotImplementedError

    def unmerge(self) -> None:
        raise NotImplementedError


def _check_tensors(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], what: str) -> None:
    missing = sorted(set(expected) - set(given))
    extra = sorted(set(given) - set(expected))
    if missing or extra:
        raise AdapterMismatchError(
            f"{what}: adapter tensors do not match the model (missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
            f"unexpected {extra[:4]}{'...' if len(extra) > 4 else ''})"
        )
    for key, ref in expected.items():
        if tuple(given[key].shape) != tuple(ref.shape):
            raise AdapterMismatchError(
                f"{what}: tensor {key!r} has shape {tuple(given[key].shape)}, the model expects {tuple(ref.shape)}"
            )


class ShareLoRA(TextAdapter):
    """The shared-matrix variants (``sharea``, ``shareb``, ``shareab``), written for s2mat."""

    def __init__(self, model: nn.Module, spec: AdapterSpec, seed: int | None = None) -> None:
        if spec.variant == "lora":
            raise ValueError("use PeftLoRA for the plain per-layer baseline")
        self.spec = spec
        self.bank = nn.ParameterDict()
        self.layers: dict[str, ShareLoRALinear] = {}
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        share_a = spec.variant in ("sharea", "shareab")
        share_b = spec.variant in ("shareb", "shareab")
        for target, found in find_targets(model, spec).items():
            shapes = {tuple(m.weight.shape) for _, _, m in found}
            if len(shapes) != 1 and (share_a or share_b):
                in_dims = {s[1] for s in shapes}
                out_dims = {s[0] for s in shapes}
                if (share_a and len(in_dims) > 1) or (share_b and len(out_dims) > 1):
                    raise AdapterMismatchError(f"cannot share {target} adapters: layers have shapes {sorted(shapes)}")
            for layer, name, module in found:
                out_dim, in_dim = module.weight.shape
                a_key = f"{target}_A" if share_a else f"{target}_A_l{layer}"
                b_key = f"{target}_B" if share_b else f"{target}_B_l{layer}"
                if a_key not in self.bank:
                    a = torch.empty(spec.rank, in_dim)
                    bound = 1.0 / math.sqrt(in_dim)  # kaiming-uniform bound with a = sqrt(5)
                    a.uniform_(-bound, bound, generator=gen)
                    self.bank[a_key] = nn.Parameter(a.to(module.weight.dtype))
                if b_key not in self.bank:
                    self.bank[b_key] = nn.Parameter(torch.zeros(out_dim, spec.rank, dtype=module.weight.dtype))
                wrapped = ShareLoRALinear(module, self.bank, a_key, b_key, spec.scaling)
                _set_submodule(model, name, wrapped)
                self.layers[name] = wrapped

    def parameters(self) -> list[nn.Parameter]:
        return list(self.bank.values())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone().contiguous() for k, v in self.bank.items()}

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        _check_tensors(dict(self.bank.items()), tensors, f"{self.spec.variant} rank {self.spec.rank}")
        if any(layer.merged for layer in self.layers.values()):
            raise RuntimeError("unmerge the adapter before loading new tensors")
        with torch.no_grad():
            for key, param in self.bank.items():
                param.copy_(tensors[key].to(param.dtype))

    @torch.no_grad()
    def merge(self) -> None:
        for layer in self.layers.values():
            if not layer.merged:
                layer.base.weight += layer.delta().to(layer.base.weight.dtype)
                layer.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        for layer in self.layers.values():
            if layer.merged:
                layer.base.weight -= layer.delta().to(layer.base.weight.dtype)
                layer.merged = False


class PeftLoRA(TextAdapter):
    """Plain per-layer LoRA on the same targets, injected by ``peft`` (the baseline)."""

    def __init__(self, model: nn.Module, spec: AdapterSpec, seed: int | None = None) -> None:
        from peft import LoraConfig, inject_adapter_in_model
        from peft.tuners.lora import LoraLayer

        self.spec = spec
        names = [name for found in find_targets(model, spec).values() for _, name, _ in found]
        if seed is not None:
            torch.manual_seed(seed)
        config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=0.0, bias="none",
                            target_modules=names)
        inject_adapter_in_model(config, model)
        self.model = model
        self.layers = {n: m for n, m in model.named_modules() if isinstance(m, LoraLayer)}
        self._params = {n.replace(".", "/"): p for n, p in model.named_parameters() if "lora_" in n}
        for p in self._params.values():
            p.requires_grad_(True)

    def parameters(self) -> list[nn.Parameter]:
        return list(self._params.values())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone().contiguous() for k, v in self._params.items()}

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        _check_tensors(self._params, tensors, f"lora rank {self.spec.rank}")
        with torch.no_grad():
            for key, param in self._params.items():
                param.copy_(tensors[key].to(param.dtype))

    def merge(self) -> None:
        for layer in self.layers.values():
            if not layer.merged:
                layer.merge()

    def unmerge(self) -> None:
        for layer in self.layers.values():
            if layer.merged:
                layer.unmerge()


def attach_adapter(model: nn.Module, spec: AdapterSpec, seed: int | None = None) -> TextAdapter:
    """Wrap ``model``'s target projections in place with the adapter ``spec`` describes."""
    model.requires_grad_(False)
    if spec.variant == "lora":
        return PeftLoRA(model, spec, seed=seed)
    return ShareLoRA(model, spec, seed=seed)


def count_parameters(params: Iterable[nn.Parameter]) -> int:
    """Number of scalars in distinct tensors (a shared tensor counts once)."""
    seen: dict[int, int] = {}
    for p in params:
        seen[id(p)] = p.numel()
    return sum(seen.values())
