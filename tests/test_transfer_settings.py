"""config.toml's file settings reach the node's configuration, checked."""

import pytest

from p2ptui.cli import build_parser
from p2ptui.settings import UsageError, resolve_settings


def _settings(tmp_path, text):
    (tmp_path / "config.toml").write_text(text)
    return resolve_settings(build_parser().parse_args(["--config-dir", str(tmp_path), "--name", "dana"]))


def test_downloads_and_the_size_cap_from_config_toml(tmp_path):
    config = _settings(tmp_path, 'downloads = "~/inbox"\nmax_file_size = 1048576\n').node_config()
    assert config.downloads is not None and config.downloads.name == "inbox" and "~" not in str(config.downloads)
    assert config.max_file_size == 1048576
    default = _settings(tmp_path, "").node_config()
    assert default.downloads is None and default.max_file_size == 64 * 2**30
    assert not _settings(tmp_path, 'downloads = "/tmp"\n').warnings  # a known key


@pytest.mark.parametrize("text", ['downloads = ""\n', "downloads = 3\n", "max_file_size = -1\n",
                                  'max_file_size = "big"\n', "max_file_size = true\n"])
def test_bad_file_settings_are_usage_errors(tmp_path, text):
    with pytest.raises(UsageError):
        _settings(tmp_path, text)
