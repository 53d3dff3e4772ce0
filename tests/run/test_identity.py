"""What a resumed run must match (`gato_eval.run.identity`), through the real `run suite`."""

from __future__ import annotations

import json

SUITE = {
    "name": "tiny-metaworld",
    "version": 1,
    "episodes": 2,
    "tasks": ["metaworld-reach"],
    "max_episode_steps": {"metaworld": 3},
}


def test_resuming_a_run_recorded_under_the_old_goal_variant_rule_is_refused(cli, tmp_path):
    suite_file = tmp_path / "suite.json"
    suite_file.write_text(json.dumps(SUITE))
    out = tmp_path / "run"
    result = cli("run", "suite", suite_file, "--model", "random", "--out", out)
    assert result.exit_code == 0, result.stderr
    # Make it the run an older gato-eval wrote: one episode in, Meta-World variants by seed.
    metadata_file = out / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    options = metadata["tasks"]["metaworld-reach"]["options"]
    del options["goal_variant_rule"]
    options["goal_choice"] = "reset seed % goal_variants"
    metadata_file.write_text(json.dumps(metadata))
    episodes = out / "episodes.jsonl"
    episodes.write_text(episodes.read_text().splitlines(keepends=True)[0])
    before = episodes.read_bytes()
    result = cli("run", "suite", "--resume", "--out", out)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot resume {out}: its Meta-World episodes")
    assert "reset seed % goal_variants" in result.stderr and "start a new run" in result.stderr
    assert episodes.read_bytes() == before
