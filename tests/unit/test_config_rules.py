"""[[rule]] and [template] tables in the configuration files: read with the groups, checked
across files (a rule's place must name a declared group or template), ordered, and kept by the
config cache like the rest."""

from __future__ import annotations

import pytest

from cgmand import config, configcache
from cgmand.errors import ConfigErrors
from cgmand.roots import Roots

GROUPS = '[group."batch"]\ncpu.weight = 50\n[group."web"]\ncpu.weight = 200\n'


def load(tmp_path, **files):
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    for name, text in files.items():
        (conf / f"{name}.toml").write_text(text)
    return config.load(str(conf))


def errors(tmp_path, **files):
    with pytest.raises(ConfigErrors) as caught:
        load(tmp_path, **files)
    return [e.render() for e in caught.value.errors]


def test_rules_from_every_file_in_one_order(tmp_path):
    state = load(tmp_path, a=GROUPS + '[[rule]]\nname = "late"\ncomm = "x"\nplace = "batch"\n'
                                      '[[rule]]\nname = "urgent"\npriority = 5\ncomm = "y"\nplace = "web"\n',
                 b='[[rule]]\nname = "b-first"\ncomm = "z"\nignore = true\n'
                   '[template."batch/%u"]\ncpu.weight = 20\n'
                   '[[rule]]\nname = "per-user"\nuser = "root"\nplace = "batch/%u"\n')
    assert [r.name for r in state.rules] == ["urgent", "late", "b-first", "per-user"]
    assert dict(state.templates["batch/%u"].settings) == {"cpu.weight": 20}


def test_a_place_must_name_a_declared_group_or_template(tmp_path):
    found = errors(tmp_path, a=GROUPS + '[[rule]]\nname = "r"\ncomm = "x"\nplace = "nowhere"\n'
                                        '[[rule]]\nname = "t"\ncomm = "x"\nplace = "batch/%g"\n')
    assert any('rule[0].place: place = "nowhere" names no declared group' in e for e in found)
    assert any('rule[1].place: place = "batch/%g" names no template' in e for e in found)


def test_rule_names_are_unique_across_files(tmp_path):
    found = errors(tmp_path, a=GROUPS + '[[rule]]\nname = "r"\ncomm = "x"\nplace = "web"\n',
                   b='[[rule]]\nname = "r"\ncomm = "y"\nignore = true\n')
    assert any('b.toml: rule[0].name: rule name "r" is used twice: also' in e and "a.toml: rule[0]" in e
               for e in found), found


@pytest.mark.parametrize("name, message", [
    ("batch", "a template's name is a group pattern with %u"),
    ("batch/%x", "a template's name is a group pattern with %u"),
    ("../%u", "invalid group pattern"),
])
def test_bad_template_names(tmp_path, name, message):
    found = errors(tmp_path, a=f'[template."{name}"]\ncpu.weight = 1\n')
    assert any(f'template."{name}"' in e and message in e for e in found), found


def test_a_bad_rule_leaves_the_verbs_a_partial_configuration(tmp_path):
    """A mistake in a rule does not touch [manager]: the verbs go on (cgmand does not)."""
    with pytest.raises(ConfigErrors) as caught:
        load(tmp_path, a='[manager]\nroot = "/r"\n' + GROUPS + '[[rule]]\nname = "r"\ncomn = "x"\nplace = "web"\n')
    assert caught.value.partial is not None and caught.value.partial.manager.root == "/r"


def test_the_cache_keeps_rules_and_templates(tmp_path, monkeypatch):
    monkeypatch.setattr(configcache, "SETTLE_NS", 0)  # a file's ctime cannot be set back
    load(tmp_path, a=GROUPS + '[template."batch/%u"]\ncpu.weight = 20\n'
                              '[[rule]]\nname = "r"\ncmdline = "^java .*Node"\nplace = "batch/%u"\n')
    roots = Roots(config_dir=str(tmp_path / "conf"), run_root=str(tmp_path))
    first = configcache.load(roots.config_dir, str(tmp_path / "cache"))
    second = configcache.load(roots.config_dir, str(tmp_path / "cache"))  # from the cache
    assert (tmp_path / "cache" / "config.cache").exists()
    assert [(r.name, r.place, r.match["cmdline"][0].text) for r in second.rules] == \
        [(r.name, r.place, r.match["cmdline"][0].text) for r in first.rules] == [("r", "batch/%u", "^java .*Node")]
    assert second.rules[0].match["cmdline"][0].regex.search("java -cp x Node") is not None
    assert dict(second.templates["batch/%u"].settings) == {"cpu.weight": 20}
