import json
from pathlib import Path

from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.models import read_card
from gee_flood.models.card import checkpoint_reference
from tests.fixtures.datasets import write_ombria_fixture
from tests.fixtures.training import TINY_OMBRIA

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
runner = CliRunner()


def _sets(data: Path, *, exclude: tuple[str, ...] = ()) -> list[str]:
    options = []
    for key, value in {**TINY_OMBRIA, "data.root": str(data), "data.labelled_fraction": 0.5}.items():
        if key not in exclude:
            options += ["--set", f"{key}={value}"]
    return options


def test_train_teacher_then_student_from_the_command_line(tmp_path):
    data = write_ombria_fixture(tmp_path / "ombria", train=10, test=1)
    out = tmp_path / "runs"
    teacher = runner.invoke(
        app,
        ["train", "teacher", "--config", str(CONFIGS / "ombria_teacher.yaml"), "--seed", "3", "--out", str(out)]
        + _sets(data),
    )
    assert teacher.exit_code == 0, teacher.output
    teacher_ckpt = out / "teacher-seed3" / "model.ckpt"
    assert teacher_ckpt.is_file() and "validation water IoU" in teacher.output
    assert read_card(teacher_ckpt).modality_names == ["s1_uint8", "s2_falsecolor_uint8"]
    student = runner.invoke(
        app,
        ["train", "student", "--teacher", str(teacher_ckpt), "--config", str(CONFIGS / "ombria_student.yaml")]
        + ["--seed", "3", "--max-steps", "3", "--out", str(out)]
        + _sets(data, exclude=("optim.max_steps",)),
    )
    assert student.exit_code == 0, student.output
    card = read_card(out / "student-seed3" / "model.ckpt")
    assert card.role == "student" and card.modality_names == ["s1_uint8"] and card.training.steps == 3
    assert card.training.teacher_checkpoint == checkpoint_reference(teacher_ckpt)  # a name and hash, not a path
    assert str(tmp_path) not in card.model_dump_json()
    assert card.training.unlabelled_chips == 5
    report = tmp_path / "eval.json"
    evaluated = runner.invoke(
        app,
        ["evaluate", "--checkpoint", str(out / "student-seed3" / "model.ckpt"), "--dataset", "ombria"]
        + ["--root", str(data), "--split", "test", "--out", str(report), "--quiet"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(report.read_text())
    assert 0.0 <= scores["total_iou"] <= 1.0 and scores["method"] == "student:model.ckpt"
    both = runner.invoke(
        app,
        ["evaluate", "--checkpoint", str(teacher_ckpt), "--method", "otsu", "--dataset", "ombria", "--root", str(data)],
    )
    assert both.exit_code != 0 and "not both" in both.output


def test_train_errors_are_one_line(tmp_path):
    wrong_kind = runner.invoke(
        app, ["train", "baseline", "--kind", "weak", "--config", str(CONFIGS / "ombria_baseline_supervised.yaml")]
    )
    assert wrong_kind.exit_code != 0 and "does not fit --kind weak" in wrong_kind.output
    wrong_role = runner.invoke(app, ["train", "teacher", "--config", str(CONFIGS / "ombria_student.yaml")])
    assert wrong_role.exit_code != 0 and "is a 'student' config" in wrong_role.output
    missing = runner.invoke(app, ["train", "teacher", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0 and "not found" in missing.output
    bad_teacher = runner.invoke(
        app,
        ["train", "student", "--teacher", str(tmp_path / "t.ckpt"), "--config", str(CONFIGS / "ombria_student.yaml")]
        + ["--set", f"data.root={tmp_path}"],
    )
    assert bad_teacher.exit_code != 0 and "checkpoint file not found" in bad_teacher.output
    assert "Traceback" not in bad_teacher.output
