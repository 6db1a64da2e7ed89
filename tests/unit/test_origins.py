"""origins.py: which kind of place a process's cgroup is (origin) and whether a rule
may take a process from it (allowed). Pure: tables of paths and flags."""

from __future__ import annotations

import pytest

from cgmand import origins, rules
from cgmand.origins import allowed, origin

BASE = "/cgman"
SERVICE_BASE = "/cgman.slice/cgman-groups.service"  # cgman's own tree that looks like a service

SESSION = "/user.slice/user-1000.slice/session-3.scope"
USER_APP = "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service"


# (cgroup, base, systemd, container) -> kind
CASES = [
    # cgman's own tree wins over everything: systemd, a service-looking path, a container
    ("/cgman", BASE, True, False, "cgman"),
    ("/cgman/web", BASE, True, False, "cgman"),
    ("/cgman/web/deep/er", BASE, False, False, "cgman"),
    ("/cgman/web", BASE + "/", True, False, "cgman"),  # a base given with a trailing slash
    ("/cgman/web", BASE, True, True, "cgman"),  # a container's process already in cgman's tree
    (SERVICE_BASE, SERVICE_BASE, True, False, "cgman"),  # the base itself, though named *.service
    (SERVICE_BASE + "/web", SERVICE_BASE, True, False, "cgman"),
    (SERVICE_BASE + "/web", SERVICE_BASE, True, True, "cgman"),
    # a sibling whose name merely starts with the base is not cgman's
    ("/cgmanx", BASE, False, False, "free"),
    ("/cgman.slice/other.service", BASE, True, False, "services"),
    ("/cgman.slice/cgman-groups.service2", SERVICE_BASE, True, False, "delegated"),
    # containers: anything outside cgman's tree in another pid namespace
    ("/system.slice/docker-abc.scope", BASE, True, True, "containers"),
    (SESSION, BASE, True, True, "containers"),
    ("/lxc/c1", BASE, False, True, "containers"),
    # no systemd: everything else is free, whatever it looks like
    ("/", BASE, False, False, "free"),
    ("/system.slice/nginx.service", BASE, False, False, "free"),
    (SESSION, BASE, False, False, "free"),
    ("/init.scope", BASE, False, False, "free"),
    # under systemd
    (SESSION, BASE, True, False, "session"),
    (SESSION + "/sub", BASE, True, False, "session"),
    ("/user.slice/user-1000.slice/session-c12.scope", BASE, True, False, "session"),
    (SESSION + "X", BASE, True, False, "delegated"),  # not a .scope
    ("/user.slice/user-1000.slice/user@1000.service", BASE, True, False, "user-managers"),
    (USER_APP, BASE, True, False, "user-managers"),  # a service, but inside a user manager
    ("/user.slice/user-1000.slice/user@1000.service/session.slice/dbus.service", BASE, True, False,
     "user-managers"),
    ("/system.slice/nginx.service", BASE, True, False, "services"),
    ("/system.slice/nginx.service/sub", BASE, True, False, "services"),
    ("/system.slice/system-getty.slice/getty@tty1.service", BASE, True, False, "services"),
    ("/user.slice/user-1000.slice/user-runtime-dir@1000.service", BASE, True, False, "services"),
    ("/system.slice/nginx.service.d", BASE, True, False, "delegated"),  # ".service" must end a segment
    ("/init.scope", BASE, True, False, "delegated"),
    ("/machine.slice/machine-x.scope", BASE, True, False, "delegated"),
    ("/", BASE, True, False, "delegated"),
    ("/user.slice", BASE, True, False, "delegated"),
    ("/user.slice/user-1000.slice", BASE, True, False, "delegated"),
    ("/system.slice", BASE, True, False, "delegated"),
]


@pytest.mark.parametrize("cgroup, base, systemd, container, kind", CASES)
def test_origin(cgroup, base, systemd, container, kind):
    assert origin(cgroup, base, systemd, container) == kind


# A base of "/" (or "") would contain every cgroup: it must claim none of them.
ROOT_BASE_CASES = [
    ("/", True, False, "delegated"),
    ("/", False, False, "free"),
    ("/system.slice/nginx.service", True, False, "services"),
    (SESSION, True, False, "session"),
    ("/anything", False, False, "free"),
    ("/anything", True, True, "containers"),
]


@pytest.mark.parametrize("base", ["/", ""])
@pytest.mark.parametrize("cgroup, systemd, container, kind", ROOT_BASE_CASES)
def test_a_root_base_claims_nothing(cgroup, systemd, container, kind, base):
    assert origin(cgroup, base, systemd, container) == kind


def test_every_kind_origin_returns_is_a_default_or_a_rule_origin():
    """allowed() compares origin()'s kind with the names rules.py accepts in ``origins``:
    a kind spelled differently could never be allowed."""
    kinds = {origin(c, b, s, k) for c, b, s, k, _ in CASES}
    assert kinds == {"cgman", "containers", "free", "session", "user-managers", "services", "delegated"}
    for kind in kinds:
        assert kind in origins.DEFAULT or kind in rules.ORIGINS, kind


# --- allowed ---------------------------------------------------------------------------------

DEFAULTS = ("cgman", "session", "free")
OTHERS = ("services", "user-managers", "containers", "delegated")


@pytest.mark.parametrize("extra", [(), ("services",), ("anywhere",), ["delegated", "containers"]])
@pytest.mark.parametrize("kind", DEFAULTS)
def test_the_defaults_are_always_allowed(kind, extra):
    assert allowed(kind, extra) is True


@pytest.mark.parametrize("kind", OTHERS)
def test_other_kinds_are_refused_without_origins(kind):
    assert allowed(kind, ()) is False
    assert allowed(kind, []) is False


@pytest.mark.parametrize("kind", OTHERS)
def test_other_kinds_are_allowed_when_listed(kind):
    assert allowed(kind, (kind,)) is True
    assert allowed(kind, ["session", kind]) is True


@pytest.mark.parametrize("kind", OTHERS)
def test_other_kinds_are_refused_when_only_other_origins_are_listed(kind):
    rest = tuple(k for k in OTHERS if k != kind)
    assert allowed(kind, rest) is False


@pytest.mark.parametrize("kind", OTHERS)
def test_anywhere_allows_every_kind(kind):
    assert allowed(kind, ("anywhere",)) is True
    assert allowed(kind, ("services", "anywhere")) is True


def test_default_tuple_is_exactly_the_documented_three():
    assert set(origins.DEFAULT) == set(DEFAULTS)
