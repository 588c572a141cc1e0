import numpy as np
import pytest
import torch

from gee_flood.data.chip import S1, S2
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.errors import DataError, InputError
from gee_flood.models import ArchitectureSpec, InputModality, ModelCard, build_model, load_model, save_checkpoint


def student_card():
    return ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(
            modalities={"s1": BandStats(bands=["VV", "VH"], mean=[-12.0, -19.0], std=[4.0, 4.0])}
        ),
        architecture=ArchitectureSpec(
            name="Unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[32, 16, 8]
        ),
    )


def test_round_trip_reproduces_outputs(tmp_path):
    card = student_card()
    torch.manual_seed(0)
    model = build_model(card).eval()
    x = torch.randn(1, 2, 64, 64)
    path = save_checkpoint(model, card, tmp_path / "student.ckpt")
    loaded = load_model(path)
    assert loaded.card.modality_names == ["s1"]
    assert loaded.card.sar_only
    with torch.no_grad():
        assert torch.allclose(model(x), loaded.model(x))


def test_wrong_modality_is_rejected():
    card = student_card()
    card.check_inputs({"s1": S1})
    with pytest.raises(DataError, match="needs modality 's1'"):
        card.check_inputs({"s2": S2}, where="scene.tif")
    reordered = S1.__class__("s1", ("VH", "VV"), "dB", "reordered")
    with pytest.raises(DataError, match="in that order"):
        card.check_inputs({"s1": reordered})


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(np.arange(10).tobytes())
    with pytest.raises(InputError, match="not a readable PyTorch checkpoint"):
        load_model(junk)
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.ckpt")
