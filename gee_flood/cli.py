"""The ``gee-flood`` command line. It only parses arguments and calls typed functions of the packages.

Every user error (:class:`gee_flood.errors.GeeFloodError`) is printed as one line on stderr with a non-zero exit
code; no traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gee_flood.errors import GeeFloodError, NotBuiltError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="gee-flood",
    help="Map flood extent from Sentinel-1 SAR, learnt from Sentinel-2 by cross-modal distillation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Download and inspect datasets (Sen1Floods11, OMBRIA).", no_args_is_help=True)
train_app = typer.Typer(help="Train a teacher (S1+S2), a SAR-only student, or a baseline.", no_args_is_help=True)
emulator_app = typer.Typer(help="The local Earth Engine emulator (no account needed).", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(emulator_app, name="emulator")


def user_errors(func: F) -> F:
    """Turn :class:`GeeFloodError` raised by ``func`` into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GeeFloodError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _not_built(command: str, issue: str) -> None:
    raise NotBuiltError(f"'gee-flood {command}' is not built yet ({issue})")


@app.command()
@user_errors
def demo() -> None:
    """Run the whole pipeline on a built-in synthetic flood, with the local Earth Engine emulator."""
    _not_built("demo", "see the README's roadmap")


@app.command()
@user_errors
def fetch() -> None:
    """Fetch paired S1/S2 chips from Earth Engine through xee into an on-disk corpus."""
    _not_built("fetch", "see the README's roadmap")


@app.command()
@user_errors
def evaluate() -> None:
    """Evaluate a method or checkpoint on a labelled dataset (table + JSON, per event)."""
    _not_built("evaluate", "see the README's roadmap")


@app.command()
@user_errors
def predict() -> None:
    """Map floods from Sentinel-1 with a trained SAR-only student; writes a Cloud-Optimized GeoTIFF."""
    _not_built("predict", "see the README's roadmap")


@app.command(name="map")
@user_errors
def map_command() -> None:
    """Push a flood mask to an Earth Engine asset and/or write an HTML map (geemap)."""
    _not_built("map", "see the README's roadmap")


@data_app.command("download")
@user_errors
def data_download() -> None:
    """Download a public dataset (resumable, verified)."""
    _not_built("data download", "see the README's roadmap")


_CONFIG_HELP = "Training config (YAML), e.g. configs/ombria_teacher.yaml."


def _train_overrides(
    seed: int | None,
    max_steps: int | None,
    output_dir: Path | None,
    devices: str | None,
    num_nodes: int | None,
    accelerator: str | None,
    set_: list[str] | None,
) -> dict[str, Any]:
    from gee_flood.training.config import parse_set_options

    overrides: dict[str, Any] = parse_set_options(set_ or [])
    parsed_devices: Any = devices
    if devices is not None and devices.isdigit():
        parsed_devices = int(devices)
    explicit = {
        "trainer.seed": seed,
        "optim.max_steps": max_steps,
        "trainer.output_dir": str(output_dir) if output_dir is not None else None,
        "trainer.devices": parsed_devices,
        "trainer.num_nodes": num_nodes,
        "trainer.accelerator": accelerator,
    }
    overrides.update({key: value for key, value in explicit.items() if value is not None})
    return overrides


def _report_training(result: Any) -> None:
    typer.echo(f"run directory: {result.run_dir}")
    typer.echo(f"checkpoint:    {result.checkpoint}")
    typer.echo(
        f"validation water IoU {result.best_val_iou:.4f} at threshold {result.card.labels.threshold:.2f} "
        f"({result.summary.get('steps')} steps)"
    )


_Config = Annotated[Path, typer.Option("--config", help=_CONFIG_HELP)]
_Seed = Annotated[int | None, typer.Option(help="Seed (overrides trainer.seed).")]
_Steps = Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps (overrides optim.max_steps).")]
_Out = Annotated[Path | None, typer.Option("--output-dir", help="Parent folder of run directories.")]
_Devices = Annotated[str | None, typer.Option(help="Devices per node ('auto', a count); more than one uses DDP.")]
_Nodes = Annotated[int | None, typer.Option("--num-nodes", help="Nodes for multi-node DDP.")]
_Accel = Annotated[str | None, typer.Option(help="Accelerator: auto (CUDA when present), cpu, gpu.")]
_Set = Annotated[list[str] | None, typer.Option("--set", help="Any config override, key.path=value (repeatable).")]


@train_app.command("teacher")
@user_errors
def train_teacher(
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    output_dir: _Out = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
) -> None:
    """Train the teacher on paired S1 + S2 with hand labels."""
    from gee_flood.training.run import train_from_config

    overrides = _train_overrides(seed, max_steps, output_dir, devices, num_nodes, accelerator, set_)
    _report_training(train_from_config("teacher", config, overrides=overrides))


@train_app.command("student")
@user_errors
def train_student(
    teacher: Annotated[Path, typer.Option("--teacher", help="Teacher checkpoint (model.ckpt or Lightning .ckpt).")],
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    output_dir: _Out = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
) -> None:
    """Train the SAR-only student from hand labels and a teacher."""
    from gee_flood.training.run import train_from_config

    overrides = _train_overrides(seed, max_steps, output_dir, devices, num_nodes, accelerator, set_)
    _report_training(train_from_config("student", config, teacher=teacher, overrides=overrides))


@train_app.command("baseline")
@user_errors
def train_baseline(
    kind: Annotated[str, typer.Option("--kind", help="supervised (hand labels) or weak (weak labels, e.g. Otsu).")],
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    output_dir: _Out = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
) -> None:
    """Train a SAR-only baseline on hand labels or weak labels."""
    from gee_flood.training.run import train_from_config

    overrides = _train_overrides(seed, max_steps, output_dir, devices, num_nodes, accelerator, set_)
    _report_training(train_from_config("baseline", config, kind=kind, overrides=overrides))


@emulator_app.command("serve")
@user_errors
def emulator_serve() -> None:
    """Serve the Earth Engine emulator over a catalog of GeoTIFFs on loopback."""
    _not_built("emulator serve", "see the README's roadmap")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except GeeFloodError as error:  # raised outside a command (e.g. in a callback)
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
