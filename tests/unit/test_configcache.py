"""The validated-config cache: served only while nothing it depends on changed."""

from __future__ import annotations

import os

import pytest

from cgmand import config, configcache
from cgmand.errors import ConfigErrors

WEB = '[manager]\nroot = "/x"\n[group."web"]\ncpu.weight = 200\ncpuset.cpus = "0-3"\ncpu.max = "max"\n' \
      'io.max = "8:0 rbps=1M"\n[group."web".perm]\nadmin = { uid = 0, fperm = "0664" }\n'


@pytest.fixture(name="dirs")
def _dirs(tmp_path, monkeypatch):
    """A config directory and a cache directory; files count as settled at once."""
    monkeypatch.setattr(configcache, "SETTLE_NS", 0)
    conf, cache = tmp_path / "conf", tmp_path / "run"
    conf.mkdir()
    (conf / "10-web.toml").write_text(WEB)
    return str(conf), str(cache)


def test_cached_state_equals_the_parsed_one(dirs):
    """A round trip through the cache gives exactly the DesiredState a parse gives."""
    conf, cache = dirs
    first = configcache.load(conf, cache)
    assert os.path.exists(os.path.join(cache, "config.cache"))
    assert configcache.load(conf, cache) == first == config.load(conf)


def test_a_current_cache_is_served_without_parsing(dirs):
    """With a matching key the cache's content is returned as is (proof: a planted state)."""
    conf, cache = dirs
    other = config.parse('[group."planted"]\npids.max = 5\n', "x.toml")
    planted = config.merge([other])
    configcache._write(os.path.join(cache, "config.cache"), (configcache.key(conf), configcache._to_data(planted)))
    assert list(configcache.load(conf, cache).groups) == ["planted"]


def test_an_edited_file_invalidates_the_cache(dirs):
    """Changing a file (size or times) means a fresh parse."""
    conf, cache = dirs
    configcache.load(conf, cache)
    with open(os.path.join(conf, "10-web.toml"), "a") as handle:
        handle.write('[group."batch"]\ncpu.weight = 50\n')
    assert list(configcache.load(conf, cache).groups) == ["web", "batch"]


def test_a_new_file_invalidates_the_cache(dirs):
    """Adding a drop-in means a fresh parse."""
    conf, cache = dirs
    configcache.load(conf, cache)
    with open(os.path.join(conf, "20-more.toml"), "w") as handle:
        handle.write('[group."more"]\npids.max = 9\n')
    assert set(configcache.load(conf, cache).groups) == {"web", "more"}


def test_invalid_configs_are_never_cached(dirs):
    """A bad config raises every time and leaves no cache behind."""
    conf, cache = dirs
    with open(os.path.join(conf, "20-bad.toml"), "w") as handle:
        handle.write('[group."bad"]\ncpu.weight = 0\n')
    for _ in range(2):
        with pytest.raises(ConfigErrors):
            configcache.load(conf, cache)
    assert not os.path.exists(os.path.join(cache, "config.cache"))


def test_a_cache_others_can_write_is_ignored(dirs):
    """A group/world-writable cache file is not trusted."""
    conf, cache = dirs
    other = config.merge([config.parse('[group."planted"]\npids.max = 5\n', "x.toml")])
    path = os.path.join(cache, "config.cache")
    configcache._write(path, (configcache.key(conf), configcache._to_data(other)))
    os.chmod(path, 0o666)
    assert list(configcache.load(conf, cache).groups) == ["web"]


def test_a_corrupt_cache_is_ignored(dirs):
    """Garbage in the cache file means a parse, not a crash."""
    conf, cache = dirs
    os.makedirs(cache)
    with open(os.path.join(cache, "config.cache"), "wb") as handle:
        handle.write(b"\x00garbage")
    assert list(configcache.load(conf, cache).groups) == ["web"]


def test_a_file_changed_seconds_ago_is_not_cached(dirs, monkeypatch):
    """Within a timestamp tick two same-size edits look alike: a just-written file is parsed, not cached."""
    conf, cache = dirs
    monkeypatch.setattr(configcache, "SETTLE_NS", 60 * 10**9)
    assert list(configcache.load(conf, cache).groups) == ["web"]
    assert not os.path.exists(os.path.join(cache, "config.cache"))
