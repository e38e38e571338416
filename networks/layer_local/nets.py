"""PyTorch implementations of the layer-local rules' networks (``rules/torch_layers/`` declares the rules and
registers the builders that make these nets).

A ``LocalNet`` splits its parameters into groups, one per local loss; ``local_losses`` returns one loss
per group that depends on that group's parameters only (every layer's input is detached). Its own draws
during training (negative labels, hybrid masks) come from ``generator`` (the family sets the run's
``"negatives"`` stream; None: torch's global generator, for nets used on their own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from biosim.torch.trainer import Hooks

if TYPE_CHECKING:
    from biosim.rules.torch_layers.forward_forward import ForwardForward


class LocalNet(nn.Module):
    """A network trained by local losses: ``groups`` of parameters, one loss each (the ``torch_layers``
    target's ``LayerStack``, ``networks/layer_local/target.py``)."""

    task = "classification"  # or "reconstruction": ``reconstruct(x)`` instead of ``predict(x)``
    generator: torch.Generator | None = None  # of the net's own draws during training, on its device

    def groups(self) -> list[list[nn.Parameter]]:
        raise NotImplementedError

    def hooks(self) -> Hooks:
        """What the trainer calls into at every step (gradient transforms, updates outside autograd): none
        for plain local losses."""
        return Hooks()

    def group_names(self) -> list[str]:
        """A label per group, for logs and plots."""
        return [f"group {g}" for g in range(len(self.groups()))]

    def local_losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, float]]:
        """One loss per group, and named statistics of this batch (e.g. goodness per layer)."""
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (batch x classes); argmax is the prediction."""
        raise NotImplementedError

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The hidden activities used for embeddings and prototypes (inference path)."""
        raise NotImplementedError


ACTIVATIONS = {"relu": F.relu, "elu": F.elu, "tanh": torch.tanh, "abs": torch.abs}


def goodness(h: torch.Tensor, how: str, direction: torch.Tensor | None = None) -> torch.Tensor:
    """Per sample: the mean or the sum of the squared activities (over units, channels and positions), or
    (``cosine``) the cosine similarity of the activities to the unit vector ``direction``."""
    if how == "cosine":
        return F.cosine_similarity(h.flatten(1), direction[None], dim=1, eps=1e-12)
    g = h.pow(2).flatten(1)
    return g.mean(dim=1) if how == "mean" else g.sum(dim=1)


def threshold_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, theta: float) -> torch.Tensor:
    """Forward-forward: softplus(theta - G+) + softplus(G- - theta), averaged over the batch."""
    return F.softplus(theta - g_pos).mean() + F.softplus(g_neg - theta).mean()


def goodness_losses(both: list[torch.Tensor], n_pos: int, goodness, loss) -> tuple[list[torch.Tensor], dict]:
    """Per layer, from its activities on [positive; negative] data (the first ``n_pos`` rows positive):
    ``loss(G+, G-)`` and the mean goodness of each (detached tensors, summed over an epoch by the trainer);
    ``goodness(h, k)`` of layer k's activities h."""
    losses, stats = [], {}
    for k, h in enumerate(both):
        g = goodness(h, k)
        g_pos, g_neg = g[:n_pos], g[n_pos:]
        losses.append(loss(g_pos, g_neg))
        stats[f"layer{k}_goodness_pos"] = g_pos.detach().mean()
        stats[f"layer{k}_goodness_neg"] = g_neg.detach().mean()
    return losses, stats


def normalise(h: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Length normalisation between layers: divide each sample by its RMS over units (and positions, for
    feature maps), so the next layer cannot read the previous layer's goodness from the norm."""
    rms = h.pow(2).flatten(1).mean(dim=1).sqrt().view(-1, *[1] * (h.dim() - 1))
    return h / (rms + eps)


class ForwardForwardNet(LocalNet):
    """An MLP (the rule's activation, ReLU for forward-forward) whose input is the data concatenated with a label
    embedding (one-hot, times max |x| for rules that ask so). With ``fronts``, each layer's input first passes a
    frozen front (a module without parameters or gradient, e.g. a physical system: ``front.width(n)`` is its
    output width for n inputs) before the layer's linear map. With cosine goodness each layer has a fixed random
    unit vector ``directions[k]`` (drawn at initialisation)."""

    def __init__(self, rule: ForwardForward, widths: list[int], n_inputs: int, n_classes: int,
                 fronts: list[nn.Module] | None = None):
        super().__init__()
        self.rule, self.n_classes = rule, n_classes
        sizes = [n_inputs + n_classes, *widths]
        self.fronts = nn.ModuleList(fronts) if fronts is not None else None
        ins = [f.width(n) for f, n in zip(fronts, sizes[:-1], strict=True)] if fronts is not None else sizes[:-1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(ins, sizes[1:], strict=True))
        self.readout = nn.Linear(sum(widths[1:] or widths), n_classes) if rule.prediction == "softmax" else None
        self.activation = ACTIVATIONS[rule.activation]
        for k, width in enumerate(widths):
            self.register_buffer(f"direction{k}", torch.full((width,), float("nan")) if rule.goodness == "cosine"
                                 else torch.zeros(0))

    def initialise_from(self, generator: torch.Generator | None) -> None:
        """The cosine goodness's fixed random unit vectors, one per layer."""
        for k in range(len(self.layers)):
            d = getattr(self, f"direction{k}", None)  # the conv net has none
            if d is not None and d.numel():
                d.copy_(F.normalize(torch.randn(d.shape, generator=generator, device=d.device), dim=0))

    def block(self, k: int, u: torch.Tensor) -> torch.Tensor:
        if self.fronts is not None:
            u = self.fronts[k](u)
        return self.activation(self.layers[k](u))

    def groups(self):
        groups = [list(layer.parameters()) for layer in self.layers]
        return groups + ([list(self.readout.parameters())] if self.readout is not None else [])

    def group_names(self):
        return _layer_names(len(self.layers), self.readout is not None)

    def embed(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """[x, one-hot(label)] (a neutral 1/C label when ``labels`` is None)."""
        if labels is None:
            onehot = torch.full((x.shape[0], self.n_classes), 1.0 / self.n_classes, device=x.device)
        else:
            onehot = F.one_hot(labels, self.n_classes).to(x.dtype)
        if self.rule.label_scale == "max":
            onehot = onehot * x.abs().amax(dim=1, keepdim=True)
        return torch.cat([x, onehot], dim=1)

    def goodness(self, h: torch.Tensor, k: int) -> torch.Tensor:
        return goodness(h, self.rule.goodness, getattr(self, f"direction{k}", None))

    def pair_loss(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        """FF's threshold loss, or SymBa's balanced softplus(-alpha (G+ - G-))."""
        if self.rule.loss == "symba":
            return F.softplus(-self.rule.alpha * (g_pos - g_neg)).mean()
        return threshold_loss(g_pos, g_neg, self.rule.theta)

    def activities(self, h: torch.Tensor, detach: bool) -> list[torch.Tensor]:
        """Each layer's output; every layer sees its normalised, detached input when training."""
        out = []
        for k in range(len(self.layers)):
            u = normalise(h) if k > 0 else h
            h = self.block(k, u.detach() if detach else u)
            out.append(h)
        return out

    def negatives(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        rule = self.rule
        if rule.negatives == "same_label":  # the negative control: nothing to contrast
            return y
        if rule.negatives == "hard":
            with torch.no_grad():
                scores = self.label_goodness(x)
                scores[torch.arange(len(y), device=y.device), y] = -torch.inf
                probs = torch.softmax(scores, dim=1)
            return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
        shift = torch.randint(1, self.n_classes, y.shape, device=y.device, generator=self.generator)
        return (y + shift) % self.n_classes

    def local_losses(self, x, y):
        # positive and negative data in one pass: every operation is per sample
        both = self.activities(self.embed(torch.cat([x, x]), torch.cat([y, self.negatives(x, y)])), detach=True)
        losses, stats = goodness_losses(both, len(x), self.goodness, self.pair_loss)
        if self.readout is not None:
            features = self.readout_features(x, detach=True)
            losses.append(F.cross_entropy(self.readout(features), y))
        return losses, stats

    def readout_features(self, x: torch.Tensor, detach: bool) -> torch.Tensor:
        hs = self.activities(self.embed(x, None), detach=True)
        used = hs[1:] or hs
        features = torch.cat([normalise(h).flatten(1) for h in used], dim=1)
        return features.detach() if detach else features

    def layer_label_goodness(self, x: torch.Tensor) -> torch.Tensor:
        """Each layer's goodness for every candidate label (layers x batch x classes)."""
        scores = []
        for c in range(self.n_classes):
            labels = torch.full((x.shape[0],), c, dtype=torch.long, device=x.device)
            hs = self.activities(self.embed(x, labels), detach=True)
            scores.append(torch.stack([self.goodness(h, k) for k, h in enumerate(hs)]))
        return torch.stack(scores, dim=2)

    def label_goodness(self, x: torch.Tensor) -> torch.Tensor:
        """Goodness accumulated over the used layers, for every candidate label (batch x classes)."""
        per_layer = self.layer_label_goodness(x)
        return (per_layer[self.rule.skip_first_layers:] if self.rule.skip_first_layers < len(per_layer)
                else per_layer).sum(dim=0)

    def epoch_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Test accuracy of each layer's goodness alone."""
        with torch.no_grad():
            per_layer = torch.cat([self.layer_label_goodness(x[k:k + 1024]) for k in range(0, len(x), 1024)], dim=1)
        return {f"layer{l}_test_accuracy": float((g.argmax(dim=1) == y).float().mean())
                for l, g in enumerate(per_layer)}

    def predict(self, x):
        if self.readout is not None:
            return self.readout(self.readout_features(x, detach=True))
        return self.label_goodness(x)

    def hidden(self, x):
        return self.activities(self.embed(x, None), detach=True)


class ForwardForwardCNNNet(ForwardForwardNet):
    """Forward-forward on conv 3x3 + ReLU + 2x2 max-pool blocks; the label enters as constant input channels
    (one-hot, or 1/C each for the neutral label); goodness is over channels and positions."""

    def __init__(self, rule: ForwardForward, channels: list[int], shape: tuple[int, ...], n_classes: int):
        LocalNet.__init__(self)
        self.rule, self.n_classes, self.shape = rule, n_classes, shape
        levels = _conv_sizes(shape, channels)
        first = [(levels[0][0] + n_classes, *levels[0][1:]), *levels[1:]]
        self.layers = nn.ModuleList(nn.Conv2d(a[0], b[0], 3, padding=1) for a, b in zip(first[:-1], first[1:],
                                                                                       strict=True))
        sizes = [c * h * w for c, h, w in levels[1:]]
        self.readout = nn.Linear(sum(sizes[1:] or sizes), n_classes) if rule.prediction == "softmax" else None

    def block(self, k: int, u: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.layers[k](u)), 2)

    def embed(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        image = _image(x, self.shape)
        if labels is None:
            maps = torch.full((len(x), self.n_classes), 1.0 / self.n_classes, device=x.device)
        else:
            maps = F.one_hot(labels, self.n_classes).to(x.dtype)
        maps = maps[:, :, None, None].expand(-1, -1, *image.shape[2:])
        return torch.cat([image, maps], dim=1)

    def hidden(self, x):
        return [h.flatten(1) for h in self.activities(self.embed(x, None), detach=True)]


class BackpropNet(LocalNet):
    def __init__(self, widths: list[int], n_inputs: int, n_classes: int, activation: str):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        sizes = [n_inputs, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.readout = nn.Linear(sizes[-1], n_classes)

    def groups(self):
        return [list(self.parameters())]

    def group_names(self):
        return ["all layers"]

    def hidden(self, x):
        out = []
        for layer in self.layers:
            x = self.act(layer(x))
            out.append(x)
        return out

    def predict(self, x):
        return self.readout(self.hidden(x)[-1])

    def local_losses(self, x, y):
        return [F.cross_entropy(self.predict(x), y)], {}


class CounterCurrentNet(LocalNet):
    """Forward net F and feedback net G (bias-free linear blocks) trained in anti-parallel pairs."""

    def __init__(self, rule, widths: list[int], n_inputs: int, n_classes: int):
        super().__init__()
        self.rule, self.n_classes = rule, n_classes
        sizes = [n_inputs, *widths]
        self.forward_layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:],
                                                                                        strict=True))
        self.readout = nn.Linear(sizes[-1], n_classes, bias=False)
        # feedback_layers[l] maps level l+1 -> level l (level 0 is the input, level L+1 the class one-hots)
        self.feedback_layers = nn.ModuleList(nn.Linear(b, a, bias=False) for a, b in zip(sizes, [*sizes[1:],
                                                                                                  n_classes],
                                                                                         strict=True))
        self.act = ACTIVATIONS[rule.activation]

    def groups(self):
        """Pair 0: G_1; pair l = 1..L: F_l and G_{l+1}; then the readout."""
        pairs = [list(self.feedback_layers[0].parameters())]
        for l, layer in enumerate(self.forward_layers, start=1):
            pairs.append(list(layer.parameters()) + list(self.feedback_layers[l].parameters()))
        return pairs + [list(self.readout.parameters())]

    def group_names(self):
        return _pair_names(len(self.forward_layers))

    def forward_path(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[x, a_1 .. a_L], each block fed its detached input."""
        acts = [x]
        for layer in self.forward_layers:
            acts.append(self.act(layer(acts[-1].detach())))
        return acts

    def feedback_path(self) -> list[torch.Tensor]:
        """[c_0 .. c_L] from the class one-hots, each block fed its detached input; c_0 has no activation."""
        c = torch.eye(self.n_classes, device=self.readout.weight.device)
        sigs = []
        for l in range(len(self.feedback_layers) - 1, -1, -1):
            out = self.feedback_layers[l](c.detach())
            c = out if l == 0 else self.act(out)
            sigs.append(c)
        return sigs[::-1]

    def local_losses(self, x, y):
        acts, sigs = self.forward_path(x), self.feedback_path()
        target = F.one_hot(y, self.n_classes).to(x.dtype)
        losses = [self.rule.loss_scale * 256.0 / a.shape[1] * F.mse_loss(a @ c.T, target)
                  for a, c in zip(acts, sigs, strict=True)]
        losses.append(F.cross_entropy(self.readout(acts[-1].detach()), y))
        return losses, {}

    def predict(self, x):
        with torch.no_grad():
            return self.readout(self.forward_path(x)[-1])

    def hidden(self, x):
        return self.forward_path(x)[1:]

    def epoch_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return prototype_accuracies(self.forward_path(x)[1:], self.feedback_path()[1:], y)


def prototype_accuracies(acts: list[torch.Tensor], sigs: list[torch.Tensor], y: torch.Tensor) -> dict[str, float]:
    """Per hidden level l: how often argmax_c a_l . c_l (F's activity against G's class prototype) is y."""
    return {f"layer{l}_prototype_accuracy": float(((a.flatten(1) @ c.flatten(1).T).argmax(dim=1) == y).float().mean())
            for l, (a, c) in enumerate(zip(acts, sigs, strict=True))}


def _layer_names(n_layers: int, readout: bool) -> list[str]:
    return [f"layer {k + 1}" for k in range(n_layers)] + (["readout"] if readout else [])


def _pair_names(n_layers: int) -> list[str]:
    """CCL groups: pair 0 trains G_1 alone; pair l trains F_l and G_{l+1}; then the readout."""
    return ["pair 0 (G1)"] + [f"pair {l} (F{l}, G{l + 1})" for l in range(1, n_layers + 1)] + ["readout"]


def hybrid_mask(shape: tuple[int, ...], batch: int, passes: int, generator=None, device=None) -> torch.Tensor:
    """Random 0/1 masks with large blobs: uniform noise blurred ``passes`` times with [1/4, 1/2, 1/4] along
    each image axis (replicated borders), thresholded at 0.5 (Hinton 2022's hybrid negatives)."""
    height, width = shape[0], shape[1] if len(shape) > 1 else 1
    m = torch.rand(batch, 1, height, width, generator=generator, device=device)
    kernel = torch.tensor([0.25, 0.5, 0.25], device=m.device)
    for _ in range(passes):
        if height > 1:
            m = F.conv2d(F.pad(m, (0, 0, 1, 1), mode="replicate"), kernel.view(1, 1, 3, 1))
        if width > 1:
            m = F.conv2d(F.pad(m, (1, 1, 0, 0), mode="replicate"), kernel.view(1, 1, 1, 3))
    return (m > 0.5).to(torch.float32).view(batch, height, width)


class UnsupervisedFFNet(LocalNet):
    """Label-free forward-forward layers plus a softmax readout on the normalised last-layer activities."""

    def __init__(self, rule, widths: list[int], n_inputs: int, n_classes: int, image_shape):
        super().__init__()
        self.rule, self.image_shape = rule, tuple(image_shape) if image_shape is not None else (n_inputs,)
        self.channels = n_inputs // (self.image_shape[0] * (self.image_shape[1] if len(self.image_shape) > 1 else 1))
        sizes = [n_inputs, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.used = list(range(max(0, len(widths) - rule.readout_layers), len(widths)))
        self.readout = nn.Linear(sum(widths[k] for k in self.used), n_classes)

    def groups(self):
        return [list(layer.parameters()) for layer in self.layers] + [list(self.readout.parameters())]

    def group_names(self):
        return _layer_names(len(self.layers), readout=True)

    def activities(self, h: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for k, layer in enumerate(self.layers):
            h = F.relu(layer((normalise(h) if k > 0 else h).detach()))
            out.append(h)
        return out

    def negatives(self, x: torch.Tensor) -> torch.Tensor:
        mask = hybrid_mask(self.image_shape[:2], len(x), self.rule.blur_passes, self.generator, x.device)
        mask = mask.view(len(x), -1).repeat_interleave(self.channels, dim=1) if self.channels > 1 else \
            mask.view(len(x), -1)
        other = x[torch.randperm(len(x), device=x.device, generator=self.generator)]
        return mask * x + (1 - mask) * other

    def goodness(self, h: torch.Tensor, k: int) -> torch.Tensor:
        return goodness(h, self.rule.goodness)

    def pair_loss(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        """FF's threshold loss; times 0 in the control (zero gradients, which Adam leaves alone)."""
        return threshold_loss(g_pos, g_neg, self.rule.theta) * (1.0 if self.rule.train_layers else 0.0)

    def local_losses(self, x, y):
        both = self.activities(torch.cat([x, self.negatives(x)]))  # real and hybrid images in one pass
        losses, stats = goodness_losses(both, len(x), self.goodness, self.pair_loss)
        losses.append(F.cross_entropy(self.readout(self.features([h[:len(x)] for h in both])), y))
        return losses, stats

    def features(self, hs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([normalise(hs[k]) for k in self.used], dim=1).detach()

    def predict(self, x):
        with torch.no_grad():
            return self.readout(self.features(self.activities(x)))

    def hidden(self, x):
        return self.activities(x)


class CounterCurrentAutoencoderNet(LocalNet):
    """CCL autoencoder (MLP form): F encodes and decodes x; G runs the mirror stack from the target image.
    Pair l compares a_l with c_l (MSE): level 0 trains G_1 alone (c_0 against x), the output level F_L
    alone (a_L against the target), the others F_l and G_{l+1}."""

    task = "reconstruction"

    def __init__(self, rule, widths: list[int], n_inputs: int):
        super().__init__()
        self.rule = rule
        sizes = [n_inputs, *widths, n_inputs]
        self.forward_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        # feedback_layers[l] maps level l+1 -> level l; level L (the output) is the target image
        self.feedback_layers = nn.ModuleList(nn.Linear(b, a) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        # batch normalisation on every hidden level of both networks (the official conv blocks have it): without
        # it, F and G agree on the trivial code a_l = c_l = 0
        self.forward_norms = nn.ModuleList(nn.BatchNorm1d(w) for w in widths)
        self.feedback_norms = nn.ModuleList(nn.BatchNorm1d(w) for w in widths)
        self.bottleneck = int(np.argmin(widths)) + 1  # the level of the narrowest code
        self.initialise_from(None)

    def initialise_from(self, generator: torch.Generator | None) -> None:
        """The official init: orthogonal weights, zero biases; decoder-forward and encoder-feedback weights
        scaled by ``init_scale`` (they start near 0)."""
        for l, (f, g) in enumerate(zip(self.forward_layers, self.feedback_layers, strict=True)):
            nn.init.orthogonal_(f.weight, generator=generator)
            nn.init.orthogonal_(g.weight, generator=generator)
            nn.init.zeros_(f.bias)
            nn.init.zeros_(g.bias)
            with torch.no_grad():
                (f if l >= self.bottleneck else g).weight.mul_(self.rule.init_scale)

    def groups(self):
        L = len(self.forward_layers)
        groups = [list(self.feedback_layers[0].parameters())]
        for l in range(1, L):  # F_l with its norm, G_{l+1} with the norm of the level it makes
            groups.append(list(self.forward_layers[l - 1].parameters()) + list(self.forward_norms[l - 1].parameters())
                          + list(self.feedback_layers[l].parameters()) + list(self.feedback_norms[l - 1].parameters()))
        return groups + [list(self.forward_layers[L - 1].parameters())]

    def forward_path(self, x: torch.Tensor) -> list[torch.Tensor]:
        acts, last = [x], len(self.forward_layers) - 1
        for l, layer in enumerate(self.forward_layers):
            out = layer(acts[-1].detach())
            acts.append(out if l == last else F.relu(self.forward_norms[l](out)))
        return acts

    def feedback_path(self, target: torch.Tensor) -> list[torch.Tensor]:
        sigs = [target]
        for l in range(len(self.feedback_layers) - 1, -1, -1):
            out = self.feedback_layers[l](sigs[0].detach())
            sigs.insert(0, out if l == 0 else F.relu(self.feedback_norms[l - 1](out)))
        return sigs

    def local_losses(self, x, y):
        acts, sigs = self.forward_path(x), self.feedback_path(x)
        scale = 1.0 if self.rule.pair_losses else 0.0
        losses = [scale * F.mse_loss(sigs[0], x)]  # level 0: G_1 reconstructs the input from c_1
        losses += [scale * F.mse_loss(a, c) for a, c in zip(acts[1:-1], sigs[1:-1], strict=True)]
        losses.append(F.mse_loss(acts[-1], x))  # output level: F_L against the target
        return losses, {}

    def reconstruct(self, x):
        was = self.training
        self.eval()  # batch statistics are frozen at evaluation
        with torch.no_grad():
            out = self.forward_path(x)[-1]
        self.train(was)
        return out

    def hidden(self, x):
        with torch.no_grad():
            return self.forward_path(x)[1:-1]


class BackpropAutoencoderNet(LocalNet):
    task = "reconstruction"

    def __init__(self, widths: list[int], n_inputs: int):
        super().__init__()
        sizes = [n_inputs, *widths, n_inputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def groups(self):
        return [list(self.parameters())]

    def path(self, x):
        out = [x]
        for l, layer in enumerate(self.layers):
            h = layer(out[-1])
            out.append(h if l == len(self.layers) - 1 else F.relu(h))
        return out

    def local_losses(self, x, y):
        return [F.mse_loss(self.path(x)[-1], x)], {}

    def reconstruct(self, x):
        with torch.no_grad():
            return self.path(x)[-1]

    def hidden(self, x):
        with torch.no_grad():
            return self.path(x)[1:-1]


def _image(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Flat inputs back to (N, channels, height, width); colour images are stored height x width x channels."""
    if len(shape) == 2:
        return x.view(-1, 1, *shape)
    return x.view(-1, *shape).permute(0, 3, 1, 2)


def _conv_sizes(shape: tuple[int, ...], channels: list[int]) -> list[tuple[int, int, int]]:
    """(channels, height, width) at every level: the input, then each conv + 2x2 max-pool block."""
    height, width, depth = shape[0], shape[1], shape[2] if len(shape) > 2 else 1
    if height % 2 ** len(channels) or width % 2 ** len(channels):
        from biosim.torch.common import BuildError

        raise BuildError(f"{len(channels)} pooling blocks need height and width divisible by {2 ** len(channels)}; "
                         f"got {height} x {width}", ("hidden",))
    return [(depth, height, width)] + [(c, height >> (k + 1), width >> (k + 1)) for k, c in enumerate(channels)]


def correlation_loss(a: torch.Tensor, c: torch.Tensor, target: torch.Tensor, s_c: float, s_ssl: float) -> torch.Tensor:
    """CCL's CNN loss: rows flattened and L2-normalised; s_C MSE(A B^T, onehot) + s_ssl (MSE(A A^T, I_N) +
    MSE(B B^T, I_C))."""
    A, B = rownorm(a.flatten(1)), rownorm(c.flatten(1))
    eye_n, eye_c = torch.eye(len(A), device=A.device), torch.eye(len(B), device=B.device)
    return s_c * F.mse_loss(A @ B.T, target) + s_ssl * (F.mse_loss(A @ A.T, eye_n) + F.mse_loss(B @ B.T, eye_c))


def rownorm(h: torch.Tensor) -> torch.Tensor:
    return h / h.norm(dim=1, keepdim=True).clamp(min=1e-12)


class CounterCurrentCNNNet(LocalNet):
    """F: conv 3x3 + activation + 2x2 max-pool blocks and a linear readout; G: from the class one-hots, a
    linear map to the top feature maps, then nearest-upsampling + conv 3x3 blocks down to the image."""

    def __init__(self, rule, channels: list[int], shape: tuple[int, ...], n_classes: int):
        super().__init__()
        self.rule, self.shape, self.n_classes = rule, shape, n_classes
        self.levels = _conv_sizes(shape, channels)
        self.forward_blocks = nn.ModuleList(nn.Conv2d(a[0], b[0], 3, padding=1)
                                            for a, b in zip(self.levels[:-1], self.levels[1:], strict=True))
        top = self.levels[-1]
        self.readout = nn.Linear(top[0] * top[1] * top[2], n_classes)
        self.feedback_top = nn.Linear(n_classes, top[0] * top[1] * top[2])
        # feedback_blocks[l] makes level l from level l + 1
        self.feedback_blocks = nn.ModuleList(nn.Conv2d(b[0], a[0], 3, padding=1)
                                             for a, b in zip(self.levels[:-1], self.levels[1:], strict=True))
        self.act = ACTIVATIONS[rule.activation]

    def groups(self):
        L = len(self.forward_blocks)
        groups = [list(self.feedback_blocks[0].parameters())]
        for l in range(1, L + 1):
            above = self.feedback_blocks[l] if l < L else self.feedback_top
            groups.append(list(self.forward_blocks[l - 1].parameters()) + list(above.parameters()))
        return groups + [list(self.readout.parameters())]

    def group_names(self):
        return _pair_names(len(self.forward_blocks))

    def forward_path(self, x: torch.Tensor) -> list[torch.Tensor]:
        acts = [_image(x, self.shape)]
        for block in self.forward_blocks:
            acts.append(F.max_pool2d(self.act(block(acts[-1].detach())), 2))
        return acts

    def feedback_path(self) -> list[torch.Tensor]:
        top = self.levels[-1]
        onehots = torch.eye(self.n_classes, device=self.readout.weight.device)
        sigs = [self.act(self.feedback_top(onehots)).view(self.n_classes, *top)]
        for l in range(len(self.feedback_blocks) - 1, -1, -1):
            out = self.feedback_blocks[l](F.interpolate(sigs[0].detach(), scale_factor=2, mode="nearest"))
            sigs.insert(0, out if l == 0 else self.act(out))
        return sigs

    def local_losses(self, x, y):
        acts, sigs = self.forward_path(x), self.feedback_path()
        target = F.one_hot(y, self.n_classes).to(x.dtype)
        losses = [correlation_loss(a, c, target, self.rule.loss_scale, self.rule.decorrelation if k else 0.0)
                  for k, (a, c) in enumerate(zip(acts, sigs, strict=True))]
        losses.append(F.cross_entropy(self.readout(acts[-1].detach().flatten(1)), y))
        return losses, {}

    def predict(self, x):
        with torch.no_grad():
            return self.readout(self.forward_path(x)[-1].flatten(1))

    def hidden(self, x):
        with torch.no_grad():
            return [a.flatten(1) for a in self.forward_path(x)[1:]]

    def epoch_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return prototype_accuracies(self.forward_path(x)[1:], self.feedback_path()[1:], y)


class BackpropCNNNet(LocalNet):
    def __init__(self, channels: list[int], shape: tuple[int, ...], n_classes: int, activation: str):
        super().__init__()
        self.shape, levels, self.act = shape, _conv_sizes(shape, channels), ACTIVATIONS[activation]
        self.blocks = nn.ModuleList(nn.Conv2d(a[0], b[0], 3, padding=1)
                                    for a, b in zip(levels[:-1], levels[1:], strict=True))
        top = levels[-1]
        self.readout = nn.Linear(top[0] * top[1] * top[2], n_classes)

    def groups(self):
        return [list(self.parameters())]

    def group_names(self):
        return ["all layers"]

    def features(self, x):
        h, out = _image(x, self.shape), []
        for block in self.blocks:
            h = F.max_pool2d(self.act(block(h)), 2)
            out.append(h)
        return out

    def local_losses(self, x, y):
        return [F.cross_entropy(self.predict(x), y)], {}

    def predict(self, x):
        return self.readout(self.features(x)[-1].flatten(1))

    def hidden(self, x):
        with torch.no_grad():
            return [h.flatten(1) for h in self.features(x)]
