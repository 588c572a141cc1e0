import pathlib
import zipfile

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.data.chip import S1, S2
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.errors import DataError, InputError
from gee_flood.models import (
    ArchitectureSpec,
    InputModality,
    ModelCard,
    build_model,
    load_model,
    read_card,
    save_checkpoint,
)
from gee_flood.models.checkpoint import CARD_KEY, convert_trusted_checkpoint


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


def test_saved_checkpoint_is_plain_data(tmp_path):
    card = student_card()
    path = save_checkpoint(build_model(card), card, tmp_path / "student.ckpt")
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"state_dict", CARD_KEY}
    assert ModelCard.model_validate(payload[CARD_KEY]) == card


class WritesAFile:
    """Unpickling this runs ``Path.write_text``: what a malicious checkpoint would do."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.write_text, (self.marker, "x"))


def evil_checkpoint(tmp_path, *, legacy: bool = False):
    """A checkpoint with real weights and a valid card, plus an object whose unpickling writes ``pwned``."""
    card = student_card()
    marker = tmp_path / "pwned"
    payload = {
        "state_dict": build_model(card).state_dict(),
        CARD_KEY: card.model_dump(mode="json"),
        "extra": WritesAFile(marker),
    }
    path = tmp_path / "evil.ckpt"
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path, marker


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_checkpoint_that_would_run_code_is_refused_unread(tmp_path, legacy):
    path, marker = evil_checkpoint(tmp_path, legacy=legacy)
    for read in (load_model, read_card):
        with pytest.raises(InputError) as error:
            read(path)
        message = str(error.value)
        assert message.startswith(f"{path}: refused") and "\n" not in message
        assert "Python objects that would run code on load" in message
        assert "convert_trusted_checkpoint" in message
    assert not marker.exists()


def test_cli_refuses_a_checkpoint_that_would_run_code(tmp_path):
    path, marker = evil_checkpoint(tmp_path)
    runner = CliRunner()
    commands = [
        ["predict", "--checkpoint", str(path), "--out", str(tmp_path / "out.tif"), "--input", str(tmp_path / "s.tif")],
        ["evaluate", "--dataset", "ombria", "--root", str(tmp_path), "--checkpoint", str(path), "--quiet"],
    ]
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code != 0, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and str(path) in errors[0] and "refused" in errors[0], result.output
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
    assert not marker.exists()
    assert not (tmp_path / "out.tif").exists()


def test_convert_trusted_checkpoint_writes_plain_data(tmp_path):
    card = student_card()
    torch.manual_seed(0)
    model = build_model(card).eval()
    trusted = tmp_path / "old.ckpt"
    # an older-style file: the card as a pydantic object, the weights under a Lightning prefix, extra objects
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            CARD_KEY: card,
            "where": pathlib.Path("/somewhere"),
        },
        trusted,
    )
    with pytest.raises(InputError, match="refused"):
        load_model(trusted)
    converted = convert_trusted_checkpoint(trusted, tmp_path / "new.ckpt")
    assert set(torch.load(converted, weights_only=True)) == {"state_dict", CARD_KEY}
    loaded = load_model(converted)
    assert loaded.card == card
    x = torch.randn(1, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    with pytest.raises(InputError, match="no model card"):
        torch.save({"state_dict": {}}, tmp_path / "cardless.ckpt")
        convert_trusted_checkpoint(tmp_path / "cardless.ckpt", tmp_path / "out.ckpt")
    with pytest.raises(InputError, match="not found"):
        convert_trusted_checkpoint(tmp_path / "missing.ckpt", tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()


def test_other_refusals_stay_distinct(tmp_path):
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(InputError, match="no model card inside"):
        read_card(plain)
    broken = tmp_path / "broken.ckpt"
    torch.save({CARD_KEY: {"role": "oracle"}}, broken)
    with pytest.raises(InputError, match=r"invalid model card \(role"):
        read_card(broken)
    archive = tmp_path / "archive.ckpt"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("readme.txt", "not a checkpoint")
    with pytest.raises(InputError, match="not a readable PyTorch checkpoint"):
        read_card(archive)
