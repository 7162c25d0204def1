"""``facies gtm show``: pictures of a fitted GTM and a CSV of its facies PDFs, into a folder.

- ``<m>_latent_density.png``: the latent square coloured by the sample's density (mean responsibilities);
- ``<m>_facies_pdfs.png``: each facies' distribution over the same grid;
- ``<m>_colour_key.png``: the 2D colour bar that maps latent coordinates (u1, u2) to a colour;
- ``<m>_time_slice.png``: a time (or depth) slice of the survey coloured by (u1, u2) through that colour
  bar, beside the facies codes (only once ``facies gtm project`` has written ``<m>_u1``, ``<m>_u2``);
- ``<m>_pdfs.csv``: node index, u1, u2, one column per facies.

Like ``facies select --out``, the folder is checked before anything is drawn: a file of those names
that ``facies gtm show`` did not write is refused, and one it wrote is replaced only with ``overwrite``;
a folder inside a survey store is refused (as SEG-Y exports are).
Each file is written whole under a temporary name and moved into place.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.gtm.model import GtmModel
from facies.engine.gtm.model_io import load_gtm
from facies.engine.gtm.operator import output_names
from facies.engine.paths import check_new_path, file_head, refuse_inside_store, written_then_moved

#: Written into every PNG's metadata (``Title``): how show knows its own pictures.
MARK = "facies gtm show"
#: How the CSV of the PDFs begins (how show knows its own table).
CSV_HEADER = "node,u1,u2,"
#: Colours of the corners (u1, u2) = (-1, -1), (1, -1), (-1, 1), (1, 1) of the latent square.
CORNERS = np.array([[0.15, 0.35, 0.85], [0.90, 0.20, 0.15], [0.15, 0.75, 0.30], [0.98, 0.85, 0.15]])
#: Colour of voxels without latent coordinates (dead traces, NaN).
NO_DATA = np.array([0.85, 0.85, 0.85])


@dataclass
class ShowResult:
    """Files written, and what was left out (and why)."""

    files: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def output_files(out_dir, model: str) -> dict[str, Path]:
    """The files of ``show`` in ``out_dir``, by role."""
    out = Path(out_dir)
    return {"density": out / f"{model}_latent_density.png", "pdfs": out / f"{model}_facies_pdfs.png",
            "key": out / f"{model}_colour_key.png", "slice": out / f"{model}_time_slice.png",
            "csv": out / f"{model}_pdfs.csv"}


def written_by_show(path: Path) -> bool:
    """Whether ``path`` is a plain file ``facies gtm show`` wrote (its mark in a PNG's text, a CSV's header)."""
    head = file_head(path)
    if head is None:
        return False
    if path.suffix == ".csv":
        return head.startswith(CSV_HEADER.encode())
    return head.startswith(b"\x89PNG") and MARK.encode() in head


def check_out_folder(out_dir, model: str, *, overwrite: bool) -> dict[str, Path]:
    """Make the folder and refuse, before drawing anything, files show may not replace.

    Raises
    ------
    FaciesError
        ``out_dir`` is a file or not writable; it holds a file of show's names that show did not write,
        or one it wrote without ``overwrite``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FaciesError(f"--out {out} is a file; give a folder for the pictures")
    check_new_path(out, "--out folder", hint="choose another --out", parent_must_exist=False)
    refuse_inside_store(out, "pictures")
    paths = output_files(out, model)
    for path in paths.values():
        if path.exists() or path.is_symlink():
            if not written_by_show(path):
                raise FaciesError(f"--out {out} holds {path.name}, which facies gtm show did not write; facies "
                                  "replaces only its own files: move it away or choose another --out")
            if not overwrite:
                raise FaciesError(f"--out {out} holds {path.name} from an earlier facies gtm show; pass --overwrite "
                                  "to replace it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise FaciesError(f"cannot write into the --out folder {out}; check its permissions or choose another --out")
    return paths


def latent_colours(u1, u2) -> np.ndarray:
    """RGB of latent coordinates: the corner colours blended bilinearly over [-1, 1]^2; grey where NaN."""
    u1, u2 = np.asarray(u1, dtype=np.float64), np.asarray(u2, dtype=np.float64)
    a = np.clip((u1 + 1) / 2, 0, 1)[..., None]
    b = np.clip((u2 + 1) / 2, 0, 1)[..., None]
    rgb = (1 - a) * (1 - b) * CORNERS[0] + a * (1 - b) * CORNERS[1] + (1 - a) * b * CORNERS[2] + a * b * CORNERS[3]
    missing = ~(np.isfinite(u1) & np.isfinite(u2))
    rgb[missing] = NO_DATA
    return rgb


def show_model(survey, model_name: str, out_dir, *, overwrite: bool = False, sample: float | None = None) -> ShowResult:
    """Draw the pictures and write the CSV of ``gtm_models/<model_name>`` into ``out_dir``.

    Parameters
    ----------
    survey : Survey
    model_name : str
    out_dir : path-like
    overwrite : bool
        Replace files an earlier ``show`` wrote.
    sample : float, optional
        Time (or depth) of the slice; default: the middle of the survey.
    """
    model = load_gtm(survey, model_name)
    g = survey.geometry
    if sample is not None and not (g.samples[0] <= sample <= g.samples[-1]):
        raise FaciesError(f"--{g.sample_axis} {sample:g} lies outside the survey ({g.samples[0]:g}.."
                          f"{g.samples[-1]:g} {g.sample_unit})")
    paths = check_out_folder(out_dir, model.name, overwrite=overwrite)
    result = ShowResult()
    grid = model.grid
    written_then_moved(paths["density"], lambda p: draw_density(model, p, grid))
    written_then_moved(paths["pdfs"], lambda p: draw_pdfs(model, p, grid))
    written_then_moved(paths["key"], lambda p: draw_key(model, p))
    written_then_moved(paths["csv"], lambda p: _write_csv(model, p))
    result.files = {k: v for k, v in paths.items() if k != "slice"}
    u_names = output_names(model)["latent"]
    classes = output_names(model)["classes"]
    complete = set(survey.volumes())
    stale = [n for n in (*u_names, classes) if n in complete and projected_by(survey, n) != model.sha256]
    if stale:
        result.skipped["slice"] = (f"{', '.join(stale)} were not projected with this model (refitted since, or "
                                   f"made by another command): run facies gtm project {survey.path} --model "
                                   f"{model.name} --overwrite first")
    elif all(n in complete for n in (*u_names, classes)):
        index = survey.shape[2] // 2 if sample is None else int(np.argmin(np.abs(g.samples - sample)))
        with survey.reading(*u_names, classes):
            u1, u2 = (survey.read(n, sample=index) for n in u_names)
            codes = survey.read(classes, sample=index)
        title = f"{g.sample_axis} {g.samples[index]:g} {g.sample_unit}"
        written_then_moved(paths["slice"], lambda p: draw_slice(model, p, u1, u2, codes, title, g))
        result.files["slice"] = paths["slice"]
    else:
        result.skipped["slice"] = (f"no complete {', '.join(u_names)} and {classes} yet: run facies gtm project "
                                   f"{survey.path} --model {model.name} first")
    return result


def projected_by(survey, name: str) -> str | None:
    """The sha256 of the GTM model whose projection wrote ``name`` (from its provenance), or None."""
    operators = survey.provenance(name).get("parameters", {}).get("operators") or [{}]
    first = operators[0] if isinstance(operators[0], dict) else {}
    return first.get("sha256") if first.get("operator") == "GtmOperator" else None


# -- drawing (also used by facies report, engine/report/) --------------------------------------------------------


def _pyplot():
    import matplotlib  # noqa: PLC0415 - only when pictures are drawn

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _image(values: np.ndarray, grid: int) -> np.ndarray:
    """A per-node quantity as an image with u1 across and u2 up (``origin="lower"``)."""
    return np.asarray(values).reshape(grid, grid).T


def _save(fig, path: Path | BinaryIO) -> None:
    fig.savefig(path, dpi=100, format="png", metadata={"Title": MARK})  # the temporary name has no .png suffix
    _pyplot().close(fig)


def draw_density(model: GtmModel, path: Path | BinaryIO, grid: int) -> None:
    """The latent square coloured by the sample's density.

    ``path``: a file name, or a binary stream (``facies report`` embeds the PNG).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.8), constrained_layout=True)
    image = ax.imshow(_image(model.density, grid), origin="lower", extent=(-1, 1, -1, 1), cmap="viridis")
    fig.colorbar(image, ax=ax, label="mean responsibility of the sample")
    ax.set_xlabel("u1")
    ax.set_ylabel("u2")
    ax.set_title(f"GTM {model.name}: {model.sample_size} sample voxels on a {grid} x {grid} map", fontsize=9)
    _save(fig, path)


def draw_pdfs(model: GtmModel, path: Path | BinaryIO, grid: int) -> None:
    """Each facies' distribution on the latent square.

    ``path``: a file name, or a binary stream (``facies report`` embeds the PNG).
    """
    plt = _pyplot()
    c = len(model.facies_names)
    fig, axes = plt.subplots(1, c, figsize=(3.6 * c, 3.6), constrained_layout=True, squeeze=False)
    for ax, facies, pdf in zip(axes[0], model.facies_names, model.pdfs):
        image = ax.imshow(_image(pdf, grid), origin="lower", extent=(-1, 1, -1, 1), cmap="magma")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(facies)
        ax.set_xlabel("u1")
    axes[0][0].set_ylabel("u2")
    fig.suptitle(f"facies distributions on GTM {model.name} (training table {model.training})")
    _save(fig, path)


def draw_key(model: GtmModel, path: Path | BinaryIO) -> None:
    """The 2D colour key of (u1, u2), each facies' peak marked.

    ``path``: a file name, or a binary stream (``facies report`` embeds the PNG).
    """
    plt = _pyplot()
    u = np.linspace(-1, 1, 129)
    uu1, uu2 = np.meshgrid(u, u, indexing="xy")
    fig, ax = plt.subplots(figsize=(4.2, 4), constrained_layout=True)
    ax.imshow(latent_colours(uu1, uu2), origin="lower", extent=(-1, 1, -1, 1))
    best = np.argmax(model.pdfs, axis=1)  # where each facies peaks on the map
    for facies, k in zip(model.facies_names, best):
        ax.plot(*model.latent[k], "o", mfc="none", mec="k")
        ax.annotate(facies, model.latent[k], textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("u1")
    ax.set_ylabel("u2")
    ax.set_title(f"colour of (u1, u2), GTM {model.name}", fontsize=9)
    _save(fig, path)


def draw_slice(model: GtmModel, path: Path | BinaryIO, u1, u2, codes, title: str, g) -> None:
    """A slice coloured by (u1, u2) through the key, beside the facies codes.

    ``path``: a file name, or a binary stream (``facies report`` embeds the PNG).
    """
    plt = _pyplot()
    fig, (ax_u, ax_c) = plt.subplots(1, 2, figsize=(11, 4.8), constrained_layout=True)
    extent = (float(g.crosslines[0]), float(g.crosslines[-1]), float(g.inlines[0]), float(g.inlines[-1]))
    ax_u.imshow(latent_colours(u1, u2), origin="lower", extent=extent, aspect="auto", interpolation="nearest")
    ax_u.set_title(f"(u1, u2) through the colour key, {title}", fontsize=9)
    cmap = plt.get_cmap("tab10", len(model.codes) + 1)
    image = ax_c.imshow(codes, origin="lower", extent=extent, aspect="auto", interpolation="nearest", cmap=cmap,
                        vmin=-0.5, vmax=len(model.codes) + 0.5)
    bar = fig.colorbar(image, ax=ax_c, ticks=[0, *model.codes])
    bar.ax.set_yticklabels(["no data", *model.facies_names])
    ax_c.set_title(f"facies_{model.name}, {title}", fontsize=9)
    for ax in (ax_u, ax_c):
        ax.set_xlabel("crossline")
        ax.set_ylabel("inline")
    _save(fig, path)


def _write_csv(model: GtmModel, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["node", "u1", "u2", *model.facies_names])
        for k, (z, column) in enumerate(zip(model.latent, model.pdfs.T)):
            w.writerow([k, f"{z[0]:.6g}", f"{z[1]:.6g}", *(f"{p:.9g}" for p in column)])
