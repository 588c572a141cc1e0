import numpy as np
import pytest
import torch

from gee_flood.data.chip import S1, S2, Chip
from gee_flood.models.preprocessing import optical_valid
from gee_flood.training.losses import boundary_mask, distillation_loss, edge_weights, supervised_loss


def test_supervised_loss_ignores_minus_one():
    logits = torch.zeros(1, 4, 4, requires_grad=True)
    labels = torch.full((1, 4, 4), -1)
    labels[0, 0, 0] = 1
    loss = supervised_loss(logits, labels)
    assert loss.item() == pytest.approx(np.log(2), rel=1e-5)
    loss.backward()
    grad = logits.grad[0]
    assert grad[0, 0] != 0
    assert torch.count_nonzero(grad) == 1  # only the labelled pixel gets a gradient


def test_supervised_loss_all_ignored_is_zero_with_graph():
    logits = torch.randn(2, 3, 3, requires_grad=True)
    loss = supervised_loss(logits, torch.full((2, 3, 3), -1))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_distillation_masks_pixels_without_teacher_signal():
    student = torch.zeros(1, 2, 2, requires_grad=True)
    teacher = torch.tensor([[[4.0, -4.0], [4.0, -4.0]]])
    valid = torch.tensor([[[True, True], [False, False]]])
    terms = distillation_loss(student, teacher, valid)
    terms.loss.backward()
    assert torch.count_nonzero(student.grad[0, 1]) == 0  # cloudy row: no gradient
    assert torch.count_nonzero(student.grad[0, 0]) == 2
    assert terms.signal_fraction.item() == pytest.approx(0.5)
    # changing the student where there is no signal leaves the loss unchanged
    other = student.detach().clone()
    other[0, 1] = 10.0
    assert distillation_loss(other, teacher, valid).loss.item() == pytest.approx(terms.loss.item())


def test_distillation_without_any_signal_is_zero():
    student = torch.randn(1, 3, 3, requires_grad=True)
    terms = distillation_loss(student, torch.randn(1, 3, 3), torch.zeros(1, 3, 3, dtype=torch.bool))
    assert terms.loss.item() == 0.0


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_distillation_is_minimised_by_copying_the_teacher(temperature):
    teacher = torch.tensor([[[2.0, -1.0, 0.3]]])
    valid = torch.ones(1, 1, 3, dtype=torch.bool)
    student = teacher.clone().requires_grad_(True)
    distillation_loss(student, teacher, valid, temperature=temperature).loss.backward()
    assert torch.allclose(student.grad, torch.zeros_like(student.grad), atol=1e-6)
    worse = distillation_loss(teacher + 1.0, teacher, valid, temperature=temperature).loss
    best = distillation_loss(teacher, teacher, valid, temperature=temperature).loss
    assert worse > best


def test_temperature_softens_targets_and_scales_by_t_squared():
    teacher = torch.tensor([[[6.0]]])
    student = torch.tensor([[[0.0]]])
    valid = torch.ones(1, 1, 1, dtype=torch.bool)
    t = 3.0
    loss = distillation_loss(student, teacher, valid, temperature=t).loss.item()
    target = 1 / (1 + np.exp(-6.0 / t))  # softened teacher probability
    expected = t**2 * -(target * np.log(0.5) + (1 - target) * np.log(0.5))
    assert loss == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError):
        distillation_loss(student, teacher, valid, temperature=0.0)


def test_confidence_weighting_and_minimum():
    teacher = torch.tensor([[[0.0, 5.0]]])  # p = 0.5 (no confidence), p ~ 0.993
    student = torch.zeros(1, 1, 2, requires_grad=True)
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    distillation_loss(student, teacher, valid, confidence_power=1.0).loss.backward()
    assert student.grad[0, 0, 0] == 0  # an unsure teacher pixel weighs nothing
    assert student.grad[0, 0, 1] != 0
    terms = distillation_loss(torch.zeros(1, 1, 2), teacher, valid, min_confidence=0.5)
    assert terms.signal_fraction.item() == pytest.approx(0.5)
    uniform = distillation_loss(torch.zeros(1, 1, 2), teacher, valid).loss
    weighted = distillation_loss(torch.zeros(1, 1, 2), teacher, valid, confidence_power=2.0).loss
    assert weighted < uniform


def test_hard_pseudo_labels():
    teacher = torch.tensor([[[0.4, -0.4]]])  # p ~ 0.6, 0.4
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    confident_student = torch.tensor([[[8.0, -8.0]]])
    hard = distillation_loss(confident_student, teacher, valid, hard_threshold=0.5).loss.item()
    soft = distillation_loss(confident_student, teacher, valid).loss.item()
    assert hard < 0.01 < soft  # hard targets reward a confident student that agrees


def test_boundary_and_edge_weights():
    water = torch.zeros(1, 9, 9, dtype=torch.bool)
    water[0, :, :4] = True
    band = boundary_mask(water, 1)[0]
    assert band[:, 3:5].all() and not band[:, :3].any() and not band[:, 5:].any()
    weights = edge_weights(water, weight=2.0, width=1)[0]
    assert weights[0, 3] == 3.0 and weights[0, 0] == 1.0
    assert not boundary_mask(water, 0).any()
    student = torch.zeros(1, 9, 9)
    teacher = torch.where(water, 3.0, -3.0).float()
    valid = torch.ones(1, 9, 9, dtype=torch.bool)
    plain = distillation_loss(student, teacher, valid).loss
    edged = distillation_loss(student, teacher, valid, edge_weight=2.0, edge_width=1).loss
    assert edged > plain


def test_optical_valid_excludes_clouds_and_missing_optical_data():
    s1 = np.zeros((2, 4, 4), np.float32)
    s2 = np.ones((13, 4, 4), np.float32)
    s2[:, 0, 0] = np.nan
    cloud = np.zeros((4, 4), bool)
    cloud[3, 3] = True
    valid = np.ones((4, 4), bool)  # SAR validity only, as readers set it
    chip = Chip("c", "e", {"s1": s1, "s2": s2}, {"s1": S1, "s2": S2}, valid=valid, extras={"s2_cloud": cloud})
    mask = optical_valid(chip, ["s1", "s2"])
    assert not mask[0, 0] and not mask[3, 3] and mask.sum() == 14
    assert optical_valid(chip, ["s1"]).all()  # SAR only: no optical restriction
