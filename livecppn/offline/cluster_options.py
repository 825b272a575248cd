"""The `--ray` options of `train --batch` and `render` (DESIGN §10). Light: no Ray import here."""

from __future__ import annotations

import argparse

LOCAL = "local"  # `--ray` with no address: a Ray started on this machine for the job (ray.init("local"))


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_ray_options(p: argparse.ArgumentParser, what: str) -> argparse._ArgumentGroup:
    g = p.add_argument_group("cluster (Ray; pip install 'livecppn[cluster]')")
    g.add_argument("--ray", nargs="?", const=LOCAL, metavar="ADDRESS",
                   help=f"run {what} on a Ray cluster: ADDRESS is auto (the cluster this machine joined with "
                        "`ray start`), ray://HOST:10001 (a remote cluster), or nothing (a Ray started here)")
    g.add_argument("--ray-cpus-per-task", type=positive_float, default=1.0, metavar="N",
                   help="CPUs each task asks for (tasks ask for one GPU each where the cluster has GPUs, "
                        "else for these CPUs; default 1)")
    return g


def resources(ray, cpus_per_task: float) -> tuple[float, float]:
    """(GPUs, CPUs) one task asks for: one GPU and one CPU where the cluster has GPUs, else the CPUs given."""
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return 1.0, 1.0
    return 0.0, cpus_per_task
