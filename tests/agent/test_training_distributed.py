"""``nav3d train`` under torchrun: two CPU processes (gloo, one thread each) do the optimisation of one
process on the same data, rank 0 alone writes the log and the checkpoint, a DDP checkpoint resumes
with two processes and with one; the launch environment, the shares of a batch and the
mixed-precision settings."""

import json
import multiprocessing
import os
import socket
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.cli import main
from agent.distributed import SINGLE, Launch, launch_from_env, rank_part
from agent.llm3d import ThreeDLLM
from agent.train_config import TrainConfig
from agent.training import CHECKPOINT_DIR, LOG_FILE, SCALER_FILE, _optimizer_step, read_trainer_state, save_checkpoint, train
from tests.agent.test_training import _config, dataset, fixed, trained  # noqa: F401  (fixtures shared with the one-process tests)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[2]
LAUNCH_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _torchrun_train(data: Path, out: Path, *extra: str) -> str:
    """``torchrun --standalone --nproc_per_node 2 -m agent.cli train`` with ``_config``'s settings; its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "agent.cli", "train",
        "--data", str(data), "--out", str(out), "--preset", "tiny", "--steps", "30", "--batch-size", "8", "--lr", "5e-3",
        "--warmup", "3", "--eval-every", "10", "--checkpoint-every", "10", "--log-every", "1", "--threads", "1", "--no-progress", *extra,
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done.stdout


def _rank_main(rank: int, port: int, data: Path, out: Path) -> None:
    """One of two processes resuming ``_config``'s run, with the environment torchrun would give it."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    train(_config(data, out, resume=True))


def _forked_resume(data: Path, out: Path) -> None:
    """Resume in two forked processes (torchrun's launch without its start-up time: the modules are loaded)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = multiprocessing.get_context("fork")
    ranks = [context.Process(target=_rank_main, args=(rank, port, data, out)) for rank in range(2)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout=120)
    for process in ranks:
        if process.is_alive():
            process.kill()
    assert [process.exitcode for process in ranks] == [0, 0]


def test_two_processes_train_like_one_and_resume(trained, fixed, tmp_path):  # noqa: F811
    full, _ = trained
    out = tmp_path / "ddp"
    first = _torchrun_train(fixed, out, "--stop-at", "15")
    assert first.count("trained steps 0..15 of 30") == 1 and "x 2 processes" in first, first  # rank 0 reports
    state = read_trainer_state(out / CHECKPOINT_DIR)
    assert state["step"] == 15 and state["world_size"] == 2
    single = tmp_path / "single"
    shutil.copytree(out, single)
    _forked_resume(fixed, out)

    log = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert [e["step"] for e in log if "loss" in e] == list(range(1, 31)), "rank 0 alone logs, each step once"
    assert [e["step"] for e in log if "val_loss" in e] == [10, 15, 20, 30]
    losses = np.array([e["loss"] for e in log if "loss" in e])
    # each step's global batch is the one-process batch split between the ranks (token-weighted), so
    # the curves agree to rounding (measured: 3e-7 relative); bound well above float noise
    assert np.allclose(losses, full.losses, rtol=1e-3), (losses, full.losses)
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    val = [e["val_loss"] for e in log if "val_loss" in e]
    assert val[-1] == pytest.approx(full.val_loss, rel=1e-3)

    assert read_trainer_state(out / CHECKPOINT_DIR)["step"] == 30
    assert ThreeDLLM.from_pretrained(out / CHECKPOINT_DIR, feature_dim=384).config.bins == 64
    assert sorted(p.name for p in out.iterdir()) == sorted([CHECKPOINT_DIR, LOG_FILE, "tokenizer"]), "no temporary folders left"

    # the step-15 DDP checkpoint continues in one process as well
    resumed = train(_config(fixed, single, resume=True))
    assert resumed.start_step == 15 and resumed.world_size == 1
    assert np.allclose(resumed.losses, full.losses[15:], rtol=1e-3), (resumed.losses, full.losses[15:])


def test_launch_environment_and_batch_shares():
    assert launch_from_env({}) == SINGLE and SINGLE.is_main and not SINGLE.distributed
    launch = launch_from_env({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"})
    assert launch == Launch(rank=1, local_rank=1, world_size=2) and launch.distributed and not launch.is_main
    with pytest.raises(ValueError, match="must be integers"):
        launch_from_env({"RANK": "a", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="RANK=2, LOCAL_RANK=2, WORLD_SIZE=2"):
        launch_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    items = [5, 3, 8, 1, 9, 2, 7]
    shares = [rank_part(items, Launch(rank, rank, 3)) for rank in range(3)]
    assert shares == [[5, 3, 8], [1, 9], [2, 7]], "contiguous, sizes differing by at most one"
    assert rank_part(items, SINGLE) == items


def test_mixed_precision_and_launch_settings(fixed, tmp_path, capsys, monkeypatch):  # noqa: F811
    assert TrainConfig("d", "o").precision("cpu") == "no"
    assert TrainConfig("d", "o", preset="gpu").precision("cuda") == "bf16"
    assert TrainConfig("d", "o", bf16=True).precision("cpu") == "bf16"
    assert TrainConfig("d", "o", mixed_precision="fp16").precision("cuda") == "fp16"
    with pytest.raises(ValueError, match="fp16 mixed precision needs a CUDA device"):
        TrainConfig("d", "o", mixed_precision="fp16").precision("cpu")
    with pytest.raises(ValueError, match="bf16=True contradicts mixed_precision='no'"):
        TrainConfig("d", "o", bf16=True, mixed_precision="no")
    with pytest.raises(ValueError, match="mixed_precision must be None or one of"):
        TrainConfig("d", "o", mixed_precision="fp8")

    args = ["train", "--data", str(fixed), "--preset", "tiny", "--steps", "2", "--batch-size", "4", "--no-progress", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "fp16"), "--mixed-precision", "fp16"]) == 2
    assert "nav3d train: error: fp16 mixed precision needs a CUDA device" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "no"), "--mixed-precision", "no"]) == 0
    assert read_trainer_state(tmp_path / "no" / CHECKPOINT_DIR)["config"]["mixed_precision"] == "no"
    capsys.readouterr()
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "0")
    assert main([*args, "--out", str(tmp_path / "many")]) == 2, "checked before joining a process group"
    assert "--batch-size 4 is smaller than the 8 processes" in capsys.readouterr().err


def test_fp16_gradient_scaler_steps_and_is_checkpointed(trained, tmp_path):  # noqa: F811
    # fp16 runs on CUDA only; the scaler's part of a step and of a checkpoint, with torch's CPU scaler
    _, done = trained
    model = ThreeDLLM.from_pretrained(done / CHECKPOINT_DIR)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = [p.detach().clone() for p in model.parameters()]
    scaler.scale(sum(p.float().square().sum() for p in model.parameters())).backward()
    _optimizer_step(model, optimizer, scaler, grad_clip=1.0)
    assert any(not torch.equal(old, new) for old, new in zip(before, model.parameters())), "a finite step is taken"
    assert all(p.grad is None for p in model.parameters())
    folder = save_checkpoint(tmp_path / CHECKPOINT_DIR, model, optimizer, {"format": "x", "step": 1}, scaler)
    assert torch.load(folder / SCALER_FILE, weights_only=True)["scale"] == 1024.0
