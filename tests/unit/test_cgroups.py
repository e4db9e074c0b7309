"""Cgroups and containers without a kernel: the container id parser on
Tetragon's own examples and on any input, the cgroup records' decoder, the
id -> path map, the process cache's attribution, the export filters, the
`docker` field in Tetragon's JSON, and the policy's cgroup-path option."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.policy_text import errors, lines, policy
from tests.unit.test_decode_and_cache import clone_record, exec_record
from vigil.agent import EventFilter
from vigil.encode.tetragon import RenderOptions, process_json
from vigil.events.model import PROCESS_EXEC, Event
from vigil.kernel.mounts import cgroup2_mount
from vigil.policy import Severity, load_text
from vigil.policy.errors import PolicyError
from vigil.process.cache import ProcessCache
from vigil.process.cgroups import CgroupMap, under
from vigil.process.containers import DOCKER_ID_LEN, container_id
from vigil.process.model import Process
from vigil.sensors.compile import cgroup_scopes
from vigil.wire.decode import CgroupMsg, DecodeError, decode
from vigil.wire.records import (
    CGROUP_FIXED_SIZE,
    CGROUP_NAME_MAX,
    CgroupFlag,
    CgroupRecord,
    CloneRecord,
    ExecRecord,
    Op,
)

ID = "5694f82f44168cc048e014ae14d1b0c8ef673bec49f329dc169911ea638f63c2"

# Tetragon's pkg/sensors/exec/procevents/proc_test.go: each cgroup path (the
# part after "<n>:<controller>:") and the docker field Tetragon makes of it.
TETRAGON_CASES = [
    ("/kubepods/besteffort/pod26ab26cd-6409-443f-a13c-fd6c231207c8/"
     "ae7a1981e064c217035e0b23979c8defd51c850d1af26fbcf148187e5b0da61c",
     "ae7a1981e064c217035e0b23979c8de"),
    ("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podeb052b63_ea96_4728_ab4a_"
     "64ab3babccd7.slice/cri-containerd-5694f82f44168cc048e014ae14d1b0c8ef673bec49f329dc169911"
     "ea638f63c2.scope", "5694f82f44168cc048e014ae14d1b0c"),
    ("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podeb052b63_ea96_4728_ab4a_"
     "64ab3babccd7.slice/docker-5694f82f44168cc048e014ae14d1b0c8ef673bec49f329dc169911ea638f63c2"
     ".scope", "5694f82f44168cc048e014ae14d1b0c"),
    ("/system.slice/docker-ee40841f79d52f66f4958c8a484bd2dfb453228874dcca1a3f2ec6e8420ec87c.scope",
     "ee40841f79d52f66f4958c8a484bd2d"),
    ("/docker/5aaf9eb7648eeb1459d86eaa0ace8bcfa93089642e5c3113a14250dae3238aaf",
     "5aaf9eb7648eeb1459d86eaa0ace8bc"),
    ("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-6fb480da903b96185cd497db69"
     "4641d13534e2b80cf4cb738b6691677146adea.scope/container", "6fb480da903b96185cd497db694641d"),
    ("/machine.slice/libpod-89e89703fbd1e88b72d279d951ce389d3742874205196d73f96e0dcbc0da0659.scope"
     "/container", "89e89703fbd1e88b72d279d951ce389"),
    ("/libpod_parent/libpod-01f3c60cfaadbb51e4d5947dd2ef0480d53551cbcee8f3ada8c3723b2bf03bf4",
     "01f3c60cfaadbb51e4d5947dd2ef048"),
    ("/libpod_parent/conmon", ""),
    ("/system.slice/docker-1b3319ed9c1d4cca681f9c102da9b015555785b6240c4e4619f11b535cabdc07.scope"
     "/init.scope", ""),
    ("/system.slice/docker-1b3319ed9c1d4cca681f9c102da9b015555785b6240c4e4619f11b535cabdc07.scope"
     "/system.slice/containerd.service", ""),
    ("/system.slice/docker-1b3319ed9c1d4cca681f9c102da9b015555785b6240c4e4619f11b535cabdc07.scope"
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podeb653d22_2525_47ca_9fc4_"
     "3762497ae1d2.slice/docker-84e9ffffe97fea4c5a0f01d401611cbafbf7e559fc6190ed74abfc2b25e889d4"
     ".scope", "84e9ffffe97fea4c5a0f01d401611cb"),
    ("/system.slice/docker-94acc75af8cf9c56e10676b0760ed424bec95dadc91f68f6564014686930200e.scope"
     "/kubepods/besteffort/pod13cb8437-00ed-40e4-99d8-e17193a58086/a5a6a3af5d51ad95b915ca948710b9"
     "0a94abc279e84963b9d22a39f342ce67d9", "a5a6a3af5d51ad95b915ca948710b90"),
    ("/system.slice/docker-c1146e7ccca9ab4436abd69923c07d097b37b762ed21cc3f24584c2f84e77c57.scope"
     "/system.slice/kubelet.service", ""),
    ("/system.slice/docker-c1146e7ccca9ab4436abd69923c07d097b37b762ed21cc3f24584c2f84e77c57.scope"
     "/kubelet/kubepods/burstable/pod09a70ae9ccc491e651e5c773579b3490/b0e6aa50e847c3d3b1880e307ec7"
     "996040275c8063832cffc9274defce2cb655", "b0e6aa50e847c3d3b1880e307ec7996"),
    ("/podruntime.slice/containerd.service/kubepods-burstable-pod29349498_197c_4919_b13f_9a928e7d"
     "001b.slice:cri-containerd:0ca2b3cd20e5f55a2bbe8d4aa3f811cf7963b40f0542ad147054b0fcb60fc400",
     "0ca2b3cd20e5f55a2bbe8d4aa3f811c"),
    ("/actions_job/ec5fd62ba68d0b75a3cbdb7f7f78b526440b7969e22b2b362fb6f429ded42fdc",
     "ec5fd62ba68d0b75a3cbdb7f7f78b52"),
    ("/5aaf9eb7648eeb1459d86eaa0ace8bcfa93089642e5c3113a14250dae3238aaf",
     "5aaf9eb7648eeb1459d86eaa0ace8bc"),
    ("", ""),
]


@pytest.mark.parametrize(("path", "docker"), TETRAGON_CASES)
def test_container_id_as_tetragon_reads_it(path: str, docker: str) -> None:
    assert container_id(path) == docker


@pytest.mark.parametrize("path", [
    f"/system.slice/crio-{ID}.scope",  # CRI-O
    f"/machine.slice/libpod-{ID}.scope",  # podman's container, systemd driver
    f"/machine.slice/libpod-conmon-{ID}.scope",  # its monitor: Tetragon names it so too
    f"/system.slice/cri-containerd-{ID}.scope",
    f"/docker/{ID}",
    f"/{ID}",  # runc's default for the cgroupfs driver
])
def test_each_runtime_layout(path: str) -> None:
    assert container_id(path) == ID[:DOCKER_ID_LEN]


@pytest.mark.parametrize("path", [
    "/", "/system.slice", "/user.slice/user-0.slice/session-1.scope",
    "/system.slice/docker.service", f"/system.slice/docker-{ID[:40]}.scope.service",
    f"/kubepods/{ID[:40]}",  # too short for a whole id
])
def test_no_container(path: str) -> None:
    assert container_id(path) == ""


def test_a_service_named_by_a_whole_hex_id_is_one() -> None:
    """Tetragon's "plain docker" rule takes 64 hex digits whatever follows
    them, a ".service" too (only shorter names are refused as services)."""
    assert container_id(f"/system.slice/docker-{ID}.service") == ID[:DOCKER_ID_LEN]


def test_a_name_the_kernel_cut_is_an_id_from_31_characters() -> None:
    """The kernel side reads at most CGROUP_NAME_MAX - 1 bytes of a name:
    one that long may be a longer one cut, as Tetragon assumes."""
    cut = ("x" * 90 + "-" + "a" * 36)[:CGROUP_NAME_MAX - 1]
    assert container_id(cut, from_kernel_name=True) == "a" * DOCKER_ID_LEN
    assert container_id(cut) == ""  # a whole path of that length is what it says
    assert container_id(f"docker-{ID}.scope", from_kernel_name=True) == ID[:DOCKER_ID_LEN]


@given(st.text(max_size=2000))
def test_container_id_of_any_text(path: str) -> None:
    got = container_id(path)
    assert got == "" or (len(got) == DOCKER_ID_LEN and got in path)
    assert container_id(path, from_kernel_name=True) in ("", *[path[i:i + DOCKER_ID_LEN]
                                                               for i in range(len(path))])


@given(st.lists(st.sampled_from(["/", "-", ":", ".scope", "libpod", "container", "service",
                                 "docker", ID[:16], "\x00", "\udcff", "é"]), max_size=60))
def test_container_id_of_odd_pieces(pieces: list[str]) -> None:
    path = "".join(pieces)
    got = container_id(path)
    assert got == "" or (len(got) == DOCKER_ID_LEN and got in path)


def test_container_id_of_a_huge_path_is_linear() -> None:
    huge = "/" + "/".join(["a" * 200] * 50_000) + f"/libpod-{ID}.scope/container"
    assert container_id(huge) == ID[:DOCKER_ID_LEN]
    assert container_id("-" * 5_000_000) == ""
    assert container_id(("/" + ID) * 100_000) == ID[:DOCKER_ID_LEN]


# ---- records ------------------------------------------------------------------------


def cgroup_record(op: int, cid: int, path: bytes, flags: int = 0, level: int = 1) -> bytes:
    r = CgroupRecord()
    r.hdr.op, r.hdr.ktime = op, 77
    r.cgroup_id, r.level, r.path_len, r.flags = cid, level, len(path), flags
    ctypes.memmove(ctypes.addressof(r) + CGROUP_FIXED_SIZE, path, len(path))
    r.hdr.size = CGROUP_FIXED_SIZE + len(path)
    return bytes(r)[:r.hdr.size]


def test_cgroup_records_decode() -> None:
    assert decode(cgroup_record(Op.CGROUP_MKDIR, 42, b"/a/b\xff")) == CgroupMsg(
        int(Op.CGROUP_MKDIR), 77, 42, 1, "/a/b\\xff", 0)
    gone = decode(cgroup_record(Op.CGROUP_RMDIR, 42, b"/a", CgroupFlag.TRUNC_PATH))
    assert isinstance(gone, CgroupMsg) and gone.flags == CgroupFlag.TRUNC_PATH


def test_a_cgroup_record_is_exactly_its_path() -> None:
    rec = bytearray(cgroup_record(Op.CGROUP_MKDIR, 42, b"/abc"))
    rec[CgroupRecord.path_len.offset] = 5  # one byte more than the record has
    with pytest.raises(DecodeError) as err:
        decode(bytes(rec))
    assert err.value.cause == "cgroup_lengths"
    short = bytearray(rec[:20])
    short[4:8] = (20).to_bytes(4, "little")
    with pytest.raises(DecodeError) as err:
        decode(bytes(short))
    assert err.value.cause == "cgroup_short"


@given(st.binary(max_size=CGROUP_FIXED_SIZE + 1100),
       st.sampled_from([int(Op.CGROUP_MKDIR), int(Op.CGROUP_RMDIR)]))
def test_any_cgroup_record_decodes_or_is_refused(body: bytes, op: int) -> None:
    rec = bytearray(body.ljust(16, b"\0"))
    rec[0:2] = op.to_bytes(2, "little")
    rec[4:8] = len(rec).to_bytes(4, "little")
    try:
        msg = decode(bytes(rec))
    except DecodeError as err:
        assert err.cause in ("cgroup_short", "cgroup_lengths")
    else:
        assert isinstance(msg, CgroupMsg)
        assert msg.op == op and len(rec) - CGROUP_FIXED_SIZE == len(
            bytes(rec[CGROUP_FIXED_SIZE:]))


def exec_in(cgroup_id: int, name: bytes, pid: int = 10) -> bytes:
    rec = bytearray(exec_record(pid, 100, 1, 0, b"/bin/true", [b"true"], b"/"))
    r = ExecRecord.from_buffer_copy(bytes(rec).ljust(ctypes.sizeof(ExecRecord), b"\0"))
    r.cgroup_id = cgroup_id
    r.cgroup_name = name
    fixed = bytes(r)[:ExecRecord.filename_len.offset]
    return fixed + bytes(rec[len(fixed):])


# ---- the map and the cache -------------------------------------------------------------


def test_seed_walks_the_hierarchy(tmp_path: Path) -> None:
    (tmp_path / "a" / f"docker-{ID}.scope").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "cgroup.procs").write_text("")  # files are no cgroups
    m = CgroupMap(str(tmp_path))
    assert m.seed() == 4
    paths = {info.path: (ino, info.docker) for ino, info in m.by_id.items()}
    assert paths == {
        "/": (tmp_path.stat().st_ino, ""),
        "/a": ((tmp_path / "a").stat().st_ino, ""),
        f"/a/docker-{ID}.scope": ((tmp_path / "a" / f"docker-{ID}.scope").stat().st_ino,
                                  ID[:DOCKER_ID_LEN]),
        "/b": ((tmp_path / "b").stat().st_ino, ""),
    }
    assert m.id_of("/b") == (tmp_path / "b").stat().st_ino and m.id_of("/nope") is None
    assert CgroupMap(None).seed() == 0


def test_exec_is_named_by_its_cgroup_from_the_map_or_its_name() -> None:
    cache = ProcessCache("node")
    cache.cgroups.made(55, f"/system.slice/docker-{ID}.scope")
    p = cache.add_exec(decode(exec_in(55, b"ignored")))  # type: ignore[arg-type]
    assert (p.cgroup_id, p.cgroup_path, p.docker) == (
        55, f"/system.slice/docker-{ID}.scope", ID[:DOCKER_ID_LEN])
    # Unknown to the map (its mkdir record was lost): the kernel's name only.
    q = cache.add_exec(decode(exec_in(56, f"crio-{ID}.scope".encode(), pid=11)))  # type: ignore[arg-type]
    assert (q.cgroup_id, q.cgroup_path, q.docker) == (56, "", ID[:DOCKER_ID_LEN])
    cache.cgroups.gone(55)
    assert cache.cgroups.get(55) is None and cache.cgroups.removed == 1


def test_a_clone_into_another_cgroup_is_named_by_its_own() -> None:
    cache = ProcessCache("node")
    cache.cgroups.made(55, "/parent")
    cache.cgroups.made(66, f"/docker/{ID}")
    cache.add_exec(decode(exec_in(55, b"parent")))  # type: ignore[arg-type]
    rec = bytearray(clone_record(12, 200, 10, 100))
    r = CloneRecord.from_buffer(rec)
    r.cgroup_id = 55
    same = cache.add_clone(decode(bytes(rec)))  # type: ignore[arg-type]
    assert same is not None and (same.cgroup_id, same.cgroup_path) == (55, "/parent")
    r.key.pid, r.cgroup_id = 13, 66  # clone3(CLONE_INTO_CGROUP)
    moved = cache.add_clone(decode(bytes(rec)))  # type: ignore[arg-type]
    assert moved is not None
    assert (moved.cgroup_id, moved.cgroup_path, moved.docker) == (
        66, f"/docker/{ID}", ID[:DOCKER_ID_LEN])


def test_cgroup2_mount_from_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "41 31 0:38 /inner /elsewhere rw - cgroup2 cgroup2 rw\n"
        "42 31 0:38 / /sys/fs/cgroup/unified\\040x rw,relatime - cgroup2 cgroup2 rw\n")
    assert cgroup2_mount(str(info)) == "/sys/fs/cgroup/unified x"
    info.write_text("30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")
    assert cgroup2_mount(str(info)) is None
    assert cgroup2_mount(str(tmp_path / "none")) is None


def test_under_takes_whole_components() -> None:
    assert under("/a/b", "/a") and under("/a", "/a/") and under("/a", "/")
    assert not under("/ab", "/a") and not under("/", "/a")


# ---- output and filters -----------------------------------------------------------------


def proc(docker: str = "", cgroup_path: str = "") -> Process:
    return Process(key=(1, 1), exec_id="x", pid=1, tid=1, binary="/bin/true", arguments="",
                   cwd="/", flags=1, start_time="t", docker=docker, cgroup_path=cgroup_path)


def test_docker_field_in_tetragons_order() -> None:
    out = process_json(proc(docker=ID[:31]), RenderOptions(node_name="n"))
    keys = list(out)
    assert out["docker"] == ID[:31]
    assert keys.index("auid") + 1 == keys.index("docker")  # Process: auid 9, docker 11
    assert "docker" not in process_json(proc(), RenderOptions(node_name="n"))


def test_container_and_cgroup_filters() -> None:
    def ev(p: Process) -> Event:
        return Event(kind=PROCESS_EXEC, time_ns=0, process=p)

    by_id = EventFilter(container_ids=(re.compile("^5694f"), re.compile("beef")))
    assert by_id(ev(proc(docker=ID[:31])))
    assert not by_id(ev(proc(docker="0" * 31))) and not by_id(ev(proc()))
    by_cgroup = EventFilter(cgroups=("/kubepods.slice",))
    assert by_cgroup(ev(proc(cgroup_path="/kubepods.slice/x")))
    assert not by_cgroup(ev(proc(cgroup_path="/kubepods.slicex")))
    assert not by_cgroup(ev(proc()))  # a cgroup known only by name is in no subtree


# ---- policies ------------------------------------------------------------------------


def test_cgroup_path_option_values() -> None:
    spec = """
        options:
        - {name: cgroup-path, value: /sys/fs/cgroup/unified/a}
        - {name: cgroup-path, value: system.slice}
        - {name: cgroup-path, value: /a/../b}
        - {name: cgroup-path, value: /kubepods.slice}
        tracepoints:
        - {subsystem: syscalls, event: sys_enter_openat}
    """
    where = ("from the cgroup v2 hierarchy's root, as /proc/<pid>/cgroup shows it after '0::' "
             "(e.g. /system.slice/docker-<id>.scope)")
    assert errors(spec) == [
        f"7:32: spec.options[0].value: '/sys/fs/cgroup/unified/a' is a path of the mount; "
        f"name the cgroup {where}",
        f"8:32: spec.options[1].value: 'system.slice' is not a cgroup path; write it {where}",
        f"9:32: spec.options[2].value: '/a/../b' has a '.' or '..' component; write the "
        f"cgroup's own path {where}",
    ]
    assert lines(policy(spec), Severity.WARNING) == []


def test_at_most_eight_cgroup_subtrees() -> None:
    spec = "options:\n" + "".join(f"- {{name: cgroup-path, value: /c{i}}}\n" for i in range(9))
    assert errors(spec) == [
        "15:32: spec.options[8].value: cgroup-path 9: a policy is scoped to at most 8 cgroup "
        "subtrees; scope it to a common parent"]


@pytest.mark.parametrize("field", ["podSelector", "containerSelector"])
def test_kubernetes_selectors_are_refused_saying_what_instead(field: str) -> None:
    text = policy(f"""
        {field}:
          matchLabels: {{app: web}}
        tracepoints:
        - {{subsystem: syscalls, event: sys_enter_openat}}
    """)
    assert lines(text, Severity.UNSUPPORTED) == [
        f"6:3: spec.{field}: the Kubernetes API is not supported: vigil watches no pods or "
        "containers' labels, so it cannot tell which processes this selects; scope the policy "
        "to the cgroup subtree of those pods or containers instead, with spec.options "
        "{name: cgroup-path, value: /kubepods.slice/...} (docs/cgroups.md)"]


def test_a_scope_must_exist_when_the_policy_loads(tmp_path: Path) -> None:
    (tmp_path / "there").mkdir()
    text = policy("""
        options:
        - {name: cgroup-path, value: /there/}
        - {name: cgroup-path, value: /missing}
        tracepoints:
        - {subsystem: syscalls, event: sys_enter_openat}
    """)
    (loaded,) = load_text(text, "p.yaml")
    def works(name: str) -> tuple[bool, str]:
        return True, "probed"

    with pytest.raises(PolicyError) as err:
        cgroup_scopes(loaded, mount=str(tmp_path), feature=works)
    assert [str(i) for i in err.value.issues] == [
        f"p.yaml:8:32: spec.options[1].value: no cgroup /missing (no directory "
        f"{tmp_path}/missing); scope the policy to a cgroup that exists when it loads "
        "(cgroups made below it later are covered)"]
    (tmp_path / "missing").mkdir()
    assert cgroup_scopes(loaded, mount=str(tmp_path), feature=works) == ("/there", "/missing")
    with pytest.raises(PolicyError) as err:
        cgroup_scopes(loaded, mount=str(tmp_path), feature=lambda name: (False, "no helper"))
    assert str(err.value.issues[0]).startswith(
        "p.yaml:7:32: spec.options[0].value: this kernel cannot scope a policy to a cgroup "
        "(no helper); drop the option, or run on a kernel where `vigil probe` finds "
        "task_under_cgroup")


def test_ids_of_either_case_as_gos_hex_decoder_takes() -> None:
    upper = ID.upper()
    assert container_id("/" + upper) == upper[:DOCKER_ID_LEN]
    # and, as Tetragon, any other name of 64 characters or more: not only hex
    assert container_id("/" + "g" * 64) == "g" * DOCKER_ID_LEN
