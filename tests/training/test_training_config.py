from pathlib import Path

import pytest
import yaml

from gee_flood.errors import InputError
from gee_flood.training import load_config, parse_set_options

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_committed_config_validates(path):
    config = load_config(path)
    assert config.data.inputs
    assert config.normalization is None  # statistics are computed at run time, never committed


def test_overrides_and_run_name(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"role": "teacher", "data": {"inputs": ["s1", "s2"]}}))
    config = load_config(path, {"trainer.seed": 3, "optim.max_steps": 7, "trainer.output_dir": "out"})
    assert (config.trainer.seed, config.optim.max_steps, str(config.trainer.output_dir)) == (3, 7, "out")
    student = Path(__file__).resolve().parents[2] / "configs" / "ombria_student.yaml"
    assert load_config(student).data.labelled_share == 0.5
    assert load_config(student, parse_set_options(["data.labelled_share=null"])).data.labelled_share is None
    assert config.name == "teacher-seed3"
    assert parse_set_options(["optim.lr=0.01", "data.inputs=[s1, s1_pre]"]) == {
        "optim.lr": 0.01,
        "data.inputs": ["s1", "s1_pre"],
    }


def test_bad_configs_give_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("role: teacher\ndata: {inputs: [s1]}\noptim: {max_steps: 0}\n")
    with pytest.raises(InputError, match="optim.max_steps"):
        load_config(bad)
    bad.write_text("role: wizard\ndata: {inputs: [s1]}\n")
    with pytest.raises(InputError, match="role"):
        load_config(bad)
    bad.write_text("role: teacher\ndata: {inputs: [s1], typo_field: 1}\n")
    with pytest.raises(InputError, match="typo_field"):
        load_config(bad)
    bad.write_text("role: student\ndata: {inputs: [s1]}\ndistill: {on_labelled: false}\n")
    with pytest.raises(InputError, match="unlabelled"):
        load_config(bad)
    bad.write_text(": : :\n")
    with pytest.raises(InputError, match="YAML"):
        load_config(bad)
    with pytest.raises(InputError, match="key.path=value"):
        parse_set_options(["noequals"])
