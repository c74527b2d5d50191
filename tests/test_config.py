"""config.toml: the settings the TUI saves (theme, bell), written without losing the others."""

import os
import tomllib

import pytest

from p2ptui.cli import build_parser, main
from p2ptui.net.config import ConfigError, update_config_file
from p2ptui.settings import UsageError, resolve_settings, ui_preferences


def test_update_config_file_is_atomic_keeps_the_mode_and_follows_a_symlink(tmp_path):
    real = tmp_path / "dotfiles" / "p2ptui.toml"
    real.parent.mkdir()
    real.write_text('name = "dana"\n')
    real.chmod(0o600)
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "config.toml").symlink_to(real)
    update_config_file(directory, theme="nord")
    assert (directory / "config.toml").is_symlink()
    assert tomllib.loads(real.read_text()) == {"name": "dana", "theme": "nord"}
    assert real.stat().st_mode & 0o777 == 0o600
    assert os.listdir(directory) == ["config.toml"] and os.listdir(real.parent) == ["p2ptui.toml"]  # no leftovers


def test_update_config_file_creates_the_directory(tmp_path):
    update_config_file(tmp_path / "new", bell=True)
    assert (tmp_path / "new" / "config.toml").read_text() == "bell = true\n"


def test_update_config_file_refuses_a_broken_file(tmp_path):
    (tmp_path / "config.toml").write_text("[[[")
    with pytest.raises(ConfigError):
        update_config_file(tmp_path, bell=True)


def test_theme_and_bell_from_the_config_file(tmp_path):
    (tmp_path / "config.toml").write_text('theme = "nord"\nbell = true\n')
    settings = resolve_settings(build_parser().parse_args(["--config-dir", str(tmp_path), "--name", "dana"]))
    assert (settings.theme, settings.bell) == ("nord", True)
    assert ui_preferences({}) == (None, False)
    with pytest.raises(UsageError, match="bad bell"):
        ui_preferences({"bell": "yes"})
    with pytest.raises(UsageError, match="bad theme"):
        ui_preferences({"theme": 7})


def test_lan_discovery_is_on_unless_config_toml_turns_it_off(tmp_path):
    assert _settings(tmp_path).node_config().lan is True
    (tmp_path / "config.toml").write_text("lan = false\n")
    settings = _settings(tmp_path)
    assert settings.node_config().lan is False
    assert not any("unknown setting" in warning for warning in settings.warnings)  # A known key.
    (tmp_path / "config.toml").write_text('lan = "no"\n')
    with pytest.raises(UsageError, match="bad lan"):
        _settings(tmp_path)


def _settings(tmp_path, *args):
    return resolve_settings(build_parser().parse_args(["--config-dir", str(tmp_path), "--name", "dana", *args]))


def test_relays_spraying_and_the_direct_retry_from_the_command_line_and_the_file(tmp_path):
    (tmp_path / "config.toml").write_text(
        'turn = ["turn://dana:s%40cret@turn.example:3479"]\ndirect_retry = 30\n'
        "[spray]\nsockets = 64\nprobes = 512\n"
    )
    settings = _settings(tmp_path)
    (server,) = settings.turn
    assert (server.host, server.port, server.username, server.password) == ("turn.example", 3479, "dana", "s@cret")
    config = settings.node_config()
    assert config.turn_servers == settings.turn and config.session.direct_retry_interval == 30
    assert (config.spray.sockets, config.spray.probes, config.spray.rate) == (64, 512, 512.0)
    # The command line wins over the file.
    settings = _settings(tmp_path, "--turn", "turn://a:b@198.51.100.1", "--direct-retry", "5")
    assert [s.host for s in settings.turn] == ["198.51.100.1"] and settings.direct_retry == 5


@pytest.mark.parametrize(
    "text, error",
    [
        ('turn = ["stun://a:b@h:1"]', "bad --turn"),
        ('turn = ["turn://h:3478"]', "bad --turn"),  # no credentials
        ('turn = "turn://a:b@h"', "bad turn"),
        ("direct_retry = 0", "bad direct_retry"),
        ("[spray]\nsockets = 100000", "sockets"),
        ("[spray]\nbudget = 3600", "budget"),
        ("[spray]\nports = 5", "it takes"),
        ('spray = "on"', "it takes"),
    ],
)
def test_bad_relay_and_spraying_settings_say_what_is_wrong(tmp_path, text, error):
    (tmp_path / "config.toml").write_text(text + "\n")
    with pytest.raises(UsageError, match=error):
        _settings(tmp_path)


# --- Fallbacks are said, once (issue 14 point 6) -------------------------------------------


def test_an_empty_name_falls_back_to_the_login_name_and_says_so(tmp_path):
    settings = resolve_settings(build_parser().parse_args(["--name", "", "--config-dir", str(tmp_path)]))
    assert settings.name and [w for w in settings.warnings if "--name is empty" in w and repr(settings.name) in w]
    quiet = resolve_settings(build_parser().parse_args(["--config-dir", str(tmp_path)]))
    assert quiet.warnings == ()


def test_an_unknown_key_in_config_toml_is_a_warning_on_stderr_once(tmp_path, capsys):
    (tmp_path / "config.toml").write_text('name = "dana"\nkeepalvie = 5\n')
    assert main(["fingerprint", "--config-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("dana  ")
    assert err.count("p2ptui: warning: unknown setting 'keepalvie'") == 1 and "keepalive" in err


def test_the_name_rule_says_the_letters_are_ascii(tmp_path):
    with pytest.raises(UsageError, match="ASCII letters"):
        resolve_settings(build_parser().parse_args(["--name", "zoë", "--config-dir", str(tmp_path)]))


def test_the_launcher_turns_the_collector_back_on_for_every_command_but_the_tui(tmp_path, capsys):
    import gc

    from p2ptui.launch import main as launch

    assert launch(["fingerprint", "--name", "dana", "--config-dir", str(tmp_path)]) == 0
    assert gc.isenabled()


def test_port_mapping_is_on_unless_the_file_turns_it_off(tmp_path):
    assert _settings(tmp_path).node_config().portmap is True
    (tmp_path / "config.toml").write_text("portmap = false\n")
    settings = _settings(tmp_path)
    assert settings.node_config().portmap is False
    assert not [w for w in settings.warnings if "portmap" in w]
    (tmp_path / "config.toml").write_text('portmap = "no"\n')
    with pytest.raises(UsageError, match="bad portmap"):
        _settings(tmp_path)


def test_an_empty_bind_is_a_usage_error_not_the_default(tmp_path):
    # Regression: --bind '' silently meant [::].
    with pytest.raises(UsageError, match="bad --bind"):
        _settings(tmp_path, "--bind", "")
    (tmp_path / "config.toml").write_text('bind = ""\n')
    with pytest.raises(UsageError, match="bad --bind"):
        _settings(tmp_path)
    assert _settings(tmp_path, "--bind", "127.0.0.1").bind == ("127.0.0.1", 0)


def test_the_server_options_defaults_are_the_servers_own_limits():
    # Written out in tui/arguments.py, which must not import the core before the
    # TUI's first frame: this holds the two together.
    from p2ptui.cli import build_parser
    from p2ptui.net import ServerLimits

    args = build_parser().parse_args(["signal-server"])
    limits = ServerLimits()
    assert (args.max_connections, args.max_per_address) == (limits.connections, limits.connections_per_ip)
    assert (args.names_per_key, args.names_per_address) == (limits.new_names_per_key, limits.new_names_per_ip)
    assert args.name_expiry_days == limits.name_expiry_days
