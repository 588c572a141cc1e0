"""The Lightning module shared by teacher, student and baselines.

One network (``self.model``, built from the run's :class:`ModelCard`), a supervised loss on labelled pixels and,
for a student, the distillation loss against a frozen teacher (cached logits or run online on the same augmented
batch). Validation pools confusion counts at a grid of probability thresholds (torchmetrics, synchronised across
DDP processes) and logs the water IoU at 0.5 and at the best threshold; the best threshold is written into the
card, so a checkpoint predicts with the threshold tuned on validation data.

Every checkpoint Lightning saves carries ``gee_flood_card`` so :func:`gee_flood.models.load_model` reads it, and
holds plain data only (tensors, numbers, strings, containers: weights, optimiser/scheduler/callback/loop states
and the card as JSON-compatible values), so it loads with ``torch.load(..., weights_only=True)``. The module saves
no hyper-parameters (they would be config objects); the card and the run's ``config.yaml`` describe the run.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L  # noqa: N812
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import Tensor, nn
from torchmetrics.classification import BinaryPrecisionRecallCurve

from gee_flood.errors import DataError
from gee_flood.models.card import ModelCard
from gee_flood.models.checkpoint import CARD_KEY, build_model
from gee_flood.models.predictor import predict_logits
from gee_flood.training.augment import SarAugment
from gee_flood.training.config import DistillConfig, LossConfig, OptimConfig
from gee_flood.training.losses import distillation_loss, supervised_loss

#: Probability thresholds evaluated on validation data.
THRESHOLDS = [round(0.05 * i, 2) for i in range(2, 19)]


class FloodSegmentationModule(L.LightningModule):
    """Water segmentation network with supervised (+ distillation) training.

    Args:
        card: Describes the network (inputs, normalisation, architecture); updated with the tuned threshold.
        optim: Optimiser settings.
        loss: Supervised loss settings.
        distill: Distillation settings (used when a batch carries teacher logits or teacher inputs).
        teacher: Frozen teacher network for online distillation (not saved in checkpoints).
        teacher_card: The teacher's card (for its size multiple).
        encoder_weights: Pretrained encoder weights for the first build (None = random).
        channels_last: Keep weights and inputs channels-last (1.15-1.4x faster steps on 2 CPU cores,
            ``python -m benchmarks.speed``; the layout tensor cores prefer on CUDA). State dicts load into either.
        augment: SAR augmentation of the training batches' network inputs (never of validation batches, nor of the
            teacher's inputs: distillation targets come from clean inputs).
    """

    def __init__(
        self,
        card: ModelCard,
        optim: OptimConfig,
        loss: LossConfig,
        distill: DistillConfig | None = None,
        *,
        teacher: nn.Module | None = None,
        teacher_card: ModelCard | None = None,
        encoder_weights: str | None = None,
        channels_last: bool = True,
        augment: SarAugment | None = None,
    ) -> None:
        super().__init__()
        self.card = card
        self.optim = optim
        self.loss_config = loss
        self.distill = distill
        build_card = card.model_copy(deep=True)
        if encoder_weights:
            build_card.architecture.kwargs["encoder_weights"] = encoder_weights
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = build_model(build_card).to(memory_format=self.memory_format)
        # The teacher is held outside the module's children so it is neither trained nor saved.
        self._teacher: list[nn.Module] = []
        if teacher is not None:
            teacher.eval().requires_grad_(False)
            self._teacher.append(teacher)
        self.teacher_card = teacher_card
        self.val_curve = BinaryPrecisionRecallCurve(thresholds=torch.tensor(THRESHOLDS), ignore_index=-1)
        self.best_threshold = card.labels.threshold
        self.augment = augment

    def forward(self, inputs: Tensor) -> Tensor:
        """Return water logits ``(N, H, W)`` of normalised inputs ``(N, C, H, W)``."""
        return self.model(inputs.contiguous(memory_format=self.memory_format))[:, 0]

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment the SAR channels of training batches on their device (:mod:`gee_flood.training.augment`)."""
        if self.augment is not None and self.trainer.training and isinstance(batch, dict) and "inputs" in batch:
            batch = {**batch, "inputs": self.augment(batch["inputs"])}
        return batch

    def on_fit_start(self) -> None:
        """Move the frozen teacher to the training device."""
        for teacher in self._teacher:
            teacher.to(self.device)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Supervised loss on labelled pixels plus the weighted distillation loss."""
        logits = self(batch["inputs"])
        supervised = supervised_loss(
            logits,
            batch["label"],
            pos_weight=self.loss_config.pos_weight,
            dice_weight=self.loss_config.dice_weight,
            edge_weight=self.loss_config.edge_weight,
            edge_width=self.loss_config.edge_width,
        )
        total = self.loss_config.weight * supervised
        batch_size = batch["inputs"].shape[0]
        self.log("train/supervised", supervised, batch_size=batch_size)
        teacher_logits = self._teacher_logits(batch)
        if teacher_logits is not None and self.distill is not None:
            valid = batch["teacher_valid"]
            if not self.distill.on_labelled:
                valid = valid & (batch["label"] == -1).all(dim=(1, 2), keepdim=True)
            terms = distillation_loss(
                logits,
                teacher_logits,
                valid,
                temperature=self.distill.temperature,
                confidence_power=self.distill.confidence_power,
                min_confidence=self.distill.min_confidence,
                hard_threshold=self.distill.hard_threshold,
                edge_weight=self.distill.edge_weight,
                edge_width=self.distill.edge_width,
            )
            total = total + self.distill.weight * terms.loss
            self.log("train/distill", terms.loss, batch_size=batch_size)
            self.log("train/teacher_signal", terms.signal_fraction, batch_size=batch_size)
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        if not bool(torch.isfinite(total.detach())):  # one device sync per step; a diverged run must not go on
            raise DataError(
                f"training diverged: the loss became {float(total.detach())} at step {self.global_step}; no model "
                "was written (lower optim.lr, or set optim.gradient_clip)"
            )
        return total

    @torch.no_grad()
    def _teacher_logits(self, batch: dict[str, Tensor]) -> Tensor | None:
        if "teacher_logits" in batch:
            return batch["teacher_logits"]
        if "teacher_inputs" in batch and self._teacher:
            assert self.teacher_card is not None
            logits = predict_logits(self._teacher[0], self.teacher_card, batch["teacher_inputs"])
            if self.distill is not None and self.distill.center_on_threshold:
                threshold = min(max(self.teacher_card.labels.threshold, 1e-3), 1 - 1e-3)
                logits = logits - math.log(threshold / (1 - threshold))
            return logits
        return None

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Accumulate confusion counts at every threshold over labelled validation pixels."""
        logits = predict_logits(self.model, self.card, batch["inputs"])
        self.val_curve.update(torch.sigmoid(logits), batch["label"])

    def on_validation_epoch_end(self) -> None:
        """Log IoU at 0.5 and at the best threshold; remember the best threshold for the card."""
        precision, recall, thresholds = self.val_curve.compute()
        self.val_curve.reset()
        precision, recall = precision[:-1].double(), recall[:-1].double()
        iou = torch.where(
            (precision > 0) & (recall > 0), 1.0 / (1.0 / precision + 1.0 / recall - 1.0), torch.zeros_like(precision)
        )
        iou = torch.nan_to_num(iou, nan=0.0)
        at_half = float(iou[THRESHOLDS.index(0.5)])
        # Highest IoU; among equal scores the threshold closest to 0.5.
        distance = (torch.tensor(THRESHOLDS, dtype=iou.dtype, device=iou.device) - 0.5).abs()
        best = int(torch.argmax(iou - 1e-9 * distance))
        self.best_threshold = float(thresholds[best])
        self.log("val/iou", at_half, sync_dist=False)
        self.log("val/iou_tuned", float(iou[best]), prog_bar=True, sync_dist=False)
        self.log("val/threshold", self.best_threshold, sync_dist=False)

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW with linear warm-up and cosine (or constant) decay, stepped every optimizer step."""
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        warmup, total, floor = self.optim.warmup_steps, self.optim.max_steps, self.optim.min_lr_ratio
        cosine = self.optim.schedule == "cosine"

        def factor(step: int) -> float:
            if warmup and step < warmup:
                return (step + 1) / warmup
            if not cosine:
                return 1.0
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def current_card(self) -> ModelCard:
        """Return the card with the threshold tuned at the latest validation."""
        card = self.card.model_copy(deep=True)
        card.labels.threshold = self.best_threshold
        card.training.extra["checkpoint_step"] = int(self.global_step)
        return card

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the model card (as plain data) so :func:`gee_flood.models.load_model` can rebuild the network.

        Hyper-parameters are never stored: Lightning would save them as Python objects (configs, cards), which
        ``weights_only=True`` loading refuses.
        """
        for key in (
            self.CHECKPOINT_HYPER_PARAMS_KEY,
            self.CHECKPOINT_HYPER_PARAMS_NAME,
            self.CHECKPOINT_HYPER_PARAMS_TYPE,
        ):
            checkpoint.pop(key, None)
        checkpoint[CARD_KEY] = self.current_card().model_dump(mode="json")

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the tuned threshold when resuming."""
        if CARD_KEY in checkpoint:
            self.best_threshold = float(checkpoint[CARD_KEY]["labels"]["threshold"])
