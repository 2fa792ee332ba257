"""bankworld: an independent generator of a company's books and bank feed, with ground truth.

Written from issue #14 and the notes on what real bank feeds look like, not from recon's own
generator: it is the measuring stick for the matching engine. ``build(rows, folder)`` writes
Plaid transaction JSON, a ledger CSV in the company's own convention, a config.yaml and the
truth files; :mod:`bankworld.score` scores recon's output against the truth; :mod:`bankworld.run`
runs recon's real file path (bank file reader, ledger loader through the config, engine).

Profiles: ``default`` (tune on this one) and ``holdout`` (:mod:`bankworld.holdout`; whoever
tunes the engine does not read it).
"""

from __future__ import annotations

from pathlib import Path

from .generator import FAMILY, World, generate
from .profile import DEFAULT, Profile
from .writer import REPO_CONFIG, write_world

__all__ = ["DEFAULT", "FAMILY", "REPO_CONFIG", "Profile", "World", "build", "generate",
           "profile_named", "write_world"]


def profile_named(name: str) -> Profile:
    if name == "default":
        return DEFAULT
    if name == "holdout":
        from .holdout import HOLDOUT

        return HOLDOUT
    raise ValueError(f"unknown bankworld profile {name!r} (default, holdout)")


def build(rows: int, folder: Path, profile: str = "default", seed: int | None = None,
          repo_config: Path = REPO_CONFIG) -> World:
    """Generate a world of about ``rows`` ledger rows and write its files into ``folder``."""
    world = generate(rows, profile_named(profile), seed)
    write_world(world, folder, repo_config)
    return world
