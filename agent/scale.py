"""Scale out on Ray: ``nav3d eval --ray`` and ``nav3d language-data --ray``.

``--ray`` with no value runs on the Ray instance of this machine (``ray.init()``: started, or
attached when one runs); ``--ray ADDRESS`` attaches to a cluster (``ray.init(address=ADDRESS)``:
``HOST:PORT`` of a head started with ``ray start --head``, ``ray://HOST:PORT`` for Ray Client, or
``auto``). A process that already called ``ray.init`` keeps its instance.

- Evaluation (``run_episodes``): one actor per worker (``EpisodeEvalConfig.workers``, each reserving
  ``threads`` CPUs and setting that many torch threads) runs ``episode_eval.EpisodeWorker``, which
  keeps the env of its last scene loaded. Episodes are handed out in scene order by an ``ActorPool``,
  so each actor's episodes come in scene order too and it loads each scene at most once. Rows come
  back as episodes finish and the driver appends them to ``results.jsonl`` exactly as a local run
  does; trajectory images and rollouts are written by the actors, so with a cluster ``--out`` (and
  ``--record``) must be a folder every node can write (a shared file system).
- Language data (``run_scenes``): one task per scene runs ``language_dataset.scene_data`` (the same
  function as the local path) and returns its features and records; the driver writes every file.

Ray is an optional dependency (``pip install -e '.[scale]'``), imported only here.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    from agent.episode_eval import EpisodeEvalConfig

MISSING = "Ray is not installed; install the scale extra: pip install -e '.[scale]'"
PROBE_SECONDS = 5.0


def ray_module():
    """The ``ray`` module, or an ``ImportError`` that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(MISSING) from exc
    return ray


def connect(address: str | bool):
    """The ``ray`` module with a Ray instance running in this process: ``True``, this machine's; a
    string, the cluster at that address (module doc)."""
    ray = ray_module()
    if address is not True:
        address = str(address).strip()
        check_address(address)
    if ray.is_initialized():
        return ray
    if address is True:
        ray.init()
        return ray
    try:
        ray.init(address=address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConnectionError(f"could not attach to the Ray cluster at {address!r} ({exc}); {_ADVICE}") from exc
    return ray


_ADVICE = "start a head with `ray start --head` and pass the address it prints (HOST:6379, or ray://HOST:10001), or pass --ray with no address for a local instance"


def check_address(address: str) -> None:
    """Raise ``ValueError`` for an address that is not ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``, and
    ``ConnectionError`` when nothing listens there (Ray itself would retry for minutes)."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--ray {address!r} is not a Ray address; {_ADVICE}")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ConnectionError(f"no Ray cluster answers at {address!r} ({exc}); {_ADVICE}") from exc


def run_episodes(episodes: Sequence, config: EpisodeEvalConfig, trajectories: Path, record: Path | None, address: str | bool) -> Iterator[dict]:
    """Evaluate ``episodes`` on Ray actors (module doc); yields each result row as it finishes."""
    from agent.episode_eval import EpisodeWorker

    ray = connect(address)
    from ray.util import ActorPool

    ordered = sorted(episodes, key=lambda e: e.scene_id)  # stable: dataset order within a scene
    worker = ray.remote(num_cpus=config.threads)(EpisodeWorker)
    actors = [worker.remote(config, trajectories, record) for _ in range(min(config.workers, len(ordered)))]
    try:
        yield from ActorPool(actors).map_unordered(lambda actor, episode: actor.run.remote(episode), ordered)
    finally:
        for actor in actors:
            ray.kill(actor)


def run_scenes(function: Callable[..., Any], jobs: Iterable[dict[str, Any]], threads: int, address: str | bool) -> Iterator[Any]:
    """``function(**job)`` of every job as Ray tasks of ``threads`` CPUs (and torch threads); yields
    the results as they finish."""
    ray = connect(address)
    task = ray.remote(num_cpus=threads)(_with_threads)
    pending = [task.remote(function, threads, job) for job in jobs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def _with_threads(function: Callable[..., Any], threads: int, job: dict[str, Any]) -> Any:
    from agent.threads import cpu_threads

    with cpu_threads(threads):
        return function(**job)
