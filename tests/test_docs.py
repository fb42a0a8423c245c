from pathlib import Path

from rag.settings import settings_help

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    missing = [var for var, _, _ in settings_help() if f"| `{var}` |" not in README]
    assert not missing, f"add these settings to the README table: {missing}"


def test_readme_table_lists_no_unknown_setting():
    known = {var for var, _, _ in settings_help()}
    listed = {line.split("`")[1] for line in README.splitlines() if line.startswith("| `RAG_")}
    assert listed == known


def test_readme_table_gives_each_setting_its_default_and_help():
    stale = [var for var, default, help_ in settings_help() if f"| `{var}` | `{default}` | {help_} |" not in README]
    assert not stale, f"the README row of these settings differs from rag/settings.py: {stale}"
