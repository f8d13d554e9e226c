"""Training-time augmentation of image batches with torchvision.transforms.v2 kernels.

Applied to each training batch where it already lives (uint8, on the training device) before the
conversion to float, so no per-sample DataLoader is needed. A torchvision transform draws one set
of random parameters per call, which on a batch would give every image the same crop, flip and
turn; here the parameters are drawn per image from the run's own generator (so a seed fixes them),
and the v2 kernels (`pad`, `horizontal_flip`, `rotate`) are applied to the images that share a
value. The crop itself picks each image's window from an unfolded view of the padded batch (one
offset per image), which torchvision's `crop` (one box per call) cannot do in one call.

What each option does:
- crop_padding p: zero-pad by p pixels on every side, then cut the original size at a random
  offset: shifts of up to p pixels in each direction.
- flip: a left-right mirror with probability 1/2 (wrong for data whose labels name left and right,
  e.g. Multi-MNIST's and Multi-Fashion's `left` / `right` items).
- max_rotation m: a turn by a whole number of degrees drawn uniformly from [-m, m], bilinear, with
  black corners.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

from mtlcore.config import AugmentConfig
from mtlcore.registry import ConfigError


class Augmenter:
    """Random crop with padding, flip and small rotation, per image, deterministic under a seed."""

    def __init__(self, config: AugmentConfig, seed: int) -> None:
        import torch

        config.validate()
        self.config = config
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ConfigError(f"augmentation needs image batches (B, C, H, W), got shape {tuple(images.shape)}")
        c = self.config
        out = images
        if c.crop_padding:
            out = self.random_crop(out, c.crop_padding)
        if c.flip:
            out = self.random_flip(out)
        if c.max_rotation:
            out = self.random_rotation(out, int(c.max_rotation))
        return out

    def random_crop(self, images: torch.Tensor, padding: int) -> torch.Tensor:
        import torch
        from torchvision.transforms.v2 import functional as TF

        b, _, h, w = images.shape
        padded = TF.pad(images, [padding])
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=self.generator).to(images.device)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=self.generator).to(images.device)
        # every h x w window of the padded images as a view (B, C, 2p+1, 2p+1, H, W), then image i's own
        windows = padded.unfold(2, h, 1).unfold(3, w, 1)
        chosen = windows[torch.arange(b, device=images.device), :, dy, dx]  # (B, C, H, W)
        return chosen.contiguous(memory_format=_layout(images))

    def random_flip(self, images: torch.Tensor) -> torch.Tensor:
        import torch
        from torchvision.transforms.v2 import functional as TF

        chosen = torch.rand(images.shape[0], generator=self.generator) < 0.5
        if not bool(chosen.any()):
            return images
        out = images.clone(memory_format=_layout(images))
        sel = chosen.to(images.device)
        out[sel] = TF.horizontal_flip(images[sel])
        return out

    def random_rotation(self, images: torch.Tensor, max_degrees: int) -> torch.Tensor:
        import torch

        angles = torch.randint(-max_degrees, max_degrees + 1, (images.shape[0],), generator=self.generator)
        return rotate_images(images, angles)


def rotate_images(images: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Each image turned by its whole-degree angle exactly as torchvision's rotate turns it (bilinear,
    black corners). A torchvision call applies one angle to all it is given, so the general angles are
    done in one grid_sample with a grid per image. Whole degrees allow few distinct angles, so each
    angle's grid is built once by torchvision's own grid operations (bit-identical, a test checks) and
    kept; a batch only picks its rows. Building a grid per image instead cost 1.6 ms of a 1.8 ms
    Multi-Fashion batch, mostly a batched product of tiny matrices. The quarter turns, which torchvision
    does by transposing, keep its calls. Used by augmentation and by CIFAR-10's rotation-angle task;
    the memory layout is kept."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF
    from torchvision.transforms.v2.functional._geometry import _apply_grid_transform

    out = images.clone(memory_format=_layout(images))
    on_device = angles.to(images.device)
    listed = [a % 360 for a in angles.tolist()]
    for a in {a for a in listed if a % 90 == 0 and a != 0}:  # quarter turns: torchvision transposes
        sel = on_device % 360 == a
        out[sel] = TF.rotate(images[sel], float(a), interpolation=InterpolationMode.BILINEAR)
    general = [i for i, a in enumerate(listed) if a % 90 != 0]
    if general:
        h, w = images.shape[-2:]
        distinct = sorted({listed[i] for i in general})
        row = {a: k for k, a in enumerate(distinct)}
        table = torch.stack([_rotation_grid(a, h, w, images.device) for a in distinct])
        picks = torch.tensor([row[listed[i]] for i in general], device=images.device)
        grid = table.index_select(0, picks)
        idx = torch.tensor(general, device=images.device)
        out[idx] = _apply_grid_transform(images[idx], grid, "bilinear", fill=None)
    return out


_GRIDS: dict[tuple[int, int, int, str], torch.Tensor] = {}
_GRIDS_KEPT = 4096  # at most 361 angles per image size and device; a bound against unbounded sizes


def _rotation_grid(angle: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """The sampling grid (H, W, 2) of torchvision's rotate for one whole-degree angle, kept."""
    import torch
    from torchvision.transforms.v2.functional._geometry import _get_inverse_affine_matrix

    key = (angle, h, w, str(device))
    grid = _GRIDS.get(key)
    if grid is None:
        matrix = _get_inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
        theta = torch.tensor(matrix, dtype=torch.float32, device=device).reshape(1, 2, 3)
        grid = _rotation_grids(theta, w, h)[0]
        if len(_GRIDS) >= _GRIDS_KEPT:
            _GRIDS.clear()
        _GRIDS[key] = grid
    return grid


def _rotation_grids(theta: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """torchvision's `_affine_grid` (same operations, one batched product) for (N, 2, 3) matrices."""
    import torch

    base = torch.empty(1, h, w, 3, dtype=theta.dtype, device=theta.device)
    base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=theta.device))
    base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=theta.device).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scaled = theta.transpose(1, 2).div_(torch.tensor([0.5 * w, 0.5 * h], dtype=theta.dtype, device=theta.device))
    flat = base.view(1, h * w, 3)
    return flat.expand(scaled.shape[0], h * w, 3).bmm(scaled).view(-1, h, w, 2)


def _layout(t: torch.Tensor) -> torch.memory_format:
    import torch

    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
