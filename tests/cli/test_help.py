"""Every `--help` page renders whole: no text lost to markup, flags shown as flags."""

from __future__ import annotations

import typer

from gato_eval.cli import app


def every_command(group=None, path=()):
    """(path of names, click command) for the app, its groups and every command in them."""
    group = group or typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from every_command(command, (*path, name))


def squeeze(text: str) -> str:
    # Help is rewrapped (and may break at a hyphen): compare without any whitespace.
    return "".join(text.split())


def test_every_help_page_shows_all_its_text_and_flags_without_a_value_placeholder(cli):
    pages = list(every_command())
    assert len(pages) > 15  # the app, its groups and their commands
    for path, command in pages:
        result = cli(*path, "--help")
        where = "gato-eval " + " ".join(path)
        assert result.exit_code == 0, (where, result.stderr)
        page = squeeze(result.stdout)
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            for paragraph in text.split("\n\n"):
                assert squeeze(paragraph) in page, (where, paragraph)  # e.g. "[ray]" kept
        assert "<bool>" not in result.stdout, where
        for param in command.params:
            if getattr(param, "is_flag", False) and not param.hidden:
                line = next(ln for ln in result.stdout.splitlines() if param.opts[0] in ln)
                after = line.split(param.opts[0], 1)[1].split()
                assert not after or not after[0].startswith("<"), (where, line)


def test_run_suite_help_keeps_the_ray_extra_and_shows_resume_as_a_flag(cli):
    page = cli("run", "suite", "--help").stdout
    assert squeeze('pip install "gato-eval[ray]"') in squeeze(page)
    resume = next(line for line in page.splitlines() if line.strip().startswith("--resume"))
    assert resume.split()[1] == "Continue"  # `--resume Continue the ...`: no value placeholder


def test_a_value_after_a_flag_is_a_usage_error_that_says_so(cli, tmp_path):
    result = cli("run", "suite", "--resume", "true", "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "flags take no value (write --resume, not --resume true)" in result.stderr


def test_a_bare_group_prints_its_help(cli):
    for path in ((), ("data",), ("run",), ("plot",), ("ls",)):
        result = cli(*path)
        assert result.exit_code == 0
        assert result.stdout.startswith(f"Usage: gato-eval {' '.join(path)}".rstrip()), path
        assert "Commands:" in result.stdout
