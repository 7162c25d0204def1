"""``facies doctor``: what this machine offers facies (Python, packages, GPU, tier)."""

from __future__ import annotations

import typer
from facies.cli.console import console, print_json
from facies.cli.options import JSON
from facies.engine.doctor import report
from facies.engine.progress import human_rate


#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@app.command("doctor")
def doctor(as_json: bool = JSON) -> None:
    """Report Python and package versions, the GPU, its memory, and the tier facies will use."""
    rep = report()
    if as_json:
        print_json(rep)
        return
    console.print(f"[bold]facies[/] {rep['packages']['facies']}  Python {rep['python']}  {rep['platform']}")
    installed = [f"{k} {v}" for k, v in rep["packages"].items() if v and k != "facies"]
    missing = [k for k, v in rep["packages"].items() if not v]
    console.print("packages: " + ", ".join(installed))
    if missing:
        console.print("not installed: " + ", ".join(missing))
    host = rep["host"]
    console.print(f"host: {host['cpus']} CPUs, {human_rate(host['available_bytes'], 'B')} of "
                  f"{human_rate(host['total_bytes'], 'B')} available, "
                  f"brick budget {human_rate(host['brick_budget_bytes'], 'B')}")
    gpu = rep["gpu"]
    if not gpu["available"]:
        console.print(f"GPU: none ({gpu['reason']}); facies runs on the CPU with NumPy. Tier: none.")
        return
    console.print(f"GPU: {gpu['name']} (compute {gpu['compute_capability']}), "
                  f"driver CUDA {gpu['driver_cuda_version']}, "
                  f"runtime CUDA {gpu['runtime_cuda_version']}")
    console.print(f"GPU memory: {human_rate(gpu['free_bytes'], 'B')} free of {human_rate(gpu['total_bytes'], 'B')}; "
                  f"brick budget {human_rate(gpu['brick_budget_bytes'], 'B')}. Tier: {gpu['tier']}.")
