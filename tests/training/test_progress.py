"""The progress bar counts the run's iterations (not Lightning's epochs), with rate and ETA, on a
terminal and in a log file alike, and rounds the losses it shows."""

from __future__ import annotations

import re

import pytest

from helpers import fit, tiny_module
from ugatit.training.progress import IterationProgressBar, format_duration, format_value

pytestmark = pytest.mark.usefixtures("one_thread")


def train_with_bar(bar: IterationProgressBar, iterations: int, **trainer_kwargs):
    module = tiny_module(schedule={"max_iterations": iterations})
    fit(module, callbacks=[bar], enable_progress_bar=True, **trainer_kwargs)
    return module


def test_plain_lines_count_iterations_of_the_whole_run_with_eta(capsys):
    # 4 pairs per epoch: 10 iterations cross Lightning's epoch boundary twice
    train_with_bar(
        IterationProgressBar(every=3, min_interval_s=0, live=False),
        iterations=10,
        log_every_n_steps=1,
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("iteration")]
    shown = [int(re.match(r"iteration (\d+)/10", line).group(1)) for line in lines]
    assert shown == [3, 6, 9, 10]
    pattern = r"iteration 6/10 \(60%\) · [\d.]+ it/s · elapsed \d+:\d\d · ETA \d+:\d\d"
    assert re.match(pattern, lines[1])
    # the step totals of the method, rounded to 3 significant digits
    losses = re.findall(r"\b(d|g) (\S+)", lines[-1])
    assert [name for name, _ in losses] == ["d", "g"]
    assert all(len(value.replace(".", "").lstrip("0")) <= 3 for _, value in losses)


def test_interval_defaults_to_the_trainer_log_interval(capsys):
    train_with_bar(IterationProgressBar(min_interval_s=0, live=False), 6, log_every_n_steps=2)
    shown = re.findall(r"^iteration (\d+)/6", capsys.readouterr().out, re.M)
    assert shown == ["2", "4", "6"]


def test_a_fast_run_prints_at_most_one_line_per_interval_and_always_the_last(capsys):
    train_with_bar(IterationProgressBar(min_interval_s=3600, live=False), 6, log_every_n_steps=1)
    shown = re.findall(r"^iteration (\d+)/6", capsys.readouterr().out, re.M)
    assert shown == ["6"]


def test_live_bar_ends_on_the_last_iteration(capsys):
    train_with_bar(IterationProgressBar(live=True), iterations=5, log_every_n_steps=1)
    out = capsys.readouterr().out
    assert "iteration 5/5 (100%)" in out and "Epoch" not in out


def test_resumed_run_counts_from_where_it_stopped(tmp_path, capsys):
    module = tiny_module(schedule={"max_iterations": 6})
    trainer = fit(
        module,
        callbacks=[IterationProgressBar(live=False)],
        enable_progress_bar=True,
        log_every_n_steps=2,
    )
    module.iteration = 4  # as a checkpoint at iteration 4 would restore it
    bar = IterationProgressBar(live=False)
    bar.on_train_start(trainer, module)
    assert "resuming at iteration 4/6" in capsys.readouterr().out


def test_bad_intervals_are_refused():
    with pytest.raises(ValueError, match="every must be at least 1"):
        IterationProgressBar(every=0)
    with pytest.raises(ValueError, match="min_interval_s must be 0 or more"):
        IterationProgressBar(min_interval_s=-1)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (65.4, "1:05"), (3725, "1:02:05"), (-3, "0:00")]
)
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def test_values_keep_three_significant_digits():
    assert [format_value(v) for v in (0.123456, 43.96, 1234.5, 1e-5)] == [
        "0.123",
        "44",
        "1.23e+03",
        "1e-05",
    ]
